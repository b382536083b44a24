"""The reference Squint is measured against: the same job written the way one would with
OpenCV's Python API — cv2.FaceDetectorYN and cv2.FaceRecognizerSF in a loop over the
cameras' frames, matching each face against a gallery by cosine similarity.

Prints one JSON object: frames, faces, seconds, per-face latency percentiles (from the frame's
read, or with --realtime from the moment the frame was due, to the match) and identity counts. Run by `squint bench-pipeline` (scripts/bench-pipeline.sh).
"""
import argparse
import json
import time

import cv2
import numpy as np


def largest_face(detector, image):
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, faces = detector.detect(image)
    if faces is None or len(faces) == 0:
        return None
    return max(faces, key=lambda f: f[2] * f[3])


def embed(recognizer, image, face):
    feature = recognizer.feature(recognizer.alignCrop(image, face)).flatten()
    return feature / np.linalg.norm(feature)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", required=True)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--detector", required=True)
    parser.add_argument("--recognizer", required=True)
    parser.add_argument("--person", action="append", default=[], help="NAME=PHOTO")
    parser.add_argument("--score", type=float, default=0.6)
    parser.add_argument("--nms", type=float, default=0.3)
    parser.add_argument("--min-face", type=float, default=8.0)
    parser.add_argument("--threshold", type=float, default=0.30)
    parser.add_argument("--realtime", action="store_true", help="read frames at the video's frame rate")
    args = parser.parse_args()

    detector = cv2.FaceDetectorYN.create(args.detector, "", (320, 320), args.score, args.nms, 5000)
    recognizer = cv2.FaceRecognizerSF.create(args.recognizer, "")
    names, templates = [], []
    for spec in args.person:
        name, path = spec.split("=", 1)
        photo = cv2.imread(path)
        face = largest_face(detector, photo)
        if face is not None:
            names.append(name)
            templates.append(embed(recognizer, photo, face))
    gallery = np.stack(templates)

    captures = [cv2.VideoCapture(args.video) for _ in range(args.cameras)]
    fps = captures[0].get(cv2.CAP_PROP_FPS) or 25.0
    frames = faces = 0
    latencies, identities = [], {}
    started = time.perf_counter()
    active = list(range(args.cameras))
    tick = 0
    while active:
        due = started + tick / fps
        if args.realtime:
            # Like a live camera: the next frame exists only from its time on, and a loop
            # that falls behind makes every later frame older.
            time.sleep(max(0.0, due - time.perf_counter()))
        tick += 1
        for index in list(active):
            ok, frame = captures[index].read()
            if not ok:
                active.remove(index)
                continue
            read_at = due if args.realtime else time.perf_counter()
            detector.setInputSize((frame.shape[1], frame.shape[0]))
            _, found = detector.detect(frame)
            frames += 1
            for face in [] if found is None else found:
                if face[2] < args.min_face:
                    continue
                similarities = gallery @ embed(recognizer, frame, face)
                best = int(np.argmax(similarities))
                name = names[best] if similarities[best] >= args.threshold else "unknown"
                identities[name] = identities.get(name, 0) + 1
                faces += 1
                latencies.append(time.perf_counter() - read_at)
    seconds = time.perf_counter() - started
    ms = sorted(l * 1000 for l in latencies) or [0.0]
    pick = lambda q: ms[round((len(ms) - 1) * q)]
    print(json.dumps({
        "implementation": f"python {cv2.__version__} FaceDetectorYN + FaceRecognizerSF, one loop",
        "cameras": args.cameras, "frames": frames, "faces": faces, "seconds": seconds,
        "frames_per_s": frames / seconds, "faces_per_s": faces / seconds,
        "latency_ms": {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": ms[-1]},
        "identities": identities,
    }))


if __name__ == "__main__":
    main()
