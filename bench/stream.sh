#!/usr/bin/env bash
# Layer streaming at the disk's speed: for each MODEL, this machine's sequential read bandwidth on
# the model's own files (build/seqread: pread, O_DIRECT, mmap, cold page cache), then
# `lowbit generate` under a memory budget with prefetch, without it, and with --direct-io, and one
# layer-major `lowbit ppl` run, each under GNU time (`command time -v`) for the peak RSS.
#
# Per generate run it prints the disk-bound ratio the issue asks for:
#     ratio = (tokens/s) x (bytes read per token) / (seqread pread bandwidth)
# where tokens/s counts the generation passes only (the prompt pass excluded) and bytes per token
# is what the stream read per pass. For ppl it prints total bytes read next to
# (streamed bytes per pass) x (batches): layer-major evaluation reads the model once per batch.
#
#   bench/stream.sh MODEL [MODEL...]
#   MEM_LIMIT=3G N_PREDICT=4 NUMERICS=exact PPL_CTX=128 PPL_CHUNKS=2 PPL_BATCH=1 bench/stream.sh DIR FILE.gguf
# Builds nothing and gates nothing: see bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lowbit=${LOWBIT:-$root/build/lowbit}
seqread=${SEQREAD:-$root/build/seqread}
mem=${MEM_LIMIT:-3G}
n_predict=${N_PREDICT:-4}
numerics=${NUMERICS:-exact}
ppl_ctx=${PPL_CTX:-128}
ppl_chunks=${PPL_CHUNKS:-2}
ppl_batch=${PPL_BATCH:-1}
modes=${MODES:-"prefetch no-prefetch direct"}
text=${TEXT:-${LOWBIT_SHARED:-$root/../shared}/data/wikitext-2-raw/wiki.test.raw}
prompt=${PROMPT:-"The history of the printing press"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in "$lowbit" "$seqread"; do
  [ -x "$tool" ] || { echo "bench/stream.sh: $tool missing (build first)" >&2; exit 1; }
done
[ $# -ge 1 ] || { echo "usage: bench/stream.sh MODEL [MODEL...]" >&2; exit 2; }

files_of() { if [ -d "$1" ]; then ls "$1"/*.safetensors; else echo "$1"; fi; }
# value after a label in a file: field LABEL FILE -> the first number after LABEL
field() { grep -o "$1 *[0-9.]*" "$2" | head -1 | grep -o '[0-9.]*$'; }

for model in "$@"; do
  echo "== $model (numerics $numerics, mem-limit $mem)"
  # shellcheck disable=SC2046
  "$seqread" --method all $(files_of "$model") | tee "$tmp/seq"
  bw=$(awk '$2 == "pread" {print $(NF-4)}' "$tmp/seq")
  printf '%-12s %9s %9s %10s %10s %8s %10s\n' mode tok/s GB/token MB/s ratio waited maxRSS_MB
  for mode in $modes; do
    flags=""
    [ "$mode" = no-prefetch ] && flags="--no-prefetch"
    [ "$mode" = direct ] && flags="--direct-io"
    # shellcheck disable=SC2086
    command time -v "$lowbit" generate "$model" -p "$prompt" -n "$n_predict" --temp 0 --mem-limit "$mem" \
      --numerics "$numerics" $flags > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    gen_s=$(grep -o 'generated: [0-9]* tokens in [0-9.]* s' "$tmp/err" | awk '{print $5}')
    passes=$(grep -o 'in [0-9]* passes' "$tmp/err" | awk '{print $2}')
    per_pass=$(grep -o '([0-9.]* GB per pass)' "$tmp/err" | tr -d '(' | awk '{print $1}')
    waited=$(grep -o 'waited [0-9.]* s' "$tmp/err" | awk '{print $2}')
    rss=$(awk -F: '/Maximum resident/ {print int($2/1024)}' "$tmp/err")
    awk -v m="$mode" -v g="$gen_s" -v p="$passes" -v b="$per_pass" -v bw="$bw" -v w="$waited" -v r="$rss" 'BEGIN {
      tps = (p - 1) / g; mbs = tps * b * 1000;
      printf "%-12s %9.3f %9.3f %10.0f %10.3f %8s %10d\n", m, tps, b, mbs, mbs / bw, w "s", r }'
    grep '^memory plan' "$tmp/err" | head -1
  done
  command time -v "$lowbit" ppl "$model" --text "$text" --ctx "$ppl_ctx" --chunks "$ppl_chunks" --batch "$ppl_batch" \
    --mem-limit "$mem" --numerics "$numerics" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  cat "$tmp/out"
  grep '^stream:' "$tmp/err"
  batches=$(( (ppl_chunks + ppl_batch - 1) / ppl_batch ))
  read_gb=$(grep -o 'read [0-9.]* GB' "$tmp/err" | awk '{print $2}')
  per_pass=$(grep -o '([0-9.]* GB per pass)' "$tmp/err" | tr -d '(' | awk '{print $1}')
  awk -v r="$read_gb" -v p="$per_pass" -v n="$batches" -v rss="$(awk -F: '/Maximum resident/ {print int($2/1024)}' "$tmp/err")" \
    'BEGIN { printf "ppl: %d batches read %.2f GB = %.2f x %d batches; max RSS %d MB\n", n, r, r / n, n, rss }'
done
