#!/usr/bin/env bash
# Perplexity throughput: `lowbit ppl` at ctx 256 and 512 with 1 and 2 threads, on the default
# model (SmolLM2-135M-Instruct Q4_1, WikiText-2 test) and TinyStories-656K (TinyStories
# validation), a fixed number of chunks, REPEAT runs each; prints the median tokens/s.
# Builds nothing and gates nothing: see bench/README.md.
#
#   bench/ppl.sh                      uses build/lowbit
#   LOWBIT=path/to/lowbit CHUNKS_SMOL=8 CHUNKS_TINY=32 REPEAT=5 bench/ppl.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lowbit=${LOWBIT:-$root/build/lowbit}
shared=${LOWBIT_SHARED:-$root/../shared}
repeat=${REPEAT:-3}
chunks_smol=${CHUNKS_SMOL:-4}
chunks_tiny=${CHUNKS_TINY:-16}

if [ ! -x "$lowbit" ]; then
  echo "bench/ppl.sh: no lowbit binary at $lowbit (build first, or set LOWBIT=)" >&2
  exit 1
fi

# name|model|text|chunks
runs=()
smol=$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$smol" ]; then
  runs+=("smollm2-135m-q4_1|$smol|$shared/data/wikitext-2-raw/wiki.test.raw|$chunks_smol")
else
  echo "bench/ppl.sh: $smol missing (scripts/fetch-default-model.sh); skipping the default model" >&2
fi
runs+=("tinystories-656k|$shared/models/tinystories-656k-hf|$shared/data/tinystories/tinystories_validation_head.txt|$chunks_tiny")

# value of "key": in lowbit's --json output (one key per line)
field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" <<<"$2" | head -n1; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo "lowbit $("$lowbit" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), median of $repeat runs"
printf '%-18s %5s %7s %6s %8s %10s %10s %10s\n' model ctx threads chunks scored ppl "tok/s" "s/run"
for r in "${runs[@]}"; do
  IFS='|' read -r name model text chunks <<<"$r"
  for ctx in 256 512; do
    for threads in 1 2; do
      rates=() secs=() out=""
      for ((i = 0; i < repeat; i++)); do
        out=$(LOWBIT_PROGRESS=0 OPENBLAS_NUM_THREADS=$threads \
          "$lowbit" ppl "$model" --text "$text" --ctx "$ctx" --chunks "$chunks" --threads "$threads" --json)
        rates+=("$(field tokens_per_s "$out")")
        secs+=("$(field seconds "$out")")
      done
      rate=$(printf '%s\n' "${rates[@]}" | median)
      sec=$(printf '%s\n' "${secs[@]}" | median)
      printf '%-18s %5s %7s %6s %8s %10.4f %10.1f %10.2f\n' "$name" "$ctx" "$threads" "$(field n_chunks "$out")" \
        "$(field n_scored "$out")" "$(field ppl "$out")" "$rate" "$sec"
    done
  done
done
