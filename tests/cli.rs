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
