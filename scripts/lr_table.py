#!/usr/bin/env python3
"""Markdown tables of the low-resolution recipes on the test side, from `squint eval --json`
reports (any number; rows of the same recognizer and size from several files are merged):

  recipes  rank-1 and TAR@1e-3 per face width, detected landmarks, single frames, and oracle
           rank-1, one line per set and recognizer
  tracks   track rank-1, TAR@1e-3 and DIR@1e-2 at N frames per probe (detected landmarks)
  alpha    the weight-interpolation curve: rank-1 / TAR@1e-3 (detected, single frames) per α
           on the validation report and the test report side by side, with 90 % intervals
  choose   the α the validation report supports (detected landmarks, single frames): the
           highest mean of rank-1 and TAR@1e-3 over 12 and 16 px; ties go to the smaller α.
           Prints {"alpha": ..., "recognizer": ..., "score": ...} as JSON.
  best     `choose` over several runs' lines (TUNED_ID=VALIDATION.json each): the run and α
           with the highest score, with every run's own choice. Prints JSON.

    scripts/lr_table.py recipes|tracks EVAL.json [EVAL.json ...]
    scripts/lr_table.py alpha TUNED_ID VALIDATION.json TEST.json
    scripts/lr_table.py choose TUNED_ID VALIDATION.json
    scripts/lr_table.py best TUNED_ID=VALIDATION.json [TUNED_ID=VALIDATION.json ...]

Recognizer ids give α: SFace (sface-2021dec) is 0, TUNED_ID is 1, `TUNED_ID-a0.3` is 0.3
(the ids `squint blend` writes).
"""
import json
import re
import sys

SFACE = "sface-2021dec"
CHOICE_SIZES = (12, 16)


def pct(row, key):
    value = row[key] if key == "rank1" else row[key]["rate"]
    return "n/a" if value is None else f"{100 * value:.1f}"


def rows_of(paths):
    rows = {}
    for path in paths:
        for row in json.load(open(path))["rows"]:
            if row["gallery"] != "single":
                continue
            key = (row["set"], row["recognizer"], row["px"], row.get("frames", 1), row["alignment"])
            rows[key] = row
    return rows


def recipes(rows):
    sets = sorted({k[0] for k in rows})
    for name in sets:
        keys = [k for k in rows if k[0] == name and k[3] == 1]
        sizes = sorted({k[2] for k in keys})
        models = sorted({k[1] for k in keys}, key=lambda m: (m != "sface-2021dec", m))
        header = " / ".join(f"{px}" for px in sizes)
        print(f"\n**{name}** (px: {', '.join(map(str, sizes))})\n")
        print(f"| recognizer | rank-1 det: {header} | TAR@1e-3 det: {header} | rank-1 oracle: {header} |")
        print("|---|---:|---:|---:|")
        for model in models:
            get = lambda px, a: rows.get((name, model, px, 1, a))
            det = [pct(get(px, "detected"), "rank1") for px in sizes]
            tar = [pct(get(px, "detected"), "tar_far_1e3") for px in sizes]
            ora = [pct(get(px, "oracle"), "rank1") for px in sizes]
            print(f"| {model} | {' / '.join(det)} | {' / '.join(tar)} | {' / '.join(ora)} |")


def tracks(rows):
    for name in sorted({k[0] for k in rows}):
        keys = [k for k in rows if k[0] == name and k[4] == "detected"]
        frames = sorted({k[3] for k in keys})
        if frames == [1]:
            continue
        sizes = sorted({k[2] for k in keys})
        models = sorted({k[1] for k in keys}, key=lambda m: (m != "sface-2021dec", m))
        print(f"\n**{name}**, detected landmarks: rank-1 / TAR@1e-3 / DIR@1e-2 at N = {', '.join(map(str, frames))}\n")
        print("| px | recognizer | " + " | ".join(f"N = {n}" for n in frames) + " |")
        print("|---:|---|" + "---|" * len(frames))
        for px in sizes:
            for model in models:
                cells = []
                for n in frames:
                    row = rows.get((name, model, px, n, "detected"))
                    cells.append("n/a" if row is None else " / ".join(pct(row, k) for k in ("rank1", "tar_far_1e3", "dir_far_1e2")))
                print(f"| {px} | {model} | " + " | ".join(cells) + " |")


