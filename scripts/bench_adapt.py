"""Measures adaptive BN (`squint adapt`) on a synthetic camera: every harvested crop made
darker and flatter (contrast x0.6, brightness -40) and reduced to 24 px. For the original and
the adapted model: mean cosine of the camera crop's embedding to SFace's embedding of the
sharp crop, and rank-1 against per-person centroids of those sharp embeddings (the gallery).

    python bench_adapt.py CROPS CAMERA_DIR MODEL.card.toml ADAPTED.card.toml [...pairs]

Called by scripts/bench-adapt.sh, which makes the camera crops and the adapted models.
"""
import glob
import json
import os
import sys
import tomllib

import cv2
import numpy as np
import onnxruntime as ort


def embed(card_path, images):
    card = tomllib.load(open(card_path, "rb"))
    model = os.path.join(os.path.dirname(card_path), card["file"])
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    size = card["input_size"][0]
    mean, std = np.array(card.get("mean", [0, 0, 0]), np.float32), np.array(card.get("std", [1, 1, 1]), np.float32)
    batch = []
    for image in images:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        if card["color"] == "RGB":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        x = (image.astype(np.float32) * card.get("scale", 1.0) - mean) / std
        batch.append(x.transpose(2, 0, 1))
    x = np.stack(batch)
    out = np.concatenate([session.run(None, {card["input"]: x[k:k + 64]})[0] for k in range(0, len(x), 64)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def person(path):
    # <photo>-<face>[-a<copy>]: one face of one photo is one person, except that the demo
    # photos hold three photos of the same man (obama, obama2, obama3).
    photo, face = os.path.splitext(os.path.basename(path))[0].split("-")[:2]
    return ("obama" if photo.startswith("obama") else photo) + "-" + face


def main():
    crops, camera, teacher_card = sys.argv[1], sys.argv[2], sys.argv[3]
    pairs = sys.argv[4:]
    files = sorted(glob.glob(os.path.join(crops, "*.png")))
    sharp = [cv2.imread(f) for f in files]
    seen = [cv2.imread(os.path.join(camera, os.path.basename(f))) for f in files]
    teacher = embed(teacher_card, sharp)
    people = np.array([person(f) for f in files])
    names = sorted(set(people))
    gallery = np.stack([teacher[people == n].mean(0) for n in names])
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    rows = []
    for card in pairs:
        probe = embed(card, seen)
        rank1 = (np.array(names)[(probe @ gallery.T).argmax(1)] == people).mean()
        rows.append({"model": card, "cosine_to_teacher_hr": float((teacher * probe).sum(1).mean()),
                     "rank1": float(rank1), "people": len(names), "crops": len(files)})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
