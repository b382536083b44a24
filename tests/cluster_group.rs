//! The consumer-group side of `[cluster]` on librdkafka's mock cluster, for the parts the
//! test broker's group coordinator gets wrong (it completes a JoinGroup round without every
//! live member, so two members can be given one partition; see README, "Running on several
//! machines"). Member processes run `Membership` with a control that only reports what it is
//! told; this test kills them with SIGKILL and checks that no camera ever runs twice, that a
//! joining member takes cameras without stopping the others', and the failover time.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::mocking::MockCluster;
use squint::cluster::{CameraControl, CamerasTopic, ClusterConfig, Membership};
use squint::ingest::CameraConfig;
use squint::publish::KafkaConfig;

/// The mock coordinator waits `session - 1 s` for members to rejoin after one times out (a
/// real broker proceeds once the live members have rejoined), so its failover takes about
/// twice the session timeout (6–11 s measured, the longer ones on a loaded machine).
const SESSION_TIMEOUT_S: f64 = 3.0;
/// What the failover bound tells apart: a takeover driven by the session timeout (seconds)
/// from one that waits for `max.poll.interval.ms` (over 300 s) or never comes. Wide enough
/// that a busy CI machine does not fail it; the measured time is printed.
const FAILOVER_BOUND_S: f64 = 10.0 * SESSION_TIMEOUT_S;
const TOPIC: &str = "squint.cameras";
const CAMERAS: usize = 8;
const TEST: &str = "members_never_share_a_camera_take_over_killed_ones_and_join_cooperatively";

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

fn configs(brokers: &str, member: &str) -> (ClusterConfig, KafkaConfig) {
    let cluster = toml::from_str(&format!(
        "group = \"site\"\nworker_id = \"{member}\"\ncameras_topic = \"{TOPIC}\"\nsession_timeout_s = {SESSION_TIMEOUT_S}\nstop_timeout_s = 1"
    ))
    .unwrap();
    let kafka = toml::from_str(&format!("brokers = \"{brokers}\"")).unwrap();
    (cluster, kafka)
}

/// Prints what the group asks, as `<ms> start|stop <camera>`; a stop is printed once done.
struct Report;

impl CameraControl for Report {
    fn start(&self, camera: &CameraConfig) -> Result<(), String> {
        println!("EVENT {} start {}", now_ms(), camera.id);
        let _ = std::io::stdout().flush();
        Ok(())
    }
    fn stop(&self, camera_id: &str) {
        std::thread::sleep(Duration::from_millis(200)); // a camera takes a moment to stop
        println!("EVENT {} stop {camera_id}", now_ms());
        let _ = std::io::stdout().flush();
    }
}

/// A member process: joins and runs until killed (or 5 minutes, so none outlives a run).
fn run_member(brokers: &str, member: &str) {
    let (cluster, kafka) = configs(brokers, member);
    let membership = Membership::start(&cluster, &kafka, Arc::new(Report)).unwrap();
    std::thread::sleep(Duration::from_secs(300));
    membership.shutdown();
}

#[derive(Debug)]
struct Event {
    at_ms: u128,
    member: String,
    start: bool,
    camera: String,
}

struct Members {
    children: BTreeMap<String, Child>,
    events: crossbeam_channel::Sender<Event>,
    brokers: String,
}

impl Members {
    fn spawn(&mut self, member: &str) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
            .env("SQUINT_TEST_MEMBER", member)
            .env("SQUINT_TEST_BROKERS", &self.brokers)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (events, member_id) = (self.events.clone(), member.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness's own `test NAME ... ` may begin the first line.
                let Some(start) = line.find("EVENT ") else { continue };
                let parts: Vec<&str> = line[start..].split_whitespace().collect();
                if let ["EVENT", at, what, camera] = parts[..] {
                    let _ = events.send(Event {
                        at_ms: at.parse().unwrap(),
                        member: member_id.clone(),
                        start: what == "start",
                        camera: camera.to_string(),
                    });
                }
            }
        });
        self.children.insert(member.to_string(), child);
    }

    fn kill(&mut self, member: &str) {
        if let Some(mut child) = self.children.remove(member) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        let names: Vec<String> = self.children.keys().cloned().collect();
        for name in names {
            self.kill(&name);
        }
    }
}

