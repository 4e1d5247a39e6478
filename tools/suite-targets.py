#!/usr/bin/env python3
"""Print the ninja targets (paths relative to the build dir) that the tests of the given
meson suites need, so a sanitizer build compiles only what it runs.
    suite-targets.py BUILD_DIR SUITE [SUITE ...]"""
import json
import os
import subprocess
import sys


def introspect(build_dir, what):
    out = subprocess.run(["meson", "introspect", build_dir, what],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build_dir, suites = sys.argv[1], set(sys.argv[2:])
    build_abs = os.path.abspath(build_dir)
    targets = {t["id"]: t["filename"] for t in introspect(build_dir, "--targets")}
    wanted = set()
    for test in introspect(build_dir, "--tests"):
        # meson prefixes suite names with the project name: "anvil:unit".
        if not suites & {s.split(":")[-1] for s in test["suite"]}:
            continue
        for dep in test.get("depends", []):
            wanted.update(targets.get(dep, []))
        exe = test["cmd"][0]
        if os.path.abspath(exe).startswith(build_abs + os.sep):
            wanted.add(exe)
    for path in sorted(wanted):
        print(os.path.relpath(path, build_abs))


if __name__ == "__main__":
    main()
