#!/usr/bin/env python3
"""The refiner's test table: `squint eval` without and with the refiner (same seed, so the same
probe frames), per recognizer and width: rank-1, TAR@1e-3 with 90 % intervals, and the mean
landmark error, detected | refined | oracle.

    scripts/refiner_table.py DETECTOR.json REFINED.json
"""
import json
import sys


def rows(path):
    with open(path) as f:
        report = json.load(f)
    return {(r["recognizer"], r["px"], r["alignment"]): r for r in report["rows"] if r["frames"] == 1}


def pct(row, key, ci=None):
    value = row[key] if key == "rank1" else row[key]["rate"]
    text = f"{100 * value:.1f}"
    if ci and row.get(ci):
        low, high = row[ci]
        text += f" [{100 * low:.0f}, {100 * high:.0f}]"
    return text


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    detector, refined = rows(sys.argv[1]), rows(sys.argv[2])
    print("| recognizer | px | rank-1 detected / refined / oracle % | TAR@1e-3 detected / refined / oracle % | landmark error detected / refined px |")
    print("|---|---:|---|---|---|")
    for (recognizer, px, alignment), det in sorted(detector.items()):
        if alignment != "detected" or (recognizer, px, "detected") not in refined:
            continue
        ref = refined[(recognizer, px, "detected")]
        oracle = detector[(recognizer, px, "oracle")]
        errors = f"{det['landmark_error_px']:.2f} / {ref['landmark_error_px']:.2f}"
        print(
            f"| {recognizer} | {px} | {pct(det, 'rank1', 'rank1_ci90')} / {pct(ref, 'rank1', 'rank1_ci90')} / {pct(oracle, 'rank1')} "
            f"| {pct(det, 'tar_far_1e3', 'tar_far_1e3_ci90')} / {pct(ref, 'tar_far_1e3', 'tar_far_1e3_ci90')} / {pct(oracle, 'tar_far_1e3')} "
            f"| {errors} |"
        )


if __name__ == "__main__":
    main()
