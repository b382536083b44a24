//! The soak's short version (CI): four cameras over RTSP whose servers restart in turn,
//! region search, unknown faces on with a stranger coming back every loop of the scene, an
//! enrolment and a promotion while it runs, `/metrics` and `/review` polled, Kafka on the
//! test broker. The long run is `scripts/soak.sh` (an hour); this asserts the same
//! properties over ~80 s: nothing lost, threads and open files flat, memory and disk bounded.
//! Needs the test broker (scripts/test.sh).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use squint::bench::soak::{SoakPlan, soak_config};
use squint::config::Config;
use squint::testing;

mod common;
use common::closed_port;
use common::scene::{enroll_photos, generate_scene, person};

/// RSS growth allowed from second ~13 to the end of the 80 s run, with five camera restarts
/// (the hour-long `scripts/soak.sh` holds the issue's 5 % from minute 10 to 60).
const RSS_GROWTH_PCT: f64 = 10.0;

fn test_broker() -> String {
    std::env::var("SQUINT_TEST_KAFKA")
        .expect("SQUINT_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts the test broker")
}

fn config(dir: &Path, topic: &str) -> Config {
    let cameras: String = (0..4)
        .map(|i| {
            format!(
                "[[cameras]]\nid = \"cam{i}\"\nurl = \"rtsp://127.0.0.1:{}/cam{i}\"\nbackoff_initial_ms = 100\nbackoff_max_ms = 400\n",
                closed_port()
            )
        })
        .collect();
    let text = format!(
        r#"{base}[detect]
min_face_px = 20
search = "regions"
[gallery]
path = "{dir}/gallery.db"
reload_s = 0.5
[unknowns]
enabled = true
visit_gap_s = 0
min_track_frames = 3
[http]
address = "127.0.0.1:0"
token = "soak-review-token-0123456789"
[kafka]
brokers = "{broker}"
topic = "{topic}"
alert_topic = "{topic}.alerts"
[kafka.properties]
"batch.num.messages" = "1"
{cameras}"#,
        base = testing::base_config(dir),
        dir = dir.display(),
        broker = test_broker(),
    );
    Config::parse(&text, &dir.join("soak.toml")).unwrap()
}

#[test]
fn four_cameras_with_restarts_enrolment_and_promotion_lose_nothing_and_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Eileen is never enrolled: she comes back on every loop of the scene, on every camera.
    let people = vec![person("obama", "obama.jpg"), person("eileen", "astronaut.png")];
    generate_scene(dir.path(), people, 150, (28.0, 44.0), 1, 3);
    enroll_photos(&dir.path().join("gallery.db"), &[("obama", "obama2.jpg")]);
    let topic = format!("squint.soak-test.{}", uuid::Uuid::new_v4());
    let config = config(dir.path(), &topic);
    let plan = SoakPlan {
        duration: Duration::from_secs(80),
        every: Duration::from_secs(4),
        squint: env!("CARGO_BIN_EXE_squint").into(),
        serve: Some(dir.path().join("scene.mp4")),
        restart_every: Some(Duration::from_secs(15)),
        enrol: Some((Duration::from_secs(20), "biden".into(), testing::photo("biden.jpg"))),
        promote_at: Some(Duration::from_secs(40)),
        poll_every: Some(Duration::from_secs(5)),
        read_back: true,
    };
    let report = soak_config(&config, &plan, &AtomicBool::new(false)).unwrap();
    let summary = format!(
        "events {} delivered {} read back {:?} pending {}, restarts {}, rss +{:.1} %, threads {:+}, fds {:+}, polls {}/{}",
        report.events_produced,
        report.events_delivered,
        report.events_read_back,
        report.spool_pending,
        report.server_restarts,
        report.rss_growth_pct,
        report.thread_growth,
        report.fd_growth,
        report.polls_ok,
        report.polls_failed
    );
    eprintln!("{summary}");
    for s in &report.samples {
        eprintln!(
            "soak sample {:5.1} s: rss {:.0} MiB, threads {}, fds {}, reconnects {}",
            s.at_s, s.rss_mib, s.threads, s.open_fds, s.reconnects
        );
    }
    assert!(report.events_produced > 0, "{summary}");
    assert_eq!(report.spool_pending, 0, "{summary}");
    assert_eq!(report.events_read_back, Some(report.events_produced), "{summary}");
    assert!(report.server_restarts >= 4, "{summary}");
    assert_eq!(report.enrolled.as_deref(), Some("biden"), "{summary}");
    assert!(
        report.promoted.is_some(),
        "no stranger was clustered to promote: {summary}"
    );
    assert!(report.polls_ok >= 20 && report.polls_failed == 0, "{summary}");
    // A camera's restart rebuilds its GStreamer pipeline: a thread or file that outlived it
    // would add one per restart.
    assert!(report.thread_growth <= 1, "{summary}");
    assert!(report.fd_growth <= 2, "{summary}");
    assert!(report.rss_growth_pct < RSS_GROWTH_PCT, "{summary}");
    let last = report.samples.last().unwrap();
    assert!(last.spool_bytes <= config.kafka.spool.max_bytes, "{summary}");
    assert!(
        last.gallery_bytes < 16 << 20,
        "{summary}: gallery {} bytes",
        last.gallery_bytes
    );
}
