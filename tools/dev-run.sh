#!/usr/bin/env bash
# `make run`: start the appliance in AF_PACKET dev mode on a dev network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x build/control/anvil ]]; then
  echo "make run: build/control/anvil is missing (ninja -C build control/anvil io/anvil-iod)" >&2
  exit 1
fi
exec tools/netns/dev-up.sh
