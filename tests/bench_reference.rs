//! The end-to-end benchmark compares like with like: Squint and the OpenCV Python reference
//! (scripts/reference_pipeline.py, set up by `scripts/setup.sh --reference`) get the same
//! frames of the same scene and find the same faces in them.

use squint::bench::pipeline::PipelineBench;
use squint::testing;

#[test]
fn squint_and_the_reference_process_the_same_frames() {
    let work = tempfile::tempdir().unwrap();
    let bench = PipelineBench {
        cameras: 1,
        frames: 20,
        work: work.path().to_path_buf(),
        python: testing::venv_python(),
        reference_models: testing::reference_models(),
        repo: testing::repo(),
        realtime: false,
        every_face: true,
    };
    let report = bench.run().unwrap();
    let (squint, reference) = (&report["squint"], &report["reference"]);
    assert_eq!(report["same_frames"], true, "{report}");
    assert_eq!(squint["frames"], 20, "{report}");
    let faces = |side: &serde_json::Value| side["faces"].as_u64().unwrap();
    assert!(faces(squint) > 20, "the scene has faces: {report}");
    let (a, b) = (faces(squint) as f64, faces(reference) as f64);
    assert!(
        (a - b).abs() <= 0.05 * a.max(b),
        "same detector settings, same faces: {report}"
    );
    assert_eq!(squint["embedded"], squint["faces"], "--every-face embeds them all");
}
