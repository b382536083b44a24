#!/usr/bin/env python3
"""Markdown table of `squint distill` runs on the validation side, per probe size:
identification rank-1 among the held-out faces (the probe against every held-out face's sharp
teacher embedding) and student↔teacher(HR) cosine, next to the teacher fed the same probe
up-sampled.

    scripts/student_table.py RUN_DIR    # every RUN_DIR/*/report.json
"""
import json
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1])
    reports = sorted(root.glob("*/report.json"))
    if not reports:
        sys.exit(f"no */report.json under {root}")
    rows = []
    sizes = None
    for path in reports:
        report = json.loads(path.read_text())
        validation = report["validation"]
        sizes = sizes or [row["probe_px"] for row in validation]
        epochs = report["epochs"]
        rows.append((path.parent.name, report, validation, epochs))
    header = " | ".join(f"{px} px" for px in sizes)
    print(f"| run | train people | synthetic | params | epochs | s/epoch | peak MiB | rank-1: {header} | cosine: {header} |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(sizes)))
    teacher = None
    for name, report, validation, epochs in rows:
        teacher = teacher or validation
        rank1 = " | ".join(f"{row.get('student_rank1', float('nan')):.2f}" for row in validation)
        cosine = " | ".join(f"{row['student']:.3f}" for row in validation)
        seconds = sum(e["seconds"] for e in epochs) / max(len(epochs), 1)
        peak = max((e.get("peak_memory_mib", 0) for e in epochs), default=0)
        print(
            f"| {name} | {report['train_crops']} | {report.get('synthetic_crops', 0)} | "
            f"{report['parameters']} | {len(epochs)} | {seconds:.1f} | {peak:.0f} | {rank1} | {cosine} |"
        )
    rank1 = " | ".join(f"{row.get('teacher_rank1', float('nan')):.2f}" for row in teacher)
    cosine = " | ".join(f"{row['teacher_upsampled']:.3f}" for row in teacher)
    print(f"| SFace, probe up-sampled | | | | | | | {rank1} | {cosine} |")


if __name__ == "__main__":
    main()