/// Who runs each camera, built from the members' reports; fails on a camera started while
/// another live member runs it.
#[derive(Default)]
struct Ownership {
    running: BTreeMap<String, String>,
    starts: usize,
    /// Starts of a camera its member already ran: a changed record restarting it.
    restarts: Vec<String>,
    /// When each camera last started, on its member's clock.
    started_ms: BTreeMap<String, u128>,
}

impl Ownership {
    fn apply(&mut self, event: &Event) {
        if event.start {
            match self.running.get(&event.camera) {
                Some(owner) if *owner == event.member => self.restarts.push(event.camera.clone()),
                Some(other) => panic!("{} started {} while {other} still ran it", event.member, event.camera),
                None => {}
            }
            self.running.insert(event.camera.clone(), event.member.clone());
            self.started_ms.insert(event.camera.clone(), event.at_ms);
            self.starts += 1;
        } else if self.running.get(&event.camera) == Some(&event.member) {
            self.running.remove(&event.camera);
        }
    }

    fn killed(&mut self, member: &str) {
        self.running.retain(|_, m| m != member);
    }

    fn of(&self, member: &str) -> BTreeSet<String> {
        self.running
            .iter()
            .filter(|(_, m)| *m == member)
            .map(|(c, _)| c.clone())
            .collect()
    }
}

/// Applies reports until `done` holds (or `limit`); a report is applied in the order of its
/// member's clock (one machine), after a short delay so slower pipes catch up.
fn follow(
    events: &crossbeam_channel::Receiver<Event>,
    owners: &mut Ownership,
    limit: Duration,
    mut done: impl FnMut(&Ownership) -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    let mut pending: Vec<Event> = Vec::new();
    while started.elapsed() < limit {
        while let Ok(event) = events.recv_timeout(Duration::from_millis(50)) {
            pending.push(event);
        }
        pending.sort_by_key(|e| (e.at_ms, e.start));
        let ripe = now_ms().saturating_sub(300);
        let split = pending.partition_point(|e| e.at_ms <= ripe);
        for event in pending.drain(..split) {
            owners.apply(&event);
        }
        if pending.is_empty() && done(owners) {
            return Some(started.elapsed());
        }
    }
    None
}

#[test]
fn members_never_share_a_camera_take_over_killed_ones_and_join_cooperatively() {
    if let (Ok(member), Ok(brokers)) = (
        std::env::var("SQUINT_TEST_MEMBER"),
        std::env::var("SQUINT_TEST_BROKERS"),
    ) {
        return run_member(&brokers, &member);
    }
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 12, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let (site, kafka) = configs(&brokers, "admin");
    let cameras: Vec<CameraConfig> = (1..=CAMERAS)
        .map(|i| toml::from_str(&format!("id = \"cam{i}\"\nurl = \"rtsp://127.0.0.1:9/cam{i}\"")).unwrap())
        .collect();
    CamerasTopic::new(&kafka, &site).put(&cameras).unwrap();
    let all: BTreeSet<String> = cameras.iter().map(|c| c.id.clone()).collect();

    let (tx, events) = crossbeam_channel::unbounded();
    let mut members = Members {
        children: BTreeMap::new(),
        events: tx,
        brokers,
    };
    let mut owners = Ownership::default();
    for member in ["m1", "m2", "m3"] {
        members.spawn(member);
    }
    let covered = |o: &Ownership| o.running.keys().cloned().collect::<BTreeSet<_>>() == all;
    let spread = |o: &Ownership| covered(o) && ["m1", "m2", "m3"].iter().all(|m| !o.of(m).is_empty());
    assert!(
        follow(&events, &mut owners, Duration::from_secs(60), spread).is_some(),
        "three members never shared the cameras: {:?}",
        owners.running
    );
    // Let the group settle, then a fourth member joins: the cameras it takes move, every
    // other camera keeps running where it was (no stop of it is reported).
    follow(&events, &mut owners, Duration::from_secs(3), |_| false);
    let before = owners.running.clone();
    members.spawn("m4");
    let joined = follow(&events, &mut owners, Duration::from_secs(60), |o| {
        covered(o) && !o.of("m4").is_empty()
    });
    assert!(joined.is_some(), "m4 got no camera: {:?}", owners.running);
    follow(&events, &mut owners, Duration::from_secs(3), |_| false);
    for (camera, member) in &owners.running {
        if member != "m4" {
            assert_eq!(Some(member), before.get(camera), "{camera} moved between old members");
        }
    }
    let starts_before_kills = owners.starts;
    let moved = owners.of("m4").len();
    assert_eq!(starts_before_kills, CAMERAS + moved, "a camera was restarted in place");

    // A changed record restarts that camera on its member, and nothing else.
    let mut changed = cameras[0].clone();
    changed.max_fps = 4.0;
    CamerasTopic::new(&kafka, &site).put(&[changed]).unwrap();
    let restarted = follow(&events, &mut owners, Duration::from_secs(15), |o| {
        !o.restarts.is_empty()
    });
    assert!(restarted.is_some(), "cam1 was not restarted after its record changed");
    follow(&events, &mut owners, Duration::from_secs(2), |_| false);
    assert_eq!(owners.restarts, ["cam1"]);
    assert_eq!(owners.starts, starts_before_kills + 1, "only cam1 restarted");
    // SIGKILL one member at a time; its cameras run again elsewhere once the session times
    // out, and never on two members at once (Ownership::apply checks each start).
    let mut failovers = Vec::new();
    for victim in ["m1", "m4"] {
        let held = owners.of(victim);
        members.kill(victim);
        let killed_ms = now_ms();
        owners.killed(victim);
        let back = follow(&events, &mut owners, Duration::from_secs(60), |o| covered(o));
        assert!(
            back.is_some(),
            "{held:?} of {victim} never ran again: {:?}",
            owners.running
        );
        let last_start = held.iter().map(|c| owners.started_ms[c]).max().unwrap();
        let seconds = (last_start - killed_ms) as f64 / 1000.0;
        failovers.push(seconds);
        assert!(
            seconds <= FAILOVER_BOUND_S,
            "{victim}'s cameras {held:?} back after {seconds} s"
        );
    }
    println!("failover after SIGKILL on the mock cluster: {failovers:?} s");
}

