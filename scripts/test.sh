#!/usr/bin/env bash
# Sets up, builds and runs every test (CTest). CI runs exactly this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
"$root/scripts/fetch-default-model.sh" >/dev/null
cd "$root/build"
ctest --output-on-failure -j2
