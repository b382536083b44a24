#!/usr/bin/env python3
"""Markdown table of `squint distill` runs: held-out (validation side) student↔teacher(HR)
cosine per probe size next to the teacher fed the same probe up-sampled.

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
    print(f"| run | train people | synthetic | params | steps×batch | s/epoch | peak MiB | {header} |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(sizes))
    teacher = None
    for name, report, validation, epochs in rows:
        teacher = teacher or validation
        cells = " | ".join(f"{row['student']:.3f}" for row in validation)
        seconds = sum(e["seconds"] for e in epochs) / max(len(epochs), 1)
        peak = max((e.get("peak_memory_mib", 0) for e in epochs), default=0)
        print(
            f"| {name} | {report['train_crops']} | {report.get('synthetic_crops', 0)} | "
            f"{report['parameters']} | {len(epochs)} epochs | {seconds:.1f} | {peak:.0f} | {cells} |"
        )
    cells = " | ".join(f"{row['teacher_upsampled']:.3f}" for row in teacher)
    print(f"| SFace, probe up-sampled | | | | | | | {cells} |")


if __name__ == "__main__":
    main()
