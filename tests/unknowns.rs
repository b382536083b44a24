//! Unknown faces through the whole pipeline: a stranger pasted into generated scenes keeps
//! one `unknown_id` across visits, raises a recurring-stranger alert, and once promoted —
//! from the command line while Squint runs, or on the review page in headless Chromium — is
//! named. Needs the test broker (scripts/test.sh) and Chromium (scripts/setup.sh --browser).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};

use squint::alert::{AlertEvent, AlertStage};
use squint::config::Config;
use squint::gallery::{Gallery, StoredUnknown};
use squint::pipeline::Pipeline;
use squint::publish::{IdentityEvent, UNKNOWN};
use squint::scenario::GroundTruth;
use squint::serve::RtspServer;
use squint::testing;

mod common;
use common::scene::{enroll_photos, generate_scene, person, read_json};
use common::wait_until;

const TOKEN: &str = "review-token-for-tests-0123456789";

/// Both tests run the pipeline flat out; they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn test_broker() -> String {
    std::env::var("SQUINT_TEST_KAFKA")
        .expect("SQUINT_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts the test broker")
}

/// Eileen (not enrolled) and Obama (enrolled) each pass the camera twice, at 32–48 px.
fn scene(dir: &Path) -> GroundTruth {
    let people = vec![person("eileen", "astronaut.png"), person("obama", "obama.jpg")];
    let truth = generate_scene(dir, people, 150, (32.0, 48.0), 2, 21);
    enroll_photos(
        &dir.join("gallery.db"),
        &[
            ("obama", "obama2.jpg"),
            ("biden", "biden.jpg"),
            ("grace", "grace_hopper.jpg"),
        ],
    );
    truth
}

fn config(dir: &Path, url: &str, topic: &str) -> Config {
    let text = format!(
        r#"{base}[detect]
min_face_px = 20
[gallery]
path = "{dir}/gallery.db"
reload_s = 0.5
[unknowns]
enabled = true
visit_gap_s = 0
min_track_frames = 3
[alerts.unknowns]
min_visits = 2
[http]
address = "127.0.0.1:0"
token = "{TOKEN}"
[kafka]
brokers = "{broker}"
topic = "{topic}"
alert_topic = "{topic}.alerts"
[kafka.properties]
"batch.num.messages" = "1"
[[cameras]]
id = "street"
url = "{url}"
"#,
        base = testing::base_config(dir),
        dir = dir.display(),
        broker = test_broker(),
    );
    Config::parse(&text, &dir.join("test.toml")).unwrap()
}

