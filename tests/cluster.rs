//! Several workers share a site through a Kafka consumer group on the real test broker:
//! worker processes (`squint run`), cameras served over RTSP on 127.0.0.1, the cameras topic
//! edited with `squint cameras`. Needs the test broker (scripts/test.sh).
//!
//! The test broker's group coordinator completes a JoinGroup round without waiting for
//! every live member, so during a rebalance it can give a partition still held by one member
//! to another, and it reshuffles more than the cooperative-sticky assignor would (see
//! README, "Running on several machines"). What depends on a correct coordinator — never a
//! camera on two workers, a joining worker moving nobody else's cameras — is checked on
//! librdkafka's mock cluster in `cluster_group.rs`; this file checks the rest end to end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use squint::bench::failover::{Site, each_streams_once, holders};
use squint::gallery::Gallery;
use squint::serve::RtspServer;
use squint::testing;

mod common;
use common::scene::{generate_scene, person, read_json};
use common::squint;

const SESSION_TIMEOUT_S: f64 = 6.0;
const CAMERAS: usize = 6;
const RELOAD_S: f64 = 0.5;

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn test_broker() -> String {
    std::env::var("SQUINT_TEST_KAFKA")
        .expect("SQUINT_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts the test broker")
}

#[derive(Clone)]
struct Names {
    group: String,
    cameras_topic: String,
    gallery_topic: String,
    events_topic: String,
}