def alpha_of(recognizer, tuned):
    if recognizer == SFACE:
        return 0.0
    if recognizer == tuned:
        return 1.0
    match = re.fullmatch(re.escape(tuned) + r"-a([0-9.]+)", recognizer)
    return float(match.group(1)) if match else None


def curve(rows, tuned):
    """{alpha: {px: row}} of the detected, single-frame rows of one report (one set)."""
    out = {}
    for (_, model, px, frames, alignment), row in rows.items():
        alpha = alpha_of(model, tuned)
        if alpha is not None and frames == 1 and alignment == "detected":
            out.setdefault(alpha, {})[px] = row
    return out


def with_interval(row, key):
    if row is None:
        return "n/a"
    ci = row.get(key + "_ci90")
    span = f" [{100 * ci[0]:.0f}–{100 * ci[1]:.0f}]" if ci else ""
    return pct(row, key) + span


def alpha_table(tuned, validation, test):
    val, tst = curve(rows_of([validation]), tuned), curve(rows_of([test]), tuned)
    val_sizes = sorted({px for rows in val.values() for px in rows})
    test_sizes = sorted({px for rows in tst.values() for px in rows})
    head = [f"val {px} px" for px in val_sizes] + [f"test {px} px" for px in test_sizes]
    print("\nrank-1 / TAR@1e-3 (detected landmarks, single frames), [90 % interval over people]\n")
    print("| α | " + " | ".join(head) + " |")
    print("|---:|" + "---|" * len(head))
    for alpha in sorted(set(val) | set(tst)):
        cells = []
        for side, sizes in ((val, val_sizes), (tst, test_sizes)):
            for px in sizes:
                row = side.get(alpha, {}).get(px)
                cells.append(f"{with_interval(row, 'rank1')} / {with_interval(row, 'tar_far_1e3')}")
        print(f"| {alpha:g} | " + " | ".join(cells) + " |")


def chosen(tuned, validation):
    """(alpha, recognizer, score) of the best point of TUNED's line in VALIDATION, or None."""
    val = curve(rows_of([validation]), tuned)
    best = None
    for alpha in sorted(val):
        rows = val[alpha]
        if any(px not in rows for px in CHOICE_SIZES):
            continue
        values = [rows[px]["rank1"] for px in CHOICE_SIZES]
        values += [rows[px]["tar_far_1e3"]["rate"] or 0.0 for px in CHOICE_SIZES]
        score = sum(values) / len(values)
        if best is None or score > best[2] + 1e-12:
            best = (alpha, rows[CHOICE_SIZES[0]]["recognizer"], score)
    return best


def choose(tuned, validation):
    best = chosen(tuned, validation)
    if best is None:
        sys.exit(f"no recognizer of the {tuned} line has rows at {CHOICE_SIZES} px in {validation}")
    print(json.dumps({"alpha": best[0], "recognizer": best[1], "score": best[2], "sizes": CHOICE_SIZES}))


def best_of(runs):
    choices = {}
    for run in runs:
        tuned, validation = run.split("=", 1)
        found = chosen(tuned, validation)
        if found is None:
            sys.exit(f"no recognizer of the {tuned} line has rows at {CHOICE_SIZES} px in {validation}")
        choices[tuned] = {"alpha": found[0], "recognizer": found[1], "score": found[2]}
    # Ties go to the run named first (the incumbent).
    winner = max(choices, key=lambda t: (choices[t]["score"], -list(choices).index(t)))
    print(json.dumps({"run": winner, **choices[winner], "runs": choices}))


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command in ("recipes", "tracks") and len(sys.argv) >= 3:
        rows = rows_of(sys.argv[2:])
        (recipes if command == "recipes" else tracks)(rows)
    elif command == "alpha" and len(sys.argv) == 5:
        alpha_table(*sys.argv[2:])
    elif command == "choose" and len(sys.argv) == 4:
        choose(*sys.argv[2:])
    elif command == "best" and len(sys.argv) >= 3:
        best_of(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
