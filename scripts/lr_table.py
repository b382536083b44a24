#!/usr/bin/env python3
"""Markdown tables of the low-resolution recipes on the test side, from `squint eval --json`
reports (any number; rows of the same recognizer and size from several files are merged):

  recipes  rank-1 and TAR@1e-3 per face width, detected landmarks, single frames, and oracle
           rank-1, one line per set and recognizer
  tracks   track rank-1, TAR@1e-3 and DIR@1e-2 at N frames per probe (detected landmarks)

    scripts/lr_table.py recipes|tracks EVAL.json [EVAL.json ...]
"""
import json
import sys


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


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("recipes", "tracks"):
        sys.exit(__doc__)
    rows = rows_of(sys.argv[2:])
    (recipes if sys.argv[1] == "recipes" else tracks)(rows)


if __name__ == "__main__":
    main()