/// The gallery topic on the mock cluster: a worker materialises it, follows a change and a
/// tombstone, and refuses a topic of another embedding space, naming both spaces.
#[test]
fn a_worker_follows_the_gallery_topic_and_refuses_another_embedding_space() {
    use squint::cluster::{GalleryRecord, GallerySync, publish_identities};
    use squint::gallery::Gallery;

    let cluster = MockCluster::new(1).unwrap();
    let (mut site, kafka) = configs(&cluster.bootstrap_servers(), "admin");
    site.gallery_topic = Some("squint.gallery".into());
    cluster.create_topic("squint.gallery", 1, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut admin = Gallery::create(&dir.path().join("admin.db")).unwrap();
    admin
        .add_template("ada", "ada.jpg", "sface-v1", &[1.0, 0.0, 0.0])
        .unwrap();
    admin
        .add_template("bob", "bob.jpg", "sface-v1", &[0.0, 1.0, 0.0])
        .unwrap();
    assert!(publish_identities(&kafka, &site, &admin, &["ada".into(), "bob".into()]).unwrap());

    let worker = dir.path().join("worker.db");
    let sync = GallerySync::start(&kafka, &site, &worker, "sface-v1")
        .unwrap()
        .expect("a gallery topic");
    let names = |path: &std::path::Path| -> Vec<String> {
        Gallery::open_read_only(path)
            .unwrap()
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    assert_eq!(names(&worker), ["ada", "bob"], "materialised at start");
    admin.set_watchlist("ada", "vip").unwrap();
    admin.remove("bob").unwrap();
    publish_identities(&kafka, &site, &admin, &["ada".into(), "bob".into()]).unwrap();
    let followed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let gallery = Gallery::open_read_only(&worker).unwrap();
        let list = gallery.list().unwrap();
        list.len() == 1 && list[0].watchlist == "vip"
    });
    assert!(
        followed,
        "the change and the tombstone were not applied: {:?}",
        names(&worker)
    );
    drop(sync);

    let mut other = Gallery::create(&dir.path().join("other.db")).unwrap();
    other
        .add_template("cy", "cy.jpg", "arcface-r50", &[0.0, 0.0, 1.0])
        .unwrap();
    publish_identities(&kafka, &site, &other, &["cy".into()]).unwrap();
    let err = GallerySync::start(&kafka, &site, &dir.path().join("fresh.db"), "sface-v1")
        .err()
        .expect("another space is refused")
        .to_string();
    assert!(err.contains("arcface-r50") && err.contains("sface-v1"), "{err}");
    let record: GalleryRecord = serde_json::from_str(
        r#"{"schema_version":1,"embedding_space":"s","identity":{"name":"x","watchlist":"default","templates":[],"negatives":[]}}"#,
    )
    .unwrap();
    assert_eq!(record.identity.name, "x");
}
