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
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "the cause once: {stderr}"
    );
}

#[test]
fn gallery_remove_of_an_unknown_name_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    gallery_with_one_identity(&gallery);
    let (ok, stderr) = squint(&["gallery", "--gallery", gallery.to_str().unwrap(), "remove", "nobody"]);
    assert!(!ok);
    assert!(stderr.contains("no identity named nobody"), "{stderr}");
}

#[test]
fn sigterm_stops_cleanly_and_flushes_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let repo = testing::repo();
    let config = dir.path().join("run.toml");
    gallery_with_one_identity(&dir.path().join("gallery.db"));
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

/// A config that starts (real models, embedded broker) and fails fast: its one camera is a
/// file that does not exist.
fn config_with_a_missing_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let repo = testing::repo();
    let config = dir.join("missing.toml");
    gallery_with_one_identity(&dir.join("g.db"));
    std::fs::write(
        &config,
        format!(
            "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
             [pipeline]\nstate_dir = \"{dir}\"\n[gallery]\npath = \"{dir}/g.db\"\n[kafka]\nbrokers = \"embedded\"\n\
             [[cameras]]\nid = \"archive\"\nurl = \"{dir}/no-such-clip.mp4\"\n",
            repo = repo.display(),
            dir = dir.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn run_fails_naming_a_camera_whose_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_missing_clip(dir.path());
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

/// A recognizer's card named as the landmark refiner: refused at start-up, naming the key,
/// the card and the shapes a refiner must have.
#[test]
fn run_refuses_a_refiner_card_that_is_not_a_refiner_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_missing_clip(dir.path());
    let sface = testing::repo().join("models/sface.card.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "[gallery]",
        &format!("[align]\nrefiner = \"{}\"\n[gallery]", sface.display()),
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["run", "--config", config.to_str().unwrap()])
        .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("align.refiner") && stderr.contains("sface.card.toml") && stderr.contains("[?,10]"),
        "{stderr}"
    );
}

/// Colour only for a person at a terminal (`script` gives the command a pseudo-terminal),
/// and not even there with NO_COLOR set; never in a pipe (see tests/secrets.rs).
#[test]
fn logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_a_missing_clip(dir.path());
    let command = format!("{} run --config {}", env!("CARGO_BIN_EXE_squint"), config.display());
    let on_terminal = |no_color: Option<&str>| {
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)))
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            script.env("NO_COLOR", value);
        }
        String::from_utf8_lossy(&script.output().unwrap().stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(coloured.contains("INFO") && coloured.contains('\u{1b}'), "{coloured}");
    let plain = on_terminal(Some("1"));
    assert!(plain.contains("INFO") && !plain.contains('\u{1b}'), "{plain}");
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
    assert!(!gallery.exists(), "nothing was stored, so no gallery was created");
}

fn gallery_with_one_identity(path: &std::path::Path) {
    let mut gallery = squint::gallery::Gallery::create(path).unwrap();
    gallery
        .add_template("ada", "ada.jpg", "sface-2021dec", &[0.1; 128])
        .unwrap();
}

#[test]
fn reading_a_gallery_that_cannot_be_written_works_and_changing_it_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared");
    std::fs::create_dir(&folder).unwrap();
    let gallery = folder.join("g.db");
    gallery_with_one_identity(&gallery);
    let before = std::fs::read(&gallery).unwrap();
    let _read_only = testing::ReadOnly::protect(&gallery);
    let g = gallery.to_str().unwrap();
    let list = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["gallery", "--gallery", g, "list"])
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("ada\t1 template(s)"));
    let export = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["gallery", "--gallery", g, "export"])
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    assert!(String::from_utf8_lossy(&export.stdout).contains("\"ada\""));
    let (ok, stderr) = squint(&["gallery", "--gallery", g, "remove", "ada"]);
    assert!(
        !ok && stderr.contains("cannot be changed") && stderr.contains("read-only"),
        "{stderr}"
    );
    // The pipeline's view of the gallery: read-only too, and it still matches.
    let (_watch, matcher) = squint::gallery::GalleryWatch::open(squint::gallery::WatchSpec {
        path: gallery.clone(),
        space: "sface-2021dec".into(),
        size: 128,
        every: std::time::Duration::from_secs(1),
        index: Default::default(),
    })
    .unwrap();
    assert_eq!(matcher.identities(), 1);
    assert_eq!(std::fs::read(&gallery).unwrap(), before, "nothing written");
}

#[test]
fn mistyped_gallery_paths_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("no-such-folder/typo.db");
    let t = typo.to_str().unwrap();
    for action in [&["list"][..], &["export"], &["remove", "ada"]] {
        let (ok, stderr) = squint(&[&["gallery", "--gallery", t][..], action].concat());
        assert!(!ok, "{action:?}");
        assert!(
            stderr.contains("does not exist") && stderr.contains("squint enroll --gallery"),
            "{stderr}"
        );
    }
    // `run` refuses before loading any model, naming the key.
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndetector = \"/nowhere/yunet.card.toml\"\nrecognizer = \"/nowhere/sface.card.toml\"\n\
             [pipeline]\nstate_dir = \"{dir}/state\"\n[gallery]\npath = \"{t}\"\n[kafka]\nbrokers = \"embedded\"\n\
             [[cameras]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1:8554/x\"\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["run", "--config", config.to_str().unwrap()])
        .current_dir(testing::repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("typo.db does not exist") && stderr.contains("gallery.path"),
        "{stderr}"
    );
    // An enrolment that stores nothing leaves nothing behind either.
    let (ok, stderr) = squint(&[
        "enroll",
        "--gallery",
        t,
        "--name",
        "x",
        testing::background_video().to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("no gallery was created"), "{stderr}");
    assert!(!dir.path().join("no-such-folder").exists(), "no file or folder created");
}