/// A worker's config: the site's broker and gallery topic, its own state folder, gallery
/// file and HTTP port.
fn write_worker_config(dir: &Path, names: &Names, id: &str, http: SocketAddr) -> PathBuf {
    let text = format!(
        r#"{base}[detect]
min_face_px = 20
[recognize]
threads = 1
[gallery]
path = "{dir}/{id}/gallery.db"
reload_s = {RELOAD_S}
[kafka]
brokers = "{broker}"
topic = "{events}"
alert_topic = "{events}.alerts"
[http]
address = "{http}"
[cluster]
group = "{group}"
worker_id = "{id}"
cameras_topic = "{cameras}"
gallery_topic = "{gallery}"
partitions = 12
session_timeout_s = {SESSION_TIMEOUT_S}
stop_timeout_s = 5
"#,
        base = testing::base_config(&dir.join(id)),
        dir = dir.display(),
        broker = test_broker(),
        events = names.events_topic,
        group = names.group,
        cameras = names.cameras_topic,
        gallery = names.gallery_topic,
    );
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `text` without the ANSI colour codes of the workers' logs.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs of consecutive events (by capture time) from one worker, per camera.
fn runs_per_camera(events: &[serde_json::Value]) -> BTreeMap<String, Vec<(String, u64, u64)>> {
    let mut by_camera: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for event in events {
        let camera = event["camera_id"].as_str().unwrap().to_string();
        let worker = event["worker_id"]
            .as_str()
            .expect("every event names its worker")
            .to_string();
        by_camera
            .entry(camera)
            .or_default()
            .push((event["captured_at_ms"].as_u64().unwrap(), worker));
    }
    by_camera
        .into_iter()
        .map(|(camera, mut seen)| {
            seen.sort();
            let mut runs: Vec<(String, u64, u64)> = Vec::new();
            for (at, worker) in seen {
                match runs.last_mut() {
                    Some((w, _, last)) if *w == worker => *last = at,
                    _ => runs.push((worker, at, at)),
                }
            }
            (camera, runs)
        })
        .collect()
}

#[test]
fn workers_share_the_cameras_and_one_gallery_take_over_a_stopped_ones_and_stop_removed_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    generate_scene(dir, vec![person("obama", "obama.jpg")], 150, (32.0, 48.0), 2, 5);
    let servers: Vec<RtspServer> = (1..=CAMERAS)
        .map(|i| RtspServer::start(&dir.join("scene.mp4"), 0, &format!("/cam{i}")).unwrap())
        .collect();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let names = Names {
        group: format!("squint-test-{run}"),
        cameras_topic: format!("squint.test.{run}.cameras"),
        gallery_topic: format!("squint.test.{run}.gallery"),
        events_topic: format!("squint.test.{run}.identity"),
    };
    let cameras: Vec<String> = (1..=CAMERAS).map(|i| format!("cam{i}")).collect();
    let mut file = String::new();
    for (id, server) in cameras.iter().zip(&servers) {
        file.push_str(&format!(
            "[[cameras]]\nid = \"{id}\"\nurl = \"{}\"\nmax_fps = 5\n",
            server.url()
        ));
    }
    std::fs::write(dir.join("cameras.toml"), file).unwrap();
    let config = |id: &str| dir.join(format!("{id}.toml"));
    write_worker_config(dir, &names, "admin", "127.0.0.1:9".parse().unwrap());
    let admin = config("admin");
    let admin = admin.to_str().unwrap();
    let cameras_file = dir.join("cameras.toml");
    let (ok, out, err) = squint(&["cameras", "--config", admin, "put", cameras_file.to_str().unwrap()]);
    assert!(ok, "cameras put: {out}{err}");
    let (ok, listed, err) = squint(&["cameras", "--config", admin, "list"]);
    assert!(ok, "{err}");
    assert_eq!(listed.lines().count(), CAMERAS, "{listed}");
    // The site's gallery starts with Biden only; Obama (in every scene) is enrolled later.
    let site_gallery = dir.join("site-gallery.db");
    let site_gallery = site_gallery.to_str().unwrap();
    let enroll = |name: &str, photo: &str| {
        let photo = testing::photo(photo);
        let args = [
            "enroll",
            "--gallery",
            site_gallery,
            "--config",
            admin,
            "--name",
            name,
            photo.to_str().unwrap(),
        ];
        let (ok, out, err) = squint(&args);
        assert!(ok && out.contains("published to"), "enroll {name}: {out}{err}");
    };
    enroll("biden", "biden.jpg");

    let logs = dir.to_path_buf();
    let worker_dir = dir.to_path_buf();
    let worker_names = names.clone();
    let mut site = Site::new(
        Path::new(env!("CARGO_BIN_EXE_squint")),
        &logs,
        Box::new(move |id, http| Ok(write_worker_config(&worker_dir, &worker_names, id, http))),
    );
    for id in ["w1", "w2", "w3"] {
        site.start(id).unwrap();
    }
    let log_tail =
        |id: &str| without_colours(&std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap_or_default());
    let quiet = Duration::from_secs_f64(SESSION_TIMEOUT_S);
    let settled = site.wait_settled(Duration::from_secs(150), quiet, &cameras);
    assert!(
        settled.is_some(),
        "the cameras never ran once each: {:?}\n{}",
        site.holdings(),
        log_tail("w1")
    );
    let before = holders(&site.holdings());
    let metrics = site.get("w1", "/metrics").unwrap_or_default();
    let held_by_w1 = before.values().filter(|w| *w == "w1").count();
    assert!(
        metrics.contains(&format!(
            "squint_cluster_member{{group=\"{}\",worker_id=\"w1\",state=\"stable\"}} 1",
            names.group
        )) && metrics.contains(&format!("squint_cluster_cameras {held_by_w1}\n")),
        "{metrics}"
    );
    let used: std::collections::BTreeSet<&String> = before.values().collect();
    assert!(used.len() >= 2, "cameras were not shared out: {before:?}\n{listed}");

    // Enrolled through the gallery topic: every worker's gallery has Obama within
    // reload_s + 2 s (its matcher reloads within reload_s of the file changing), and a
    // tombstone removes him everywhere.
    let has = |worker: &str, name: &str| {
        let path = dir.join(worker).join("gallery.db");
        Gallery::open_read_only(&path).is_ok_and(|g| g.list().is_ok_and(|l| l.iter().any(|i| i.name == name)))
    };
    assert!(
        ["w1", "w2", "w3"].iter().all(|w| has(w, "biden")),
        "workers start from the site's gallery"
    );
    let enrolled_at = now_ms();
    enroll("obama", "obama2.jpg");
    let published = std::time::Instant::now();
    let limit = Duration::from_secs_f64(RELOAD_S + 2.0);
    let everywhere = common::wait_until(limit, || ["w1", "w2", "w3"].iter().all(|w| has(w, "obama")));
    assert!(everywhere, "obama not in every worker's gallery within {limit:?}");
    println!(
        "gallery topic: obama in all three galleries {:?} after `squint enroll` returned",
        published.elapsed()
    );
    std::thread::sleep(Duration::from_secs(10)); // Obama walks through every scene in 6 s
    let (ok, out, err) = squint(&[
        "gallery",
        "--gallery",
        site_gallery,
        "--config",
        admin,
        "remove",
        "obama",
    ]);
    assert!(ok, "gallery remove: {out}{err}");
    let removed_at = now_ms();
    let gone = common::wait_until(limit, || ["w1", "w2", "w3"].iter().all(|w| !has(w, "obama")));
    assert!(gone, "obama still in a worker's gallery {limit:?} after the tombstone");

    // A new worker is given cameras; once settled, each camera again runs exactly once.
    site.start("w4").unwrap();
    let joined = site.wait_for(Duration::from_secs(90), |h| {
        h.get("w4").is_some_and(|w| !w.cameras.is_empty())
    });
    assert!(
        joined.is_some(),
        "w4 got no camera: {:?}\n{}",
        site.holdings(),
        log_tail("w4")
    );
    assert!(
        site.wait_settled(Duration::from_secs(90), quiet, &cameras).is_some(),
        "not settled after w4 joined: {:?}",
        site.holdings()
    );

    // The busiest worker is stopped (SIGTERM): it stops each of its cameras cleanly, leaves
    // the group, and they run again on the others. This coordinator needs several JoinGroup
    // rounds for that (8-14 s seen, against ~2.5 s of Squint's own: stopping, reading the
    // partition, starting), so the bound here is 30 s; the session-timeout bar for a SIGKILL
    // is asserted on the mock cluster (cluster_group.rs) and measured on this broker by
    // `squint bench-failover` (README, "Running on several machines").
    let (victim, held) = site
        .holdings()
        .into_iter()
        .max_by_key(|(_, h)| h.cameras.len())
        .map(|(id, h)| (id, h.cameras.into_keys().collect::<Vec<_>>()))
        .unwrap();
    let stopping = std::time::Instant::now();
    assert!(
        site.stop(&victim),
        "{victim} did not exit on SIGTERM\n{}",
        log_tail(&victim)
    );
    let failover = site.wait_for(Duration::from_secs(60), |h| each_streams_once(h, &cameras));
    let group_log = || {
        let mut out = String::new();
        for id in ["w1", "w2", "w3", "w4"] {
            let lines: Vec<String> = log_tail(id)
                .lines()
                .filter(|l| l.contains("partitions") || l.contains("camera"))
                .map(String::from)
                .collect();
            out.push_str(&format!(
                "--- {id}\n{}\n",
                lines[lines.len().saturating_sub(20)..].join("\n")
            ));
        }
        out
    };
    assert!(
        failover.is_some(),
        "{held:?} of {victim} never ran again: {:?}\n{}",
        site.holdings(),
        group_log()
    );
    let moved_in = stopping.elapsed();
    println!("{held:?} of {victim} streaming elsewhere {moved_in:?} after SIGTERM");
    assert!(
        moved_in.as_secs_f64() <= 30.0,
        "{held:?} took {moved_in:?} to move\n{}",
        group_log()
    );
    let victim_log = log_tail(&victim);
    for camera in &held {
        assert!(
            victim_log.contains(&format!("camera stopped camera={camera} drained=true")),
            "{camera} not stopped cleanly by {victim}:\n{victim_log}"
        );
    }

    // A camera removed from the topic stops wherever it runs.
    let (ok, out, err) = squint(&["cameras", "--config", admin, "rm", "cam6"]);
    assert!(ok, "cameras rm: {out}{err}");
    let stopped = site.wait_for(Duration::from_secs(15), |h| {
        h.values().all(|w| !w.cameras.contains_key("cam6"))
    });
    assert!(stopped.is_some(), "cam6 still runs: {:?}", site.holdings());
    let (ok, _, err) = squint(&["cameras", "--config", admin, "rm", "cam-none"]);
    assert!(
        !ok && err.contains("cam-none") && err.contains("squint cameras list"),
        "{err}"
    );

    for id in site.workers() {
        site.stop(&id);
    }

    // `squint cameras list` never shows a camera's password.
    let secret_file = dir.join("secret.toml");
    std::fs::write(
        &secret_file,
        "[[cameras]]\nid = \"vault\"\nurl = \"rtsp://admin:vault-pw-93@127.0.0.1:9/v\"\n",
    )
    .unwrap();
    let (ok, out, err) = squint(&["cameras", "--config", admin, "put", secret_file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, listed, err) = squint(&["cameras", "--config", admin, "list", "--json"]);
    assert!(
        ok && listed.contains("\"vault\"") && !listed.contains("vault-pw-93"),
        "{listed}{err}"
    );

    // The events: every one names its worker, the cameras ran on several workers, and the
    // killed worker's cameras went on elsewhere.
    let events = read_json(&test_broker(), &names.events_topic, "identity-event.v3.json");
    let runs = runs_per_camera(&events);
    assert_eq!(runs.len(), CAMERAS, "events from every camera: {:?}", runs.keys());
    let workers: std::collections::BTreeSet<&String> = runs.values().flatten().map(|r| &r.0).collect();
    assert!(workers.len() >= 3, "events from {workers:?}");
    // Each worker that ran cameras while Obama was enrolled named him, and nobody did once
    // the tombstone had been applied and the matchers reloaded.
    let reload_ms = ((RELOAD_S + 2.0) * 1000.0) as u128;
    for worker in used {
        let named = events.iter().any(|e| {
            e["worker_id"] == worker.as_str()
                && e["identity"] == "obama"
                && (enrolled_at..removed_at + reload_ms).contains(&u128::from(e["captured_at_ms"].as_u64().unwrap()))
        });
        assert!(named, "{worker} never named obama while he was enrolled");
    }
    let late = events
        .iter()
        .filter(|e| {
            e["identity"] == "obama" && u128::from(e["captured_at_ms"].as_u64().unwrap()) > removed_at + reload_ms
        })
        .count();
    assert_eq!(late, 0, "obama named after his removal reached every worker");
    let early = events
        .iter()
        .filter(|e| e["identity"] == "obama" && u128::from(e["captured_at_ms"].as_u64().unwrap()) < enrolled_at)
        .count();
    assert_eq!(early, 0, "obama named before he was enrolled");
    for camera in &held {
        let last = runs[camera].last().unwrap();
        assert_ne!(
            last.0, victim,
            "{camera}: no events after {victim} was killed: {:?}",
            runs[camera]
        );
    }
    drop(servers);
}
