#!/usr/bin/env python3
"""Text against binary on each server, from compare.sh's per-point files in OUT
(SERVER-binary-cN.json, SERVER-text-cN.json): throughput and p99 ratios text / binary.
Issue 16 asks anvil's text throughput to be within 10% of its binary throughput."""
import json
import sys


def load(out, name, c):
    try:
        with open(f"{out}/{name}-c{c}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cell(j):
    if not j:
        return "- / -"
    return f"{j['throughput_rps']:,.0f} / {j['latency_us']['all']['p99']:.0f}"


def ratio(t, b, key):
    if not t or not b:
        return "-"
    tv = t["throughput_rps"] if key == "tput" else t["latency_us"]["all"]["p99"]
    bv = b["throughput_rps"] if key == "tput" else b["latency_us"]["all"]["p99"]
    return f"{tv / bv:.2f}" if bv else "-"


def main():
    out, conns = sys.argv[1], sys.argv[2].split()
    print("| conns | anvil binary req/s / p99 us | anvil text | text/binary req/s | text/binary p99 "
          "| memcached binary | memcached text | text/binary req/s | text/binary p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in conns:
        ab, at = load(out, "anvil-binary", c), load(out, "anvil-text", c)
        mb, mt = load(out, "memcached-binary", c), load(out, "memcached-text", c)
        print(f"| {c} | {cell(ab)} | {cell(at)} | {ratio(at, ab, 'tput')} | {ratio(at, ab, 'p99')} "
              f"| {cell(mb)} | {cell(mt)} | {ratio(mt, mb, 'tput')} | {ratio(mt, mb, 'p99')} |")
    print()
    print("text/binary req/s: throughput of memcache_text over memcache_binary on the same "
          "server instance (>= 0.90 is issue 16's bar for anvil); p99: the same for latency "
          "(< 1: text lower).")


if __name__ == "__main__":
    main()
