#!/usr/bin/env bash
# clang-format check and clang-tidy over the project's own sources (not tests' fixtures
# generated elsewhere). Uses build/compile_commands.json from `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc')
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run -Werror "${files[@]}"
mapfile -t units < <(git ls-files '*.cc' | grep -vE '^(tests|bench)/.*fuzz')
echo "lint: clang-tidy on ${#units[@]} translation units"
printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet
echo "lint: clean"
