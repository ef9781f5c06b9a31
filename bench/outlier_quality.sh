#!/usr/bin/env bash
# Quality of the outlier methods (issue 5) on a real model: held-out perplexity of each
# weight method at 4 and 3 bits, of 8-bit activations (W8A8, W4A8), and of the FP8 / NF4
# exports. Calibration text (wiki.train) and evaluation text (wiki.test) differ. Measures,
# never gates. Prints one markdown table per part.
#
#   bench/outlier_quality.sh                        build/lowbit, SmolLM2-135M, every part
#   PARTS="weights" TYPES="INT4-g128" METHODS="rtn awq" bench/outlier_quality.sh
#   MODEL=../shared/models/tinystories-656k-hf CALIB=... EVAL=... CTX=128 bench/outlier_quality.sh
#
# parts: weights  rtn / awq / gptq / awq+gptq / rotate+gptq (+ rotate+rtn) for each of TYPES
#        act      W8A8 (INT8 per channel, plain vs SmoothQuant vs rotated) and W4A8 (INT4 g128)
#                 with per-token dynamic and calibrated static INT8 activations
#        export   FP8 E4M3/E5M2 x per-tensor/per-channel/128x128 block, NF4 (+ double quant),
#                 INT4 g64 for comparison
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lowbit=${LOWBIT:-$root/build/lowbit}
shared=${LOWBIT_SHARED:-$root/../shared}
model=${MODEL:-$root/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
calib=${CALIB:-$shared/data/wikitext-2-raw/wiki.train.head1018.raw}
eval=${EVAL:-$shared/data/wikitext-2-raw/wiki.test.raw}
ctx=${CTX:-512}
chunks=${CHUNKS:-20}
samples=${SAMPLES:-128}
len=${LEN:-256}
parts=${PARTS:-"weights act export"}
types=${TYPES:-"INT4-g128 INT3-g128 Q4_K_M Q3_K_M"}
work=${WORK:-$(mktemp -d)}
[ -n "${WORK:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
tok=()
[[ $model == *.gguf ]] && tok=(--tokenizer "$model") # exported directories carry no GGUF vocabulary

ppl() { # model [ppl options...]
  local m=$1
  shift
  "$lowbit" ppl "$m" --text "$eval" --ctx "$ctx" --chunks "$chunks" --json "$@" 2>/dev/null |
    python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}

type_args() { # TYPE or INTn-gG
  if [[ $1 =~ ^(INT[0-9])-g(-?[0-9]+)$ ]]; then echo "--type ${BASH_REMATCH[1]} --group-size ${BASH_REMATCH[2]}"
  else echo "--type $1"; fi
}

quant() { # out type method [extra...]: cached by name
  local out=$1 t=$2 method=$3
  shift 3
  [ -e "$work/$out" ] && return 0
  local args=($(type_args "$t"))
  case $method in
    rtn) ;;
    rotate+rtn) args+=(--rotate hadamard) ;;
    rotate+gptq) args+=(--rotate hadamard --method gptq) ;;
    rotate+oh+rtn) args+=(--rotate hadamard --online-hadamard) ;;
    rotate+oh+gptq) args+=(--rotate hadamard --online-hadamard --method gptq) ;;
    smoothquant-down) args+=(--method smoothquant --smooth-down) ;;
    *) args+=(--method "$method") ;;
  esac
  [[ $method == rtn || $method == rotate+rtn || $method == rotate+oh+rtn ]] || args+=(--calib "$calib" --calib-samples "$samples" --calib-len "$len")
  "$lowbit" quantize "$model" -o "$work/$out" "${args[@]}" "$@" >"$work/$out.log" 2>&1
}

echo "model $model; eval $(basename "$eval") ctx $ctx, $chunks chunks; calibration $samples x $len tokens of $(basename "$calib")"
echo "float: $(ppl "$model")"

if [[ " $parts " == *" weights "* ]]; then
  methods=${METHODS:-"rtn awq gptq awq+gptq rotate+rtn rotate+gptq"}
  echo
  printf "| type |"; for m in $methods; do printf " %s |" "$m"; done; echo
  printf "|---|"; for m in $methods; do printf -- "---|"; done; echo
  for t in $types; do
    printf "| %s |" "$t"
    for m in $methods; do
      f="w-$t-${m//+/_}.gguf"
      quant "$f" "$t" "$m"
      printf " %s |" "$(ppl "$work/$f")"
    done
    echo
  done
fi

if [[ " $parts " == *" act "* ]]; then
  echo
  echo "| weights | activations: none | int8 per token | int8 static | fp8 per token |"
  echo "|---|---|---|---|---|"
  for row in "W8 per channel, rtn|INT8-g-1|rtn" "W8 per channel, smoothquant|INT8-g-1|smoothquant" \
             "W8 per channel, smoothquant --smooth-down|INT8-g-1|smoothquant-down" \
             "W8 per channel, rotate+rtn|INT8-g-1|rotate+rtn" "W8 per channel, rotate+online Hadamard|INT8-g-1|rotate+oh+rtn" \
             "W4 g128, rtn|INT4-g128|rtn" "W4 g128, awq|INT4-g128|awq" \
             "W4 g128, gptq|INT4-g128|gptq" "W4 g128, smoothquant+gptq|INT4-g128|smoothquant+gptq" \
             "W4 g128, rotate+gptq|INT4-g128|rotate+gptq"; do
    IFS='|' read -r label t m <<<"$row"
    f="w-$t-${m//+/_}.gguf"
    quant "$f" "$t" "$m"
    printf "| %s | %s | %s | %s | %s |\n" "$label" "$(ppl "$work/$f")" "$(ppl "$work/$f" --act-quant int8)" \
      "$(ppl "$work/$f" --act-quant int8-static --act-calib "$calib")" "$(ppl "$work/$f" --act-quant fp8)"
  done
fi

if [[ " $parts " == *" export "* ]]; then
  echo
  echo "| format | ppl | bytes of weights |"
  echo "|---|---|---|"
  for row in "FP8 E4M3 per tensor|--type FP8_E4M3 --fp8-scale tensor" "FP8 E4M3 per channel|--type FP8_E4M3 --fp8-scale channel" \
             "FP8 E4M3 128x128 block|--type FP8_E4M3 --fp8-scale block" "FP8 E5M2 per tensor|--type FP8_E5M2 --fp8-scale tensor" \
             "FP8 E5M2 per channel|--type FP8_E5M2 --fp8-scale channel" "FP8 E5M2 128x128 block|--type FP8_E5M2 --fp8-scale block" \
             "NF4|--type NF4" "NF4 + double quant|--type NF4 --nf4-double-quant"; do
    IFS='|' read -r label args <<<"$row"
    d="$work/x-${label// /_}"
    [ -e "$d" ] || "$lowbit" quantize "$model" -o "$d" $args >"$d.log" 2>&1
    printf "| %s | %s | %s |\n" "$label" "$(ppl "$d" "${tok[@]}")" "$(du -b "$d"/*.safetensors | awk '{s += $1} END {print s}')"
  done
  quant "w-INT4-g64-rtn.gguf" "INT4-g64" rtn
  printf "| INT4 g64 (rtn, simulated F32 file) | %s | n/a |\n" "$(ppl "$work/w-INT4-g64-rtn.gguf")"
fi
