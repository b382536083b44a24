//! The binary's behaviour at its edges: bad configs are named, not crashed on.

use std::process::Command;

use squint::testing;

fn squint(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(args)
        .current_dir(testing::repo())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn run_with_an_unknown_key_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let demo = std::fs::read_to_string(testing::repo().join("config/demo.toml")).unwrap();
    std::fs::write(&path, demo.replace("[detect]", "[detect]\nscore_treshold = 0.5")).unwrap();
    let (ok, stderr) = squint(&["run", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("score_treshold"),
        "{stderr}"
    );
}

#[test]
fn run_with_a_missing_config_file_says_so() {
    let (ok, stderr) = squint(&["run", "--config", "/nonexistent/squint.toml"]);
    assert!(!ok);
    assert!(
        stderr.contains("/nonexistent/squint.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn gallery_remove_of_an_unknown_name_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let (ok, stderr) = squint(&["gallery", "--gallery", gallery.to_str().unwrap(), "remove", "nobody"]);
    assert!(!ok);
    assert!(stderr.contains("no identity named nobody"), "{stderr}");
}

#[test]
fn sigterm_stops_cleanly_and_flushes_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let repo = testing::repo();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[models]
detector = "{repo}/models/yunet.card.toml"
recognizer = "{repo}/models/sface.card.toml"
[pipeline]
state_dir = "{dir}"
[gallery]
path = "{dir}/gallery.db"
[kafka]
brokers = "embedded"
[[cameras]]
id = "recording"
url = "{repo}/assets/vtest.avi"
loop_file = true
realtime = true
"#,
            repo = repo.display(),
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let stats = dir.path().join("stats.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--stats-json",
            stats.to_str().unwrap(),
        ])
        .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..300 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("squint run did not stop within 30 s of SIGTERM")
    });
    assert!(status.success(), "exit status {status}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let events = report["stats"]["events"].as_u64().unwrap();
    assert!(
        report["stats"]["frames"].as_u64().unwrap() > 0 && events > 0,
        "{report}"
    );
    assert_eq!(
        report["stats"]["delivered"].as_u64().unwrap(),
        events,
        "every event acknowledged before exit"
    );
    assert_eq!(report["cameras"][0]["state"], "stopped");
    assert!(
        !dir.path().join("embedded-kafka.addr").exists(),
        "the embedded broker's address file is removed"
    );
}

#[test]
fn run_fails_naming_a_camera_whose_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = testing::repo();
    let config = dir.path().join("missing.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
             [pipeline]\nstate_dir = \"{dir}\"\n[gallery]\npath = \"{dir}/g.db\"\n[kafka]\nbrokers = \"embedded\"\n\
             [[cameras]]\nid = \"archive\"\nurl = \"{dir}/no-such-clip.mp4\"\n",
            repo = repo.display(),
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["run", "--config", config.to_str().unwrap()])
        .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("camera(s) failed: archive") && stderr.contains("no-such-clip.mp4"),
        "{stderr}"
    );
}

#[test]
fn multi_resolution_enrolment_and_negatives_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let g = gallery.to_str().unwrap();
    let photo = testing::photo("obama2.jpg");
    let (ok, stderr) = squint(&[
        "enroll",
        "--gallery",
        g,
        "--name",
        "obama",
        "--multi-res",
        "16,24",
        photo.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let list = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["gallery", "--gallery", g, "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("obama\t3 template(s)"),
        "photo plus two degraded: {listed}"
    );

    let other = testing::photo("biden.jpg");
    let (ok, stderr) = squint(&[
        "enroll",
        "--gallery",
        g,
        "--name",
        "grace",
        "--negative",
        other.to_str().unwrap(),
    ]);
    assert!(!ok, "a negative needs an enrolled identity");
    assert!(stderr.contains("no identity `grace`"), "{stderr}");
    let (ok, stderr) = squint(&[
        "enroll",
        "--gallery",
        g,
        "--name",
        "obama",
        "--negative",
        other.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");

    let export = dir.path().join("export.json");
    let (ok, stderr) = squint(&["gallery", "--gallery", g, "export", "--out", export.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let exported: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let obama = &exported["identities"][0];
    assert_eq!(obama["name"], "obama");
    assert_eq!(obama["templates"].as_array().unwrap().len(), 3);
    assert_eq!(obama["negatives"].as_array().unwrap().len(), 1);
    assert_eq!(obama["templates"][0]["embedding"].as_array().unwrap().len(), 128);
    assert_eq!(exported["embedding_space"], "sface-2021dec");
}

/// Names that would break `gallery list` (one tab-separated line per identity) and widths
/// that crash OpenCV or allocate gigabytes are refused before anything is stored.
#[test]
fn enrolment_refuses_unusable_names_and_multi_res_widths() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let g = gallery.to_str().unwrap();
    let photo = testing::photo("obama2.jpg");
    let photo = photo.to_str().unwrap();
    for name in ["", "   ", "two\nlines", "tab\there", " padded"] {
        let (ok, stderr) = squint(&["enroll", "--gallery", g, "--name", name, photo]);
        assert!(!ok, "name {name:?} accepted");
        assert!(
            stderr.contains("is not usable") && stderr.contains("without tabs, newlines"),
            "{name:?}: {stderr}"
        );
    }
    for width in ["0", "2", "100000"] {
        let (ok, stderr) = squint(&["enroll", "--gallery", g, "--name", "obama", "--multi-res", width, photo]);
        assert!(!ok, "width {width} accepted");
        assert!(
            stderr.contains(&format!("--multi-res {width}")) && stderr.contains("between 4 and 112 px"),
            "{width}: {stderr}"
        );
    }
    let list = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["gallery", "--gallery", g, "list"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).trim().is_empty(),
        "nothing was stored"
    );
}
