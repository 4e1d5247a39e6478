#!/usr/bin/env python3
"""Prints compare.sh's side-by-side table (markdown) from the per-point files in OUT:
SERVER-cN.json (anvil-loadgen's JSON) and SERVER-cN.cpu ("server_ns requests window_ns")."""
import json
import sys


def load(out, server, c):
    try:
        with open(f"{out}/{server}-c{c}.json") as f:
            j = json.load(f)
        with open(f"{out}/{server}-c{c}.cpu") as f:
            ns, reqs, window = (int(x) for x in f.read().split())
        j["cpu_ns"] = ns / reqs if reqs > 0 and ns > 0 else None
        # Busy share over the load generator's run (anvil's counter window is wider but
        # has no busy cycles outside the load).
        wall = j["client_wall_s"] * 1e9 or window
        j["server_busy"] = ns / wall if wall > 0 else None
        j["client_busy"] = j["client_cpu_s"] / j["client_wall_s"] if j["client_wall_s"] else None
        return j
    except (OSError, ValueError, KeyError):
        return None


def tput(j):
    return f"{j['throughput_rps']:,.0f}" if j else "-"


def lat(j):
    if not j:
        return "-"
    a = j["latency_us"]["all"]
    return f"{a['p50']:.0f} / {a['p99']:.0f} / {a['p999']:.0f}"


def cpu(j):
    return f"{j['cpu_ns']:,.0f}" if j and j["cpu_ns"] else "-"


def busy(j):
    if not j or j["server_busy"] is None:
        return "-"
    return f"{100 * j['server_busy']:.0f}% / {100 * j['client_busy']:.0f}%"


def errs(j):
    return str(j["errors"]["total"]) if j else "-"


def main():
    out, conns, why = sys.argv[1], sys.argv[2].split(), sys.argv[3] if len(sys.argv) > 3 else ""
    suffix = sys.argv[4] if len(sys.argv) > 4 else ""  # "-text": SERVER-text-cN files
    print("| conns | memcached req/s | anvil req/s | ratio | memcached p50 / p99 / p99.9 us "
          "| anvil p50 / p99 / p99.9 us | p99 ratio | memcached CPU ns/req | anvil busy ns/req "
          "| CPU ratio | server / client CPU busy, m | same, a | errors m / a |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in conns:
        m, a = load(out, "memcached" + suffix, c), load(out, "anvil" + suffix, c)
        ratio = p99r = cpur = "-"
        if m and a:
            if m["throughput_rps"]:
                ratio = f"{a['throughput_rps'] / m['throughput_rps']:.2f}x"
            if m["latency_us"]["all"]["p99"]:
                p99r = f"{a['latency_us']['all']['p99'] / m['latency_us']['all']['p99']:.2f}"
            if m["cpu_ns"] and a["cpu_ns"]:
                cpur = f"{m['cpu_ns'] / a['cpu_ns']:.2f}x"
        print(f"| {c} | {tput(m)} | {tput(a)} | {ratio} | {lat(m)} | {lat(a)} | {p99r} "
              f"| {cpu(m)} | {cpu(a)} | {cpur} | {busy(m)} | {busy(a)} | {errs(m)} / {errs(a)} |")
    print()
    print("ratio: anvil / memcached throughput. p99 ratio: anvil / memcached (< 1: anvil lower). "
          "CPU ratio: memcached / anvil server ns per request (> 1: anvil cheaper), i.e. the "
          "ratio of requests per server core-second. CPU busy: server run time (memcached) or "
          "busy-cycle share of the lcore (anvil) over the point, and the load generator's "
          "own CPU time over its run.")
    if why:
        print(f"anvil: not measured ({why})")


if __name__ == "__main__":
    main()
