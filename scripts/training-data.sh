# Sourced by train-student.sh and train-refiner.sh: the training data both make from the
# registry face data, each step skipped when an earlier run left its result in DIR.
# Needs SQUINT, SQUINT_FACES and a `log` function.

# ensure_split DIR: the identity-disjoint train / validation / test split of CelebA.
ensure_split() {
  if [[ ! -f "$1/split/split.json" ]]; then
    log "identity-disjoint split"
    "$SQUINT" split-faces --pool "$SQUINT_FACES/celeba/singles" \
      --held-out "$SQUINT_FACES/celeba/repeats" --held-out "$SQUINT_FACES/olivetti" \
      --held-out "$SQUINT_FACES/demo" --test 200 --val 100 --near-duplicate 0.6 --out "$1/split"
  fi
}

# ensure_synth DIR: 4,000 DCGAN faces (photos and aligned crops).
ensure_synth() {
  if [[ ! -d "$1/synth/aligned" ]]; then
    log "synthetic faces"
    "$SQUINT" synth-faces --count 4000 --seed 1 --out "$1/synth"
  fi
}

# ensure_morphs DIR: 4,000 morphs of pairs of training faces.
ensure_morphs() {
  if [[ ! -f "$1/morphs/morph-003999.png" ]]; then
    log "morphs of training faces"
    "$SQUINT" morph-faces --data "$1/split/train" --count 4000 --seed 1 --out "$1/morphs" > /dev/null
  fi
}
