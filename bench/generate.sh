#!/usr/bin/env bash
# Decode throughput: `lowbit generate` tokens/s on the default model (SmolLM2-135M-Instruct)
# re-quantized with `lowbit quantize --pure` to Q4_0 and Q8_0, with --numerics exact and
# llamacpp, 1 and 2 threads, N_PREDICT greedy tokens (default 64), REPEAT runs each (default 3);
# prints the median generated tokens/s next to the memory-bandwidth bound BW_GBS (default 13
# GB/s) / bytes of weights read per token. Builds nothing and gates nothing: see bench/README.md.
#
#   bench/generate.sh                     uses build/lowbit, quantizes into $TMPDIR (or /tmp)
#   LOWBIT=path/to/lowbit REPEAT=5 N_PREDICT=128 BW_GBS=20 bench/generate.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lowbit=${LOWBIT:-$root/build/lowbit}
repeat=${REPEAT:-3}
n_predict=${N_PREDICT:-64}
bw=${BW_GBS:-13}
tmp=${TMPDIR:-/tmp}
prompt=${PROMPT:-"The history of the printing press"}

if [ ! -x "$lowbit" ]; then
  echo "bench/generate.sh: no lowbit binary at $lowbit (build first, or set LOWBIT=)" >&2
  exit 1
fi
src=$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$src" ]; then
  echo "bench/generate.sh: $src missing (scripts/fetch-default-model.sh); skipping: nothing to measure" >&2
  exit 0
fi

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo "lowbit $("$lowbit" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), median of $repeat runs," \
  "$n_predict greedy tokens, bound = $bw GB/s / weight bytes per token"
printf '%-6s %-8s %7s %6s %9s %10s %10s %7s\n' type numerics threads gen "tok/s" "MB/token" "bound t/s" "% bound"
for type in Q4_0 Q8_0; do
  model=$tmp/SmolLM2-135M-Instruct.$type.gguf
  if [ ! -f "$model" ] || [ "$model" -ot "$src" ]; then
    LOWBIT_PROGRESS=0 "$lowbit" quantize "$src" -o "$model" --type "$type" --pure >/dev/null 2>&1 ||
      { echo "bench/generate.sh: lowbit quantize --type $type failed" >&2; exit 1; }
  fi
  size=$(stat -c %s "$model")
  # bits per weight of the type: exact numerics decode every quantized weight to f32 at load, so
  # a token streams about size * 32 / bpw bytes; llamacpp numerics stream the file's bytes
  case $type in Q4_0) bpw=4.5 ;; Q8_0) bpw=8.5 ;; esac
  for numerics in exact llamacpp; do
    if [ "$numerics" = exact ]; then bytes=$(awk -v s="$size" -v b="$bpw" 'BEGIN {printf "%.0f", s * 32 / b}')
    else bytes=$size; fi
    for threads in 1 2; do
      rates=() gen=0
      for ((i = 0; i < repeat; i++)); do
        line=$(LOWBIT_PROGRESS=0 OPENBLAS_NUM_THREADS=$threads "$lowbit" generate "$model" -p "$prompt" \
          -n "$n_predict" --temp 0 --threads "$threads" --numerics "$numerics" 2>&1 >/dev/null | grep '^prompt:' || true)
        if [ -z "$line" ]; then echo "bench/generate.sh: lowbit generate printed no timings ($type $numerics)" >&2; exit 1; fi
        # prompt: P tokens in S s (R tok/s), generated: G tokens in S s (R tok/s)
        gen=$(sed -n 's/.*generated: \([0-9]*\) tokens.*/\1/p' <<<"$line")
        rates+=("$(sed -n 's/.*generated:.*(\([0-9.]*\) tok\/s).*/\1/p' <<<"$line")")
      done
      rate=$(printf '%s\n' "${rates[@]}" | median)
      awk -v t="$type" -v n="$numerics" -v th="$threads" -v g="$gen" -v r="$rate" -v b="$bytes" -v bw="$bw" 'BEGIN {
        bound = bw * 1e9 / b
        printf "%-6s %-8s %7s %6s %9.1f %10.1f %10.1f %6.0f%%\n", t, n, th, g, r, b / 1e6, bound, 100 * r / bound }'
    done
  done
done
