#!/usr/bin/env bash
# Quality of GPTQ against round-to-nearest (RTN, llama-quantize's) and imatrix-weighted RTN, for
# the same GGUF types, on real models: calibration text and held-out evaluation text differ.
# For each model and type it writes three GGUFs and prints one row: the float model's
# perplexity, then RTN, imatrix-RTN and GPTQ perplexity (llamacpp protocol). Measures, never gates.
#
#   bench/gptq_quality.sh                     uses build/lowbit; all models and types
#   TYPES="Q4_0 Q4_K_M" MODELS=tinystories bench/gptq_quality.sh
#   SAMPLES=128 LEN=512 CHUNKS=40 bench/gptq_quality.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lowbit=${LOWBIT:-$root/build/lowbit}
shared=${LOWBIT_SHARED:-$root/../shared}
types=${TYPES:-"Q2_K Q3_K_M Q4_0 Q4_K_M INT4-g32 INT4-g128"}
models=${MODELS:-"tinystories stories260k smollm2"}
samples=${SAMPLES:-128}
len=${LEN:-256}
chunks=${CHUNKS:-40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|model|calibration text|evaluation text|ctx
declare -A spec=(
  [tinystories]="$shared/models/tinystories-656k-hf|$shared/data/tinystories/tinystories_train_head.txt|$shared/data/tinystories/tinystories_validation_head.txt|256"
  [stories260k]="$shared/models/stories260K-llama2c/stories260K.bin|$shared/data/tinystories/tinystories_train_head.txt|$shared/data/tinystories/tinystories_validation_head.txt|256"
  [smollm2]="$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf|$shared/data/wikitext-2-raw/wiki.train.head1018.raw|$shared/data/wikitext-2-raw/wiki.test.raw|512"
)

ppl() { # model text ctx
  "$lowbit" ppl "$1" --text "$2" --ctx "$3" --chunks "$chunks" --json 2>/dev/null |
    python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}

printf "%-12s %-9s %10s %10s %12s %10s %8s\n" model type float rtn imatrix-rtn gptq "gptq s"
for name in $models; do
  IFS='|' read -r model calib eval ctx <<<"${spec[$name]}"
  [ -e "$model" ] || { echo "skipping $name: $model missing" >&2; continue; }
  base=$(ppl "$model" "$eval" "$ctx")
  "$lowbit" imatrix "$model" --text "$calib" -o "$work/$name.imatrix.gguf" --ctx "$len" --chunks "$samples" >/dev/null 2>&1
  for t in $types; do
    # INT4-g128: group-wise integers (simulated F32 file), no imatrix variant
    if [[ $t =~ ^(INT[0-9])-g([0-9]+)$ ]]; then
      targs=(--type "${BASH_REMATCH[1]}" --group-size "${BASH_REMATCH[2]}")
    else
      targs=(--type "$t")
    fi
    "$lowbit" quantize "$model" -o "$work/rtn.gguf" "${targs[@]}" >/dev/null 2>&1
    im=n/a
    if [[ $t != INT* ]]; then
      "$lowbit" quantize "$model" -o "$work/im.gguf" "${targs[@]}" --imatrix "$work/$name.imatrix.gguf" >/dev/null 2>&1
      im=$(ppl "$work/im.gguf" "$eval" "$ctx")
    fi
    t0=$(date +%s.%N)
    "$lowbit" quantize "$model" -o "$work/gptq.gguf" "${targs[@]}" --method gptq --calib "$calib" \
      --calib-samples "$samples" --calib-len "$len" >/dev/null 2>&1
    t1=$(date +%s.%N)
    printf "%-12s %-9s %10s %10s %12s %10s %8.1f\n" "$name" "$t" "$base" "$(ppl "$work/rtn.gguf" "$eval" "$ctx")" \
      "$im" "$(ppl "$work/gptq.gguf" "$eval" "$ctx")" "$(echo "$t1 - $t0" | bc)"
  done
done
