#!/usr/bin/env python3
"""The large-gallery table from `squint bench-gallery` JSON: per size, exact matching against
the HNSW index at each search width.

    scripts/gallery_table.py REPORT.json
"""
import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        report = json.load(f)
    print(f"{report['real_probes']} real probes of {report['real_people']} people, "
          f"{report['unmated_probes']} synthetic strangers; candidates {report['candidates']}\n")
    print("| identities | exact p50 / p99 ms | efSearch | index p50 / p99 ms | recall@1 real (mated) | "
          "recall@1 above 0.3 | recall@1 strangers |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in report["sizes"]:
        for search in size["searches"]:
            print(f"| {size['identities']:,} | {size['exact_p50_ms']:.2f} / {size['exact_p99_ms']:.2f} | "
                  f"{search['expansion']} | {search['p50_ms']:.2f} / {search['p99_ms']:.2f} | "
                  f"{search['recall_real']:.3f} ({search['recall_mated']:.3f}) | {search['recall_decided']:.3f} | "
                  f"{search['recall_unmated']:.3f} |")
    print("\n| identities | write s | exact load s | index build s | start-up with index s | "
          "raw MiB | matcher MiB | index MiB | (matcher + index) / raw | index file MiB | enrolment → matched s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in report["sizes"]:
        print(f"| {s['identities']:,} | {s['gallery_write_s']:.1f} | {s['exact_load_s']:.2f} | {s['index_build_s']:.1f} | "
              f"{s['indexed_startup_s']:.2f} | {s['raw_embeddings_mib']:.0f} | {s['matcher_mib']:.0f} | "
              f"{s['index_mib']:.0f} | {s['memory_ratio']:.2f} | {s['index_file_mib']:.0f} | "
              f"{s['enrolment_to_match_s']:.2f} |")
    print("\n| identities | stranger best p90 / p99, real | synthetic | model (real impostors) at 0.1 / 0.01 |")
    print("|---:|---:|---:|---:|")
    model = report["impostor_real"]
    for s in report["sizes"]:
        b = s["stranger_best"]
        print(f"| {s['identities']:,} | {b['real_p90']:.3f} / {b['real_p99']:.3f} | "
              f"{b['synthetic_p90']:.3f} / {b['synthetic_p99']:.3f} | "
              f"{threshold(model, 0.1, s['identities']):.3f} / {threshold(model, 0.01, s['identities']):.3f} |")


def threshold(model, rate, n):
    from statistics import NormalDist
    single = -__import__("math").expm1(__import__("math").log1p(-rate) / n)
    return model["mean"] + model["sd"] * NormalDist().inv_cdf(1 - single)


if __name__ == "__main__":
    main()
