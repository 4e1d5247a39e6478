#!/usr/bin/env python3
"""Turns bench_cache JSON (--benchmark_out=x.json) into the markdown tables of
bench/README.md: ops/s per table side by side, the ratios the issue asks for, and memory
overhead per item. Usage: summarize.py results.json"""
import json
import sys
from collections import defaultdict


def main(path):
    runs = json.load(open(path))["benchmarks"]
    rate = {}
    ovh = {}
    for r in runs:
        if r.get("run_type") == "aggregate":
            continue
        name = r["name"].split("/")
        table, op, keys, val, dist, mode = name[:6]
        threads = r["name"].split("threads:")[1]
        rate[(table, op, keys, val, dist, mode, threads)] = r["items_per_second"]
        ovh[(table, keys, val)] = (r["ovh_B"], r["rss_ovh_B"])
    rows = sorted({k[1:] for k in rate}, key=lambda k: (k[1][:-1].zfill(3), k[2].zfill(5), k[0], k[3], k[5], k[4]))
    print("| op | keys | value | dist | threads | mode | anvil Mops/s | tbb_chm Mops/s | umap+shmtx Mops/s | anvil/tbb |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for op, keys, val, dist, mode, th in rows:
        a = rate.get(("anvil", op, keys, val, dist, mode, th))
        t = rate.get(("tbb_chm", op, keys, val, dist, "single", th))
        u = rate.get(("umap_shmtx", op, keys, val, dist, "single", th))
        f = lambda x: f"{x / 1e6:.2f}" if x else "-"
        ratio = f"{a / t:.2f}x" if a and t else "-"
        if mode != "single":
            t = u = None
            ratio = f"{a / rate[('anvil', op, keys, val, dist, 'single', th)]:.2f}x vs single"
        print(f"| {op} | {keys} | {val} | {dist} | {th} | {mode} | {f(a)} | {f(t)} | {f(u)} | {ratio} |")
    print()
    print("| table | keys | value | overhead B/item (own accounting) | overhead B/item (RSS delta) |")
    print("|---|---|---|---|---|")
    for (table, keys, val), (o, r) in sorted(ovh.items(), key=lambda kv: (kv[0][1][:-1].zfill(3), kv[0][2].zfill(5), kv[0][0])):
        own = f"{o:.1f}" if table == "anvil" else "-"
        print(f"| {table} | {keys} | {val} | {own} | {r:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