fn events(topic: &str) -> Vec<IdentityEvent> {
    read_json(&test_broker(), topic, "identity-event.v3.json")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

fn alerts(topic: &str) -> Vec<AlertEvent> {
    read_json(&test_broker(), &format!("{topic}.alerts"), "alert-event.v2.json")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

/// True when the event's face lies on one of `who`'s paths through the scene.
fn on_path(truth: &GroundTruth, who: &str, event: &IdentityEvent) -> bool {
    truth
        .appearances
        .iter()
        .filter(|a| a.identity == who)
        .any(|a| (a.first_frame..=a.last_frame).any(|f| a.box_at(f).is_some_and(|b| b.iou(&event.bbox) >= 0.4)))
}

/// The stranger seen on most visits.
fn most_visited(gallery: &Path) -> Option<StoredUnknown> {
    let unknowns = Gallery::open_read_only(gallery).ok()?.unknowns().ok()?;
    unknowns.into_iter().max_by_key(|u| u.visits)
}

/// The unknown ids that events on Eileen's path carried, with how many events each.
fn eileen_ids(truth: &GroundTruth, events: &[IdentityEvent]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.identity == UNKNOWN && on_path(truth, "eileen", e))
    {
        if let Some(id) = &event.unknown_id {
            *ids.entry(id.clone()).or_default() += 1;
        }
    }
    ids
}

#[test]
fn a_stranger_keeps_one_id_across_visits_and_a_promotion_from_the_command_line_names_them_live() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let truth = scene(dir.path());
    let gallery = dir.path().join("gallery.db");
    let server = RtspServer::start(&dir.path().join("scene.mp4"), 0, "/scene").unwrap();
    let topic = format!("squint.unknowns.{}", uuid::Uuid::new_v4());
    let config = config(dir.path(), &server.url(), &topic);
    let pipeline = Pipeline::start(&config).unwrap();

    // Until Eileen has been filed twice: at least one loop of the 6 s scene.
    let mut stranger = None;
    let filed = wait_until(Duration::from_secs(120), || {
        stranger = most_visited(&gallery).filter(|u| u.visits >= 2);
        stranger.is_some()
    });
    assert!(
        filed,
        "no stranger filed twice: {:?}",
        pipeline.stats.snapshot(Duration::from_secs(1))
    );
    let stranger = stranger.unwrap();
    // Events captured before the command started cannot be named; the running pipeline
    // may pick the promotion up while the command is still exiting.
    let asked_at = unix_ms_now();
    let (ok, out, err) = common::squint(&[
        "unknowns",
        "--gallery",
        gallery.to_str().unwrap(),
        "promote",
        &stranger.id,
        "--name",
        "eileen",
    ]);
    assert!(ok, "{out}{err}");
    let promoted_at = unix_ms_now();
    let (ok, listed, err) = common::squint(&["unknowns", "--gallery", gallery.to_str().unwrap(), "list"]);
    assert!(ok && !listed.contains(&stranger.id), "{listed}{err}");

    // Two more loops of the scene, named from the next gallery check on.
    let started = Instant::now();
    pipeline.wait(
        &AtomicBool::new(false),
        Some(Duration::from_secs(14)),
        Duration::from_secs(5),
    );
    let (stats, _) = pipeline.shutdown();
    drop(server);
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert_eq!(stats.delivery_failed, 0, "{stats:?}");

    let events = events(&topic);
    let before: Vec<&IdentityEvent> = events.iter().filter(|e| e.captured_at_ms < asked_at).collect();
    let after: Vec<&IdentityEvent> = events
        .iter()
        .filter(|e| e.captured_at_ms > promoted_at + 2000)
        .collect();
    let before_owned: Vec<IdentityEvent> = before.iter().map(|e| (*e).clone()).collect();
    let ids = eileen_ids(&truth, &before_owned);
    let on_stranger: usize = ids.values().sum();
    let on_promoted = ids.get(&stranger.id).copied().unwrap_or(0);
    assert!(
        on_stranger > 0 && on_promoted * 10 >= on_stranger * 8,
        "Eileen's unknown events mostly carry the promoted id {}: {ids:?}",
        stranger.id
    );
    assert!(
        before.iter().all(|e| e.identity != "eileen"),
        "not named before promotion"
    );
    let named: Vec<&&IdentityEvent> = after.iter().filter(|e| e.identity == "eileen").collect();
    assert!(
        !named.is_empty(),
        "Eileen named after promotion ({} later events)",
        after.len()
    );
    assert!(
        named.iter().all(|e| on_path(&truth, "eileen", e)),
        "only Eileen is named eileen"
    );

    let recurring: Vec<AlertEvent> = alerts(&topic)
        .into_iter()
        .filter(|a| a.stage == AlertStage::Recurring)
        .collect();
    assert!(
        recurring
            .iter()
            .any(|a| a.unknown_id.as_deref() == Some(stranger.id.as_str())),
        "a recurring-stranger alert for {}: {recurring:#?}",
        stranger.id
    );
    assert!(
        recurring
            .iter()
            .all(|a| a.identity == UNKNOWN && a.watchlist == "unknowns")
    );
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn screenshot_path(dir: &Path) -> PathBuf {
    match std::env::var_os("SQUINT_SCREENSHOT_DIR") {
        Some(out) => PathBuf::from(out).join("review.png"),
        None => dir.join("review.png"),
    }
}

#[test]
fn the_review_page_in_chromium_promotes_a_stranger_who_is_then_named() {
    use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
    use headless_chrome::{Browser, LaunchOptions};

    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let truth = scene(dir.path());
    let gallery = dir.path().join("gallery.db");
    let scene_file = dir.path().join("scene.mp4").display().to_string();
    let topic = format!("squint.review.{}", uuid::Uuid::new_v4());
    let pipeline = Pipeline::start(&config(dir.path(), &scene_file, &topic)).unwrap();
    pipeline.wait(
        &AtomicBool::new(false),
        Some(Duration::from_secs(120)),
        Duration::from_secs(5),
    );
    assert!(pipeline.is_finished(), "the scene file played to its end");
    let stranger = most_visited(&gallery).expect("a stranger was filed");
    let address = pipeline.http.as_ref().unwrap().address;

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(PathBuf::from("/usr/bin/chromium")))
            .sandbox(false)
            .window_size(Some((480, 900)))
            .idle_browser_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .expect("Chromium starts (scripts/setup.sh --browser installs it)");
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&format!("http://{address}/review")).unwrap();
    tab.wait_until_navigated().unwrap();
    assert!(
        tab.find_element("section[data-unknown]").is_err(),
        "no stranger before signing in"
    );
    tab.wait_for_element("input[name=token]").unwrap().click().unwrap();
    tab.type_str(TOKEN).unwrap().press_key("Enter").unwrap();
    let card = format!("section[data-unknown='{}']", stranger.id);
    tab.wait_for_element(&card).unwrap();
    tab.wait_for_element(&format!("{card} input[name=name]"))
        .unwrap()
        .click()
        .unwrap();
    tab.type_str("eileen").unwrap();
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshot_path(dir.path()), &png).unwrap();
    tab.wait_for_element(&format!("{card} form.promote button"))
        .unwrap()
        .click()
        .unwrap();
    let done = tab.wait_for_element(".ok").unwrap().get_inner_text().unwrap();
    assert!(done.contains("Promoted to identity eileen"), "{done}");
    let identities = tab.wait_for_element(".ids").unwrap().get_inner_text().unwrap();
    assert!(identities.contains("eileen"), "{identities}");
    assert!(tab.find_element(&card).is_err(), "the stranger became an identity");
    drop(browser);
    let (stats, _) = pipeline.shutdown();
    assert_eq!(stats.delivery_failed, 0);

    // The next visit — the same scene played again — is named.
    let again = format!("{topic}.again");
    let pipeline = Pipeline::start(&config(dir.path(), &scene_file, &again)).unwrap();
    pipeline.wait(
        &AtomicBool::new(false),
        Some(Duration::from_secs(120)),
        Duration::from_secs(5),
    );
    pipeline.shutdown();
    let events = events(&again);
    let on_eileen: Vec<&IdentityEvent> = events.iter().filter(|e| on_path(&truth, "eileen", e)).collect();
    let named = on_eileen.iter().filter(|e| e.identity == "eileen").count();
    assert!(
        named * 2 >= on_eileen.len() && named > 0,
        "{named} of {} events on Eileen's path name her",
        on_eileen.len()
    );
    assert!(
        events
            .iter()
            .filter(|e| e.identity == "eileen")
            .all(|e| on_path(&truth, "eileen", e))
    );
}