#[test]
fn huge_photos_enrol_from_a_scaled_copy_and_absurd_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("g.db");
    let g = gallery.to_str().unwrap();
    // A 3640×4548 portrait whose face fills it: too large for the detector at full size.
    let photo = squint::image::BgrImage::load(&testing::photo("grace_hopper.jpg")).unwrap();
    let big = dir.path().join("big.jpg");
    photo.resized(3640, 4548).unwrap().save(&big).unwrap();
    let (ok, stderr) = squint(&["enroll", "--gallery", g, "--name", "grace", big.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    // A header declaring 30000×30000 px is refused before any decoding.
    let absurd = dir.path().join("absurd.png");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(30000u32.to_be_bytes());
    png.extend(30000u32.to_be_bytes());
    png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    std::fs::write(&absurd, png).unwrap();
    let (ok, stderr) = squint(&["enroll", "--gallery", g, "--name", "grace", absurd.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("30000×30000 px is too large") && stderr.contains("100 megapixels"),
        "{stderr}"
    );
}

#[test]
fn serve_rtsp_names_a_busy_port_and_refuses_a_path_without_slash() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let video = testing::background_video();
    let video = video.to_str().unwrap();
    let (ok, stderr) = squint(&["serve-rtsp", video, "--port", &port]);
    assert!(!ok);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("--port"),
        "{stderr}"
    );
    let (ok, stderr) = squint(&["serve-rtsp", video, "--port", "0", "--path", "noslash"]);
    assert!(!ok);
    assert!(stderr.contains("--path `noslash` must start with `/`"), "{stderr}");
}

/// Everything wrong in a config that no retry can fix is found before a model loads (the
/// models here do not exist, so a later check would fail on them instead).
#[test]
fn run_refuses_permanently_invalid_cameras_and_endpoints_before_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("url = \"rtsp://\"", "", "cameras[0].url", "no host"),
        ("url = \"rtsp://:8554/x\"", "", "cameras[0].url", "no host"),
        ("url = \"foo://bar/baz\"", "", "cameras[0].url", "is not RTSP"),
        ("url = \"rtsp://[::1\"", "", "cameras[0].url", "no closing `]`"),
        (
            "url = \"rtsp://admin:Pw9secret@cam:70000/x\"",
            "",
            "cameras[0].url",
            "port `70000`",
        ),
        (
            "url = \"rtsp://cam/x\"\ntemplate = \"rtsp_h246\"",
            "",
            "cameras[0].template",
            "rtsp_h264",
        ),
        (
            "url = \"rtsp://cam/x\"",
            "[http]\naddress = \"localhost\"",
            "http.address",
            "not host:port",
        ),
        (
            "url = \"rtsp://cam/x\"",
            "[pipeline]\nframe_queue = 0",
            "pipeline.frame_queue",
            "out of range",
        ),
    ];
    for (camera, extra, key, why) in cases {
        let config = dir.path().join("bad.toml");
        let state = if extra.starts_with("[pipeline]") {
            ""
        } else {
            "[pipeline]\n"
        };
        std::fs::write(
            &config,
            format!(
                "[models]\ndetector = \"/nowhere/yunet.card.toml\"\nrecognizer = \"/nowhere/sface.card.toml\"\n\
                 {extra}\n{state}[gallery]\npath = \"{dir}/g.db\"\n[kafka]\nbrokers = \"embedded\"\n\
                 [[cameras]]\nid = \"gate\"\n{camera}\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let (ok, stderr) = squint(&["run", "--config", config.to_str().unwrap()]);
        assert!(!ok, "{camera} {extra}");
        assert!(
            stderr.contains("bad.toml") && stderr.contains(&format!("key `{key}`")) && stderr.contains(why),
            "{key}: {stderr}"
        );
        assert!(!stderr.contains("Pw9secret"), "{stderr}");
        assert!(!stderr.contains("Caused by"), "each cause said once: {stderr}");
    }
}

#[test]
fn two_runs_on_one_state_dir_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _first = squint::pipeline::StateLock::take(&[state.as_path()]).unwrap();
    let config = dir.path().join("second.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndetector = \"/nowhere/yunet.card.toml\"\nrecognizer = \"/nowhere/sface.card.toml\"\n\
             [pipeline]\nstate_dir = \"{state}\"\n[gallery]\npath = \"{dir}/g.db\"\n[kafka]\nbrokers = \"embedded\"\n\
             [[cameras]]\nid = \"gate\"\nurl = \"rtsp://cam/x\"\n",
            state = state.display(),
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let (ok, stderr) = squint(&["run", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("in use by another `squint run`") && stderr.contains("pipeline.state_dir"),
        "{stderr}"
    );
}
