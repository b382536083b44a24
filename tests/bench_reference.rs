//! The end-to-end benchmark compares like with like: Squint and the OpenCV Python reference
//! (scripts/reference_pipeline.py, set up by `scripts/setup.sh --reference`) get the same
//! frames of the same scene and find the same faces in them.

use squint::bench::pipeline::PipelineBench;
use squint::testing;

#[test]
fn squint_and_the_reference_process_the_same_frames() {
    let work = tempfile::tempdir().unwrap();
    let bench = PipelineBench {
        cameras: 2,
        frames: 20,
        work: work.path().to_path_buf(),
        python: testing::venv_python(),
        reference_models: testing::reference_models(),
        repo: testing::repo(),
        realtime: false,
        every_face: true,
        detect_workers: vec![1],
        no_reference: false,
        routes: Vec::new(),
    };
    let report = bench.run().unwrap();
    let (squint, reference) = (&report["squint"], &report["reference"]);
    assert_eq!(report["same_frames"], true, "{report}");
    assert_eq!(squint["frames"], 40, "{report}");
    let faces = |side: &serde_json::Value| side["faces"].as_u64().unwrap();
    assert!(faces(squint) > 40, "the scene has faces: {report}");
    let (a, b) = (faces(squint) as f64, faces(reference) as f64);
    assert!(
        (a - b).abs() <= 0.05 * a.max(b),
        "same detector settings, same faces: {report}"
    );
    assert_eq!(squint["embedded"], squint["faces"], "--every-face embeds them all");
}

#[test]
fn two_detect_threads_see_every_frame_and_find_the_same_faces() {
    let work = tempfile::tempdir().unwrap();
    let bench = PipelineBench {
        cameras: 2,
        frames: 20,
        work: work.path().to_path_buf(),
        python: Default::default(),
        reference_models: Default::default(),
        repo: testing::repo(),
        realtime: false,
        every_face: true,
        detect_workers: vec![1, 2],
        no_reference: true,
        routes: Vec::new(),
    };
    let report = bench.run().unwrap();
    assert!(report.get("reference").is_none(), "{report}");
    let runs = report["detect_workers"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    assert_eq!(runs[1]["detect_workers"], 2, "{report}");
    for run in runs {
        assert_eq!(run["frames"], 40, "files lose no frame: {report}");
    }
    let faces = |run: &serde_json::Value| run["faces"].as_u64().unwrap() as f64;
    assert!(faces(&runs[0]) > 40.0, "the scene has faces: {report}");
    assert!(
        (faces(&runs[0]) - faces(&runs[1])).abs() <= 0.02 * faces(&runs[0]),
        "the same frames, the same faces, however many threads: {report}"
    );
}
