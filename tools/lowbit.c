/* lowbit: the command-line tool. Argument parsing, progress display, output formatting and exit
 * codes; every computation is a call into the public API (lowbit.h), nothing else.
 *
 * Exit codes: 0 success, 1 the library (or a file the user named) failed, and the message is
 * `lowbit: <what failed>` on stderr; 2 bad usage (unknown command or option, malformed number),
 * with the usage on stderr. Help goes to stdout and exits 0. */
#include "lowbit.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// ---- usage ----

typedef struct verb {
    const char *name, *summary, *usage;
    int (*run)(int argc, char **argv);
} verb;

static int run_info(int argc, char **argv);
static int run_ppl(int argc, char **argv);
static int run_generate(int argc, char **argv);
static int run_convert(int argc, char **argv);
static int run_imatrix(int argc, char **argv);
static int run_quantize(int argc, char **argv);
static int run_stats(int argc, char **argv);

static const verb VERBS[] = {
    {"info", "architecture, metadata, tensors, sizes and bits per weight of a model",
     "usage: lowbit info MODEL [--json]\n"
     "\n"
     "Prints the format, architecture, hyper-parameters, source metadata, a table of tensors\n"
     "(name, dtype, shape, bytes), the parameter count, total bytes and bits per weight.\n"
     "Reads headers only: no weights are loaded.\n"
     "\n"
     "  --json          one JSON object on stdout instead of text\n",
     run_info},
    {"ppl", "perplexity of a model on a text file",
     "usage: lowbit ppl MODEL --text FILE [options]\n"
     "\n"
     "  --text FILE               UTF-8 text to score (required)\n"
     "  --protocol llamacpp|gptq  llamacpp (default): chunks of --ctx tokens, BOS per chunk, the\n"
     "                            second half of each chunk scored, like llama-perplexity;\n"
     "                            gptq: non-overlapping windows, every token scored, no BOS\n"
     "  --ctx N                   tokens per chunk (default 512 llamacpp, 2048 gptq); may exceed\n"
     "                            the model's training context, with a warning\n"
     "  --batch N                 chunks evaluated together (default 1)\n"
     "  --chunks N                score only the first N chunks (default all)\n"
     "  --threads N               worker threads (default: all cores)\n"
     "  --tokenizer PATH          tokenizer file, when not beside the model or inside the GGUF\n"
     "  --numerics exact|llamacpp exact (default): weights decoded to f32; llamacpp: quantized\n"
     "                            weights times 8-bit activations, as llama.cpp computes\n"
     "  --mem-limit SIZE|auto     memory budget (suffixes K M G; auto = 85% of available RAM):\n"
     "                            blocks that fit stay resident, the rest are read from disk every\n"
     "                            pass (same results, bit for bit); the plan is printed first\n"
     "  --no-prefetch             with --mem-limit: read a block when needed, no reader thread\n"
     "  --direct-io               with --mem-limit: O_DIRECT reads that bypass the page cache\n"
     "  --act-quant KIND          quantize the input of every block linear to 8 bits and back\n"
     "                            (W8A8/W4A8 simulation; not the output head): none (default),\n"
     "                            int8 / fp8 (per token, dynamic), int8-static / fp8-static (one\n"
     "                            scale per layer and input, from --act-calib)\n"
     "  --act-calib FILE          calibration text of the static kinds (absmax over its windows)\n"
     "  --act-calib-samples N     windows of 256 tokens read from it (default 16)\n"
     "  --json                    print the result as one JSON object\n"
     "\n"
     "A progress bar is drawn on stderr when it is a terminal or LOWBIT_PROGRESS=1.\n",
     run_ppl},
    {"generate", "generate text after a prompt",
     "usage: lowbit generate MODEL -p PROMPT [options]\n"
     "\n"
     "  -p, --prompt TEXT   the prompt (required); special tokens written in it are parsed\n"
     "  -n, --n-predict N   tokens to generate at most (default 128); stops early at EOS\n"
     "  --temp T            temperature, 0 = greedy (default 0.8)\n"
     "  --top-k K           keep the K most likely tokens, 0 = off (default 40)\n"
     "  --top-p P           keep the smallest set with probability >= P, 1 = off (default 0.95)\n"
     "  --seed S            random seed (default: from the clock, printed on stderr)\n"
     "  --threads N         worker threads (default: all cores)\n"
     "  --tokenizer PATH    tokenizer file, when not beside the model or inside the GGUF\n"
     "  --numerics M        exact (default: weights decoded to f32) or llamacpp (quantized\n"
     "                      weights times 8-bit activations, as llama.cpp computes)\n"
     "  --mem-limit SIZE|auto  memory budget (suffixes K M G; auto = 85% of available RAM):\n"
     "                      blocks that fit stay resident, the rest stream from disk every token\n"
     "                      while a thread reads the next block; same tokens, bit for bit\n"
     "  --no-prefetch       with --mem-limit: read each block when needed, no reader thread\n"
     "  --direct-io         with --mem-limit: O_DIRECT reads that bypass the page cache\n"
     "  --act-quant KIND    8-bit activations for every block linear: none (default), int8, fp8\n"
     "                      (per token), int8-static, fp8-static (calibrated, see lowbit ppl)\n"
     "  --act-calib FILE    calibration text of the static kinds\n"
     "  --act-calib-samples N  its windows of 256 tokens (default 16)\n"
     "  --no-bos            do not put BOS before the prompt (by default it is there when the\n"
     "                      model's tokenizer adds one, e.g. Llama 2; not for SmolLM2, Qwen)\n"
     "\n"
     "The prompt and then each generated token are written to stdout as they come; timings go\n"
     "to stderr, and with --mem-limit what was streamed: bytes read, MB/s, time waited on reads.\n",
     run_generate},
    {"convert", "write a model as a GGUF file that llama.cpp loads (f32, f16, bf16, q8_0)",
     "usage: lowbit convert MODEL -o OUT.gguf [options]\n"
     "\n"
     "Writes MODEL (Hugging Face directory, .safetensors, GGUF or llama2.c checkpoint) as GGUF the\n"
     "way llama.cpp's convert_hf_to_gguf.py / convert-llama2c-to-ggml do: llama.cpp metadata and\n"
     "tensor names, q/k of Hugging Face llama checkpoints permuted to interleaved RoPE pairs, the\n"
     "vocabulary, tied embeddings stored once. Norms and biases stay F32.\n"
     "\n"
     "  -o, --output FILE        the GGUF to write (required); written to FILE.tmp.PID and renamed\n"
     "                           when complete, so a failed run leaves an existing FILE untouched\n"
     "  --type f32|f16|bf16|q8_0 type of the 2-D weights (default f16); q8_0 rows whose length is\n"
     "                           not a multiple of 32 are written F16, as convert_hf_to_gguf does\n"
     "  --name NAME              general.name (default: from the model's file or directory name)\n"
     "  --rotate hadamard|orthogonal  rotate the residual stream (QuaRot/SpinQuant R1): norms folded\n"
     "                           into the next linears, weights rotated, head untied; same logits,\n"
     "                           smaller activation outliers. hadamard needs n_embd = 2^k, else\n"
     "                           a seeded random orthogonal matrix is used\n"
     "  --rotate-seed N          seed of the rotation's random signs / matrix (default 0)\n"
     "  --online-hadamard        QuaRot's online R4: ffn_down.weight becomes W R (R = signs x\n"
     "                           Hadamard (x) small random orthogonal, kept in the metadata) and\n"
     "                           lowbit's engine rotates the down_proj input by R: flatter inputs,\n"
     "                           same logits. NEEDS LOWBIT's ENGINE: llama.cpp loads the file but\n"
     "                           computes wrong results\n"
     "\n"
     "A progress bar is drawn on stderr when it is a terminal or LOWBIT_PROGRESS=1.\n",
     run_convert},
    {"imatrix", "importance matrix of a model on calibration text (llama-imatrix .dat or .gguf)",
     "usage: lowbit imatrix MODEL --text FILE -o OUT [options]\n"
     "\n"
     "Runs the text through the model as llama.cpp's llama-imatrix does (chunks of --ctx tokens,\n"
     "BOS replacing each chunk's first token when the vocabulary adds BOS) and records, for every\n"
     "linear weight, the sum of each input column's square over all tokens and the token count.\n"
     "llama-quantize --imatrix OUT (and lowbit quantize) weight rounding errors by them.\n"
     "\n"
     "  --text FILE, -f FILE  UTF-8 calibration text (required); one trailing newline is dropped,\n"
     "                        as llama-imatrix -f does; needs at least 2 x --ctx tokens\n"
     "  -o, --output OUT      the imatrix to write (required): GGUF when OUT ends in .gguf, else\n"
     "                        llama.cpp's legacy .dat; written to OUT.tmp.PID and renamed when\n"
     "                        complete, so a failed run leaves an existing OUT untouched\n"
     "  --ctx N, -c N         tokens per chunk (default 512)\n"
     "  --chunks N            use only the first N chunks (default all)\n"
     "  --batch N, -b N       chunks evaluated together (default 1; the result is the same)\n"
     "  --process-output      also record output.weight (as llama-imatrix --process-output; a\n"
     "                        model with tied embeddings has none)\n"
     "  --threads N, -t N     worker threads (default: all cores); the result does not change\n"
     "  --tokenizer PATH      tokenizer file, when not beside the model or inside the GGUF\n"
     "  --mem-limit SIZE|auto memory budget: blocks that do not fit stream from disk (as ppl)\n"
     "  --no-prefetch, --direct-io  streaming read options (as ppl)\n"
     "\n"
     "A progress bar is drawn on stderr when it is a terminal or LOWBIT_PROGRESS=1.\n",
     run_imatrix},
    {"quantize", "quantize a model to GGUF like llama-quantize (Q4_K_M, Q2_K, Q8_0, ...)",
     "usage: lowbit quantize MODEL -o OUT.gguf --type TYPE [options]\n"
     "\n"
     "Writes MODEL (Hugging Face directory, .safetensors, GGUF - quantized ones are decoded first -\n"
     "or llama2.c checkpoint) as a GGUF whose 2-D weights are quantized the way llama.cpp's\n"
     "llama-quantize does it: the same per-tensor recipe for each TYPE (more bits for attn_v,\n"
     "ffn_down, attn_output and the output head where llama.cpp gives them more), the same\n"
     "fallbacks for rows that are not a multiple of 256 (Q2_K/Q3_K/IQ4_XS -> IQ4_NL, Q4_K -> Q5_0,\n"
     "Q5_K -> Q5_1, Q6_K -> Q8_0, then F16), bit-exact block encodings. Norms stay F32.\n"
     "\n"
     "  -o, --output FILE   the GGUF to write (required); written to FILE.tmp.PID and renamed when\n"
     "                      complete, so a failed run leaves an existing FILE untouched\n"
     "  --type TYPE         (required) F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M\n"
     "                      Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS (case-insensitive;\n"
     "                      Q3_K, Q4_K, Q5_K mean Q3_K_M, Q4_K_M, Q5_K_M as in llama-quantize)\n"
     "                      INT2 .. INT8: group-wise integers on the GPTQ grid (AutoGPTQ's quantizer,\n"
     "                      f16 scales), written simulated: the block linears hold the grid's\n"
     "                      values as F32 (what a GPTQ checkpoint decodes to), for perplexity\n"
     "  --group-size N      INT-N columns per scale (default 128; -1 = one per row; a row it does\n"
     "                      not divide gets one per row)\n"
     "  --asym              INT-N with a zero point (default symmetric, as AutoGPTQ)\n"
     "  --rotate hadamard|orthogonal  rotate the residual stream first (as convert --rotate);\n"
     "                      with --method gptq the rotated model is written to OUT.rotated.tmp.gguf\n"
     "                      and calibrated on; --rotate-seed N picks the rotation\n"
     "  --online-hadamard   rotate the down_proj input online (as convert --online-hadamard);\n"
     "                      the output NEEDS LOWBIT's ENGINE (llama.cpp computes wrong results)\n"
     "  --pure              every 2-D weight gets TYPE's base type (Q4_K for Q4_K_M): no recipe\n"
     "  --imatrix FILE      importance matrix (llama-imatrix .dat or .gguf, or lowbit imatrix):\n"
     "                      each weight's rounding error is weighted by its entry of the same name\n"
     "  --imatrix-chunk N   tokens per chunk a legacy .dat was computed with (default 512)\n"
     "  --threads N, -t N   worker threads (default: all cores); the output does not change\n"
     "  --name NAME         general.name (default: from the model)\n"
     "\n"
     "GPTQ (--method gptq): block-wise calibration, one transformer block in memory at a time.\n"
     "Each linear of each block is quantized by GPTQ (Frantar et al. 2022) to the type the recipe\n"
     "gives it, with the type's own scale search inside the GPTQ loop: the output is an ordinary\n"
     "GGUF of the same types that llama.cpp runs unchanged, with better rounding. Embeddings and\n"
     "the output head keep the recipe's rounding (with --imatrix if given).\n"
     "  --method M          rtn (default: llama-quantize's rounding), gptq, awq, awq+gptq,\n"
     "                      smoothquant, smoothquant+gptq (see below)\n"
     "  --calib FILE[,FILE] calibration text (required for every method but rtn)\n"
     "  --calib-samples N   windows of --calib-len tokens at random offsets (default 128)\n"
     "  --calib-len N       tokens per window (default 512)\n"
     "  --seed N            picks the windows (default 0)\n"
     "  --mem-limit BYTES   refuse to start when the memory plan exceeds it (suffixes K M G)\n"
     "  --resume            continue the interrupted run of the same command (checkpoint in\n"
     "                      OUT.lowbit-ckpt/, written after every block)\n"
     "  --no-sequential     feed each block the float model's activations instead of the\n"
     "                      quantized blocks' (GPTQ's sequential mode is the default)\n"
     "  --act-order         quantize columns by decreasing Hessian diagonal\n"
     "  --damp X            relative damping of the Hessian (default 0.01)\n"
     "  --gptq-block N      lazy-update block (default 128)\n"
     "\n"
     "AWQ (--method awq, awq+gptq; Lin et al. 2023, as AutoAWQ): per block, each group of linears\n"
     "that reads one input (q/k/v, gate/up, down, and o when n_head = n_head_kv) gets per-channel\n"
     "scales s = mean|x|^a / mean|w|^(1-a), a tried on a grid and kept by the block's real output\n"
     "error with the group quantized to its type; then each weight group's clipping range is\n"
     "searched. 1/s is folded into the RMSNorm weights and the v/up rows, so OUT stays a plain GGUF.\n"
     "SmoothQuant (--method smoothquant; Xiao et al. 2022): s = max|x|^a / max|w|^(1-a) for q/k/v\n"
     "and gate/up, folded the same way: for W8A8 (run with lowbit ppl --act-quant int8).\n"
     "  --awq-grid N        ratios 0, 1/N, ... tried per group (default 20)\n"
     "  --awq-tokens N      calibration tokens (whole windows) of the search objective (default 1024)\n"
     "  --awq-no-clip       no weight clipping search\n"
     "  --smooth-alpha A    SmoothQuant migration strength (default 0.5)\n"
     "  --smooth-down       SmoothQuant also smooths the down_proj input (folded into up's rows)\n"
     "                      and, when n_head = n_head_kv, the o_proj input, where Llama-family\n"
     "                      models have their largest activation outliers\n"
     "  --fold-only         write the scaled model unquantized (F32), scales searched for --type\n"
     "\n"
     "Each tensor is reported on stderr as it is written; a table of tensors (name, type, size;\n"
     "with gptq also the relative output error, damping and how H^-1 was obtained), the total size\n"
     "and bits per weight are printed on stdout at the end.\n"
     "\n"
     "Hugging Face export (--type FP8_E4M3, FP8_E5M2 or NF4): OUT is a directory that vLLM and\n"
     "transformers load as is, and that lowbit runs from its compressed form:\n"
     "  lowbit quantize MODEL -o OUTDIR --type FP8_E4M3|FP8_E5M2|NF4 [options]\n"
     "FP8 is compressed-tensors \"float-quantized\" (weight F8_* + weight_scale F32); NF4 is the\n"
     "bitsandbytes 4-bit serialization (blocks of 64). Embeddings, norms and lm_head keep the\n"
     "source's float dtype (BF16 when the source is quantized). config.json gets\n"
     "quantization_config; tokenizer files are copied from an HF source (a GGUF or llama2.c\n"
     "source keeps its tokenizer: run the output with --tokenizer SOURCE). Written to\n"
     "OUTDIR.tmp.PID and renamed when complete. vLLM's FP8 kernels assume E4M3: FP8_E5M2\n"
     "directories are for lowbit and compressed-tensors decompression.\n"
     "  --fp8-scale tensor|channel|block   one scale per tensor (default), per output channel,\n"
     "                      or per 128x128 block\n"
     "  --fp8-act dynamic|none  input_activations in the config: per-token FP8 (default,\n"
     "                      vLLM's FP8_DYNAMIC) or none (weight-only); static scales need\n"
     "                      calibration lowbit does not do and are refused\n"
     "  --nf4-double-quant  NF4: quantize the absmax values too (QLoRA double quantization)\n"
     "  --policy SPEC|@FILE per-layer formats, items separated by commas (or lines in FILE,\n"
     "                      '#' comments), later items win:\n"
     "                        attn=T      q/k/v/o projections     mlp=T   gate/up/down\n"
     "                        keep=GLOB   matching linears stay 16-bit (listed in \"ignore\")\n"
     "                        GLOB=T      matching linears get T\n"
     "                      T: E4M3, E5M2, NF4, keep. GLOB (fnmatch) is tried on the HF name,\n"
     "                      the module name (no .weight) and the GGUF name, e.g.\n"
     "                      attn=E4M3,mlp=E5M2,keep=blk.0.*,keep=*.down_proj\n",
     run_quantize},
    {"stats", "outlier report: weight and activation kurtosis, outlier channels, quantization error",
     "usage: lowbit stats MODEL --calib FILE -o REPORT.html|REPORT.json [options]\n"
     "\n"
     "Runs the calibration text through the model once and reports, per layer and per linear\n"
     "group (q/k/v, o, gate/up, down), what the linears' inputs and weights look like to a\n"
     "quantizer: the per-token kurtosis of the input (mean and spread), per-channel max|x| and\n"
     "mean|x|, the top 8 outlier channels, the max/median ratio; per weight its kurtosis, the\n"
     "input columns with the largest |W|, and the relative output error ||(W-Q)X|| / ||WX|| of\n"
     "each method on up to 256 sampled input rows. The HTML report is one self-contained page\n"
     "with SVG plots (per-channel magnitudes of the first, middle and last block, kurtosis and\n"
     "error by layer) and the tables; the JSON holds the same numbers.\n"
     "\n"
     "  --calib FILE          UTF-8 calibration text (required)\n"
     "  --calib-samples N     windows (default 16), consecutive from the start of the text\n"
     "  --calib-len N         tokens per window (default 256), BOS first when the model adds one\n"
     "  --after METHOD[,...]  quantization methods to measure next to the float model (default\n"
     "                        none): rtn (Q4_0 round to nearest), awq (Q4_0 after AWQ scales\n"
     "                        searched per linear), rotate (Q4_0 in a randomized Hadamard basis),\n"
     "                        w8a8 (INT8 per channel x INT8 per token), smoothquant (w8a8 after\n"
     "                        SmoothQuant's scales, alpha 0.5). To see the activations after a\n"
     "                        transform, run stats on the transformed model: quantize --method awq\n"
     "                        --fold-only, or convert --rotate\n"
     "  -o, --output FILE     the report: JSON when FILE ends in .json (or with --json), else\n"
     "                        HTML; written to FILE.tmp.PID and renamed when complete\n"
     "  --json                write JSON (to -o FILE, or to stdout without -o)\n"
     "  --threads N, -t N     worker threads (default: all cores); the numbers do not change\n"
     "  --tokenizer PATH      tokenizer file, when not beside the model or inside the GGUF\n"
     "  --mem-limit SIZE|auto memory budget: blocks that do not fit stream from disk (as ppl)\n"
     "  --no-prefetch, --direct-io  streaming read options (as ppl)\n"
     "\n"
     "A summary table goes to stdout (unless the JSON does). A progress bar is drawn on stderr\n"
     "when it is a terminal or LOWBIT_PROGRESS=1.\n",
     run_stats},
};
#define N_VERBS ((int)(sizeof VERBS / sizeof VERBS[0]))

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: lowbit COMMAND [ARGS]\n"
            "       lowbit COMMAND --help\n"
            "       lowbit --version\n"
            "\n"
            "lowbit %s: quantize large language models and run them on small machines.\n"
            "MODEL is a Hugging Face directory, a .safetensors file, a GGUF file or a llama2.c checkpoint.\n"
            "\n"
            "commands:\n",
            LOWBIT_VERSION);
    for (int i = 0; i < N_VERBS; i++) fprintf(f, "  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
}

/* Bad usage: message, the command's usage, exit 2. */
__attribute__((format(printf, 2, 3), noreturn)) static void usage_error(const verb *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lowbit%s%s: ", v ? " " : "", v ? v->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    if (v) fputs(v->usage, stderr);
    else print_usage(stderr);
    exit(2);
}

/* A failure at run time (library, file): `lowbit: message`, exit status 1. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lowbit: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int fail_lib(lb_status st)
{
    const char *msg = lb_errmsg();
    return fail("%s", msg && *msg ? msg : lb_status_name(st));
}

// ---- options and numbers ----

/* Command-line cursor: argv[i] is the next argument of the verb. */
typedef struct cursor {
    const verb *v;
    int argc, i;
    char **argv;
    bool no_more_options; /* after "--" */
} cursor;

/* Matches argv[c->i] against an option that takes a value ("--ctx 512" or "--ctx=512"); on a
 * match sets *val, advances past it and returns true. Either name may be NULL. */
static bool opt_value(cursor *c, const char *name, const char *alias, const char **val)
{
    const char *a = c->argv[c->i];
    const char *names[2] = {name, alias};
    for (int k = 0; k < 2; k++) {
        const char *n = names[k];
        if (!n) continue;
        size_t len = strlen(n);
        if (strncmp(a, n, len) != 0) continue;
        if (a[len] == '=') {
            *val = a + len + 1;
            return true;
        }
        if (a[len] != '\0') continue;
        if (c->i + 1 >= c->argc) usage_error(c->v, "option %s needs a value", n);
        *val = c->argv[++c->i];
        return true;
    }
    return false;
}

static bool opt_flag(cursor *c, const char *name)
{
    const char *a = c->argv[c->i];
    if (strcmp(a, name) != 0) {
        size_t len = strlen(name);
        if (strncmp(a, name, len) == 0 && a[len] == '=') usage_error(c->v, "option %s takes no value", name);
        return false;
    }
    return true;
}

static bool is_option(const cursor *c) { return !c->no_more_options && c->argv[c->i][0] == '-' && c->argv[c->i][1]; }

/* Whole-string integer in [lo, hi]; anything else ("12x", "", "1e3", out of range) is a usage
 * error naming the option. */
/* --numerics exact|llamacpp (see lb_open_params.llamacpp_numerics) */
static bool parse_numerics(const cursor *c, const char *s)
{
    if (strcmp(s, "exact") == 0) return false;
    if (strcmp(s, "llamacpp") == 0) return true;
    usage_error(c->v, "--numerics expects exact or llamacpp, got '%s'", s);
    return false;
}

static int64_t parse_int(const cursor *c, const char *opt, const char *s, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE || x < lo || x > hi) {
        if (hi == INT64_MAX) usage_error(c->v, "%s expects an integer >= %lld, got '%s'", opt, (long long)lo, s);
        usage_error(c->v, "%s expects an integer from %lld to %lld, got '%s'", opt, (long long)lo, (long long)hi, s);
    }
    return x;
}

static uint64_t parse_u64(const cursor *c, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (!*s || *s == '-' || *s == '+' || *end || errno == ERANGE)
        usage_error(c->v, "%s expects an unsigned 64-bit integer, got '%s'", opt, s);
    return x;
}

/* Whole-string finite real number in [lo, hi]. */
static double parse_real(const cursor *c, const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(x) || x < lo || x > hi)
        usage_error(c->v, "%s expects a number from %g to %g, got '%s'", opt, lo, hi, s);
    return x;
}

/* The single positional MODEL argument; a second positional is a usage error. */
static void positional(cursor *c, const char **model)
{
    if (*model) usage_error(c->v, "unexpected argument '%s' (MODEL is already '%s')", c->argv[c->i], *model);
    *model = c->argv[c->i];
}

static void unknown_option(const cursor *c) { usage_error(c->v, "unknown option '%s'", c->argv[c->i]); }

static const verb *find_verb(const char *name)
{
    for (int i = 0; i < N_VERBS; i++)
        if (strcmp(VERBS[i].name, name) == 0) return &VERBS[i];
    return NULL;
}

// ---- small formatting helpers ----

/* 656000 -> "656.00 K", 134515008 -> "134.52 M". */
static const char *human_count(double x, char *buf, size_t cap)
{
    const char *unit[] = {"", " K", " M", " B", " T"};
    int u = 0;
    while (fabs(x) >= 1000 && u < 4) x /= 1000, u++;
    snprintf(buf, cap, u ? "%.2f%s" : "%.0f%s", x, unit[u]);
    return buf;
}

static const char *human_bytes(double x, char *buf, size_t cap)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (x >= 1024 && u < 4) x /= 1024, u++;
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", x, unit[u]);
    return buf;
}

static const char *shape_str(const lb_tensor_desc *t, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Metadata values may be long (chat templates) or hold newlines: one line, at most width
 * characters, control characters escaped. */
static void print_oneline(FILE *f, const char *s, size_t width)
{
    size_t n = 0;
    for (; *s && n < width; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n') n += (size_t)fprintf(f, "\\n");
        else if (ch == '\t') n += (size_t)fprintf(f, "\\t");
        else if (ch < 0x20) n += (size_t)fprintf(f, "\\x%02x", ch);
        else fputc(ch, f), n++;
    }
    if (*s) fputs("...", f);
}

static double elems(const lb_tensor_desc *t)
{
    double n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= (double)t->shape[d];
    return n;
}

static void add_i64(cJSON *o, const char *k, int64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

static int print_json(cJSON *root)
{
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return fail("out of memory formatting JSON");
    puts(s);
    free(s);
    return 0;
}

// ---- info ----

static const char *rope_scaling_name(lb_rope_scaling_type t)
{
    switch (t) {
    case LB_ROPE_SCALING_NONE: return "none";
    case LB_ROPE_SCALING_LINEAR: return "linear";
    case LB_ROPE_SCALING_LLAMA3: return "llama3";
    default: return "?";
    }
}

static cJSON *info_json(const char *path, lb_model *m, const lb_model_desc *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "format", d->format);
    cJSON_AddStringToObject(o, "arch", d->arch);
    cJSON_AddStringToObject(o, "tokenizer", d->tokenizer);
    add_i64(o, "n_vocab", d->n_vocab);
    add_i64(o, "n_embd", d->n_embd);
    add_i64(o, "n_ff", d->n_ff);
    add_i64(o, "n_layer", d->n_layer);
    add_i64(o, "n_head", d->n_head);
    add_i64(o, "n_head_kv", d->n_head_kv);
    add_i64(o, "head_dim", d->head_dim);
    add_i64(o, "n_ctx_train", d->n_ctx_train);
    cJSON_AddNumberToObject(o, "norm_eps", d->norm_eps);
    cJSON_AddNumberToObject(o, "rope_theta", d->rope_theta);
    cJSON_AddStringToObject(o, "rope_scaling", rope_scaling_name(d->rope_scaling));
    cJSON_AddNumberToObject(o, "rope_factor", d->rope_factor);
    cJSON_AddBoolToObject(o, "rope_interleaved", d->rope_interleaved);
    cJSON_AddBoolToObject(o, "tied_embeddings", d->tied_embeddings);
    cJSON_AddBoolToObject(o, "qkv_bias", d->qkv_bias);
    add_i64(o, "bos_id", d->bos_id);
    add_i64(o, "eos_id", d->eos_id);

    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    const char *k, *v;
    for (int64_t i = 0; lb_model_meta(m, i, &k, &v); i++) cJSON_AddStringToObject(meta, k, v);

    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    int64_t n = lb_model_n_tensors(m);
    for (int64_t i = 0; i < n; i++) {
        lb_tensor_desc t;
        if (lb_model_tensor(m, i, &t) != LB_OK) continue;
        cJSON *jt = cJSON_CreateObject();
        cJSON_AddStringToObject(jt, "name", t.name);
        cJSON_AddStringToObject(jt, "dtype", t.dtype);
        cJSON *shape = cJSON_AddArrayToObject(jt, "shape");
        for (int dd = 0; dd < t.n_dims; dd++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t.shape[dd]));
        cJSON_AddNumberToObject(jt, "bytes", (double)t.n_bytes);
        cJSON_AddItemToArray(ts, jt);
    }
    add_i64(o, "n_tensors", n);
    add_i64(o, "n_params", d->n_params);
    cJSON_AddNumberToObject(o, "n_bytes", (double)d->n_bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight", d->n_params > 0 ? 8.0 * (double)d->n_bytes / (double)d->n_params : 0);
    return o;
}

static void info_text(const char *path, lb_model *m, const lb_model_desc *d)
{
    char b1[64], b2[64];
    printf("model         %s\n", path);
    printf("format        %s\n", d->format);
    printf("architecture  %s\n", d->arch);
    printf("tokenizer     %s\n", d->tokenizer);
    printf("\nhyper-parameters\n");
    printf("  n_vocab       %lld\n", (long long)d->n_vocab);
    printf("  n_embd        %lld\n", (long long)d->n_embd);
    printf("  n_ff          %lld\n", (long long)d->n_ff);
    printf("  n_layer       %lld\n", (long long)d->n_layer);
    printf("  n_head        %lld\n", (long long)d->n_head);
    printf("  n_head_kv     %lld\n", (long long)d->n_head_kv);
    printf("  head_dim      %lld\n", (long long)d->head_dim);
    printf("  n_ctx_train   %lld\n", (long long)d->n_ctx_train);
    printf("  norm_eps      %g\n", (double)d->norm_eps);
    printf("  rope          theta %g, scaling %s", (double)d->rope_theta, rope_scaling_name(d->rope_scaling));
    if (d->rope_scaling != LB_ROPE_SCALING_NONE) printf(" (factor %g)", (double)d->rope_factor);
    printf(", %s\n", d->rope_interleaved ? "interleaved pairs" : "rotate-half");
    printf("  tied embd     %s\n", d->tied_embeddings ? "yes" : "no");
    printf("  qkv bias      %s\n", d->qkv_bias ? "yes" : "no");
    printf("  bos / eos     %d / %d\n", d->bos_id, d->eos_id);

    int64_t n_meta = 0;
    const char *k, *v;
    while (lb_model_meta(m, n_meta, &k, &v)) n_meta++;
    printf("\nmetadata (%lld)\n", (long long)n_meta);
    for (int64_t i = 0; lb_model_meta(m, i, &k, &v); i++) {
        printf("  %-40s ", k);
        print_oneline(stdout, v, 80);
        putchar('\n');
    }

    int64_t n = lb_model_n_tensors(m);
    int wname = 4, wdtype = 5, wshape = 5;
    for (int64_t i = 0; i < n; i++) {
        lb_tensor_desc t;
        if (lb_model_tensor(m, i, &t) != LB_OK) continue;
        int ln = (int)strlen(t.name), ld = (int)strlen(t.dtype), ls = (int)strlen(shape_str(&t, b1, sizeof b1));
        wname = ln > wname ? ln : wname, wdtype = ld > wdtype ? ld : wdtype, wshape = ls > wshape ? ls : wshape;
    }
    printf("\ntensors (%lld)\n", (long long)n);
    printf("  %-*s  %-*s  %-*s  %12s  %12s\n", wname, "name", wdtype, "dtype", wshape, "shape", "elements", "bytes");
    double sum_el = 0, sum_bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        lb_tensor_desc t;
        if (lb_model_tensor(m, i, &t) != LB_OK) {
            printf("  (tensor %lld: %s)\n", (long long)i, lb_errmsg());
            continue;
        }
        sum_el += elems(&t), sum_bytes += (double)t.n_bytes;
        printf("  %-*s  %-*s  %-*s  %12.0f  %12llu\n", wname, t.name, wdtype, t.dtype, wshape,
               shape_str(&t, b1, sizeof b1), elems(&t), (unsigned long long)t.n_bytes);
    }

    printf("\nparameters    %lld (%s)\n", (long long)d->n_params, human_count((double)d->n_params, b1, sizeof b1));
    printf("size          %llu bytes (%s)\n", (unsigned long long)d->n_bytes, human_bytes((double)d->n_bytes, b2, sizeof b2));
    if (d->n_params > 0) printf("bits/weight   %.4f\n", 8.0 * (double)d->n_bytes / (double)d->n_params);
    if (sum_el != (double)d->n_params || sum_bytes != (double)d->n_bytes)
        fprintf(stderr, "lowbit info: note: the tensor table sums to %.0f elements and %.0f bytes\n", sum_el, sum_bytes);
}

static int run_info(int argc, char **argv)
{
    cursor c = {.v = find_verb("info"), .argc = argc, .argv = argv};
    const char *path = NULL;
    bool json = false;
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_flag(&c, "--json")) json = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");

    lb_model *m = NULL;
    lb_open_params op = {.no_weights = true, .quiet = true};
    lb_status st = lb_model_open(path, &op, &m);
    if (st) return fail_lib(st);
    lb_model_desc d;
    if ((st = lb_model_describe(m, &d))) {
        int rc = fail_lib(st);
        lb_model_close(m);
        return rc;
    }
    int rc = 0;
    if (json) rc = print_json(info_json(path, m, &d));
    else info_text(path, m, &d);
    lb_model_close(m);
    if (fflush(stdout) != 0) rc = fail("writing to stdout failed");
    return rc;
}

// ---- progress bar (ppl) ----

typedef struct progress {
    bool enabled, drawn;
    double t0, t_last;
    const char *label, *unit; /* "ppl", "chunks" */
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (s < 60) snprintf(buf, cap, "%.1fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

static void progress_init(progress *p)
{
    const char *env = getenv("LOWBIT_PROGRESS");
    memset(p, 0, sizeof *p);
    p->enabled = env ? strcmp(env, "1") == 0 : isatty(STDERR_FILENO);
    p->t0 = p->t_last = now_s();
    p->label = "ppl";
    p->unit = "chunks";
}

/* lb_progress_fn: `ppl [#########.....] 12/40 chunks  3.1s  eta 7.2s`, redrawn in place at
 * most 10 times a second, and always for the last chunk. */
static void progress_cb(void *user, int64_t done, int64_t total)
{
    progress *p = user;
    if (!p->enabled) return;
    double t = now_s();
    if (done < total && t - p->t_last < 0.1 && p->drawn) return;
    p->t_last = t;
    double frac = total > 0 ? (double)done / (double)total : 0, el = t - p->t0;
    char bar[31], e1[32], e2[32];
    int fill = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fmt_duration(el, e1, sizeof e1);
    if (done > 0 && done < total) fmt_duration(el * (double)(total - done) / (double)done, e2, sizeof e2);
    else snprintf(e2, sizeof e2, "%s", done >= total ? "0s" : "?");
    fprintf(stderr, "\r%s [%s] %lld/%lld %s  %s  eta %s   ", p->label, bar, (long long)done, (long long)total, p->unit,
            e1, e2);
    fflush(stderr);
    p->drawn = true;
}

static void progress_done(progress *p)
{
    if (p->enabled && p->drawn) fputc('\n', stderr);
}

// ---- ppl ----

/* Reads a whole file; NULL (and a message) on failure. */
static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail("cannot open text file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) {
            fail("cannot read text file '%s': %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (feof(f)) break;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Options ppl and generate share: threads, tokenizer, numerics and the memory budget. */
static uint64_t parse_bytes(const cursor *c, const char *opt, const char *s);

static bool run_option(cursor *c, lb_open_params *op)
{
    const char *val;
    if (opt_value(c, "--threads", "-t", &val)) op->n_threads = (int)parse_int(c, "--threads", val, 1, 4096);
    else if (opt_value(c, "--tokenizer", NULL, &val)) op->tokenizer_path = val;
    else if (opt_value(c, "--numerics", NULL, &val)) op->llamacpp_numerics = parse_numerics(c, val);
    else if (opt_value(c, "--mem-limit", NULL, &val)) {
        if (strcmp(val, "auto") == 0) op->mem_auto = true;
        else op->mem_limit = parse_bytes(c, "--mem-limit", val);
    } else if (opt_flag(c, "--no-prefetch")) op->no_prefetch = true;
    else if (opt_flag(c, "--direct-io")) op->direct_io = true;
    else return false;
    return true;
}

/* Activation quantization options of ppl and generate (not of imatrix/stats, which must see
 * the float activations). */
static bool act_option(cursor *c, lb_open_params *op)
{
    const char *val;
    if (opt_value(c, "--act-quant", NULL, &val)) {
        if (lb_act_quant_from_name(val, &op->act_quant))
            usage_error(c->v, "--act-quant expects none, int8, fp8, int8-static or fp8-static, got '%s'", val);
    } else if (opt_value(c, "--act-calib", NULL, &val)) op->act_calib = val;
    else if (opt_value(c, "--act-calib-samples", NULL, &val))
        op->act_calib_samples = parse_int(c, "--act-calib-samples", val, 1, 1 << 20);
    else return false;
    return true;
}

/* --act-calib belongs to the static kinds: say so before a model is opened. */
static void check_act_options(const cursor *c, const lb_open_params *op)
{
    bool is_static = op->act_quant == LB_ACT_QUANT_INT8_STATIC || op->act_quant == LB_ACT_QUANT_FP8_STATIC;
    if (is_static && !op->act_calib)
        usage_error(c->v, "--act-quant %s needs --act-calib FILE", lb_act_quant_name(op->act_quant));
    if (!is_static && (op->act_calib || op->act_calib_samples))
        usage_error(c->v, "--act-calib and --act-calib-samples go with --act-quant int8-static or fp8-static");
}

/* What streaming did, on stderr (nothing when the whole model was resident). */
static void print_stream_summary(const lb_model *m, int64_t n_tokens)
{
    lb_stream_stats ss;
    lb_model_stream_stats(m, &ss);
    if (ss.n_resident == ss.n_layer && !ss.output_streamed && !ss.embd_streamed) return;
    double gb = (double)ss.bytes_read / 1e9;
    fprintf(stderr,
            "stream: %lld/%lld blocks resident, output head %s; read %.2f GB in %lld passes (%.2f GB per pass), "
            "%.0f MB/s while reading, forward pass waited %.1f s for reads\n",
            (long long)ss.n_resident, (long long)ss.n_layer, ss.output_streamed ? "streamed" : "resident", gb,
            (long long)ss.n_passes, ss.n_passes ? gb / (double)ss.n_passes : 0.0,
            ss.read_seconds > 0 ? (double)ss.bytes_read / 1e6 / ss.read_seconds : 0.0, ss.wait_seconds);
    if (n_tokens > 0)
        fprintf(stderr, "stream: %.3f GB read per generated token\n", gb / (double)n_tokens);
}

/* Opens a model for evaluation and checks that it can tokenize. */
static int open_for_text(const char *path, const lb_open_params *op, lb_model **m, lb_model_desc *d)
{
    lb_status st = lb_model_open(path, op, m);
    if (st) return fail_lib(st);
    if ((st = lb_model_describe(*m, d))) {
        int rc = fail_lib(st);
        lb_model_close(*m);
        *m = NULL;
        return rc;
    }
    if (!d->tokenizer || strcmp(d->tokenizer, "none") == 0) {
        lb_model_close(*m);
        *m = NULL;
        char *copy = strdup(path);
        struct stat sb;
        const char *dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? path : copy ? dirname(copy) : ".";
        fail("%s: no tokenizer found in %s (tokenizer.json, tokenizer.model, tokenizer.bin) or inside the model; "
             "name one with --tokenizer PATH",
             path, dir);
        free(copy);
        return 1;
    }
    return 0;
}

static int run_ppl(int argc, char **argv)
{
    cursor c = {.v = find_verb("ppl"), .argc = argc, .argv = argv};
    const char *path = NULL, *text_path = NULL, *val;
    lb_open_params op = {0};
    lb_ppl_params pp = {.protocol = LB_PPL_LLAMACPP};
    bool json = false;
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--text", "-f", &val)) text_path = val;
        else if (opt_value(&c, "--ctx", "-c", &val)) pp.n_ctx = parse_int(&c, "--ctx", val, 2, INT32_MAX);
        else if (opt_value(&c, "--batch", "-b", &val)) pp.n_batch = parse_int(&c, "--batch", val, 1, 65536);
        else if (opt_value(&c, "--chunks", NULL, &val)) pp.n_chunks = parse_int(&c, "--chunks", val, 1, INT64_MAX);
        else if (run_option(&c, &op)) continue;
        else if (act_option(&c, &op)) continue;
        else if (opt_value(&c, "--protocol", NULL, &val)) {
            if (strcmp(val, "llamacpp") == 0) pp.protocol = LB_PPL_LLAMACPP;
            else if (strcmp(val, "gptq") == 0) pp.protocol = LB_PPL_GPTQ;
            else usage_error(c.v, "--protocol expects llamacpp or gptq, got '%s'", val);
        } else if (opt_flag(&c, "--json")) json = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!text_path) usage_error(c.v, "missing --text FILE");
    check_act_options(&c, &op);
    const char *proto = pp.protocol == LB_PPL_GPTQ ? "gptq" : "llamacpp";

    size_t len = 0;
    char *text = read_text(text_path, &len);
    if (!text) return 1;
    /* llama-perplexity -f drops one trailing newline of the file; do the same so both tools
     * score the very same token stream. */
    if (pp.protocol == LB_PPL_LLAMACPP && len > 0 && text[len - 1] == '\n') text[--len] = '\0';

    lb_model *m = NULL;
    lb_model_desc d;
    int64_t n_ctx = pp.n_ctx ? pp.n_ctx : pp.protocol == LB_PPL_GPTQ ? 2048 : 512;
    op.plan_ctx = n_ctx;
    op.plan_seqs = pp.n_batch ? pp.n_batch : 1;
    op.plan_rows = op.plan_seqs * n_ctx;
    int rc = open_for_text(path, &op, &m, &d);
    if (rc) {
        free(text);
        return rc;
    }
    if (d.n_ctx_train > 0 && n_ctx > d.n_ctx_train)
        fprintf(stderr, "lowbit ppl: warning: context %lld exceeds the model's training context %lld\n", (long long)n_ctx,
                (long long)d.n_ctx_train);

    /* llama-perplexity tokenizes the whole text with BOS in front when the model's tokenizer adds
     * one (and the library puts BOS at the start of every chunk); the GPTQ/AWQ evaluation scripts
     * tokenize without BOS. */
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    lb_status st = lb_tokenize(m, text, len, pp.protocol == LB_PPL_LLAMACPP && d.add_bos, false, &tokens, &n_tokens);
    free(text);
    if (st) {
        rc = fail_lib(st);
        lb_model_close(m);
        return rc;
    }

    progress prog;
    progress_init(&prog);
    pp.progress = progress_cb;
    pp.progress_user = &prog;
    lb_ppl_result r;
    st = lb_perplexity(m, tokens, n_tokens, &pp, &r);
    progress_done(&prog);
    free(tokens);
    if (st) {
        rc = fail_lib(st);
        lb_model_close(m);
        return rc;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddStringToObject(o, "text", text_path);
        cJSON_AddStringToObject(o, "protocol", proto);
        cJSON_AddStringToObject(o, "act_quant", lb_act_quant_name(op.act_quant));
        cJSON_AddNumberToObject(o, "ppl", r.ppl);
        cJSON_AddNumberToObject(o, "ppl_stderr", r.ppl_stderr);
        cJSON_AddNumberToObject(o, "nll_mean", r.nll_mean);
        add_i64(o, "n_tokens", n_tokens);
        add_i64(o, "n_scored", r.n_scored);
        add_i64(o, "n_chunks", r.n_chunks);
        add_i64(o, "n_ctx", r.n_ctx);
        cJSON_AddNumberToObject(o, "seconds", r.seconds);
        cJSON_AddNumberToObject(o, "tokens_per_s", r.tokens_per_s);
        rc = print_json(o);
    } else {
        printf("PPL = %.4f +/- %.4f  (protocol %s, ctx %lld, %lld chunks, %lld scored tokens, act-quant %s, %.1f tok/s)\n",
               r.ppl, r.ppl_stderr, proto, (long long)r.n_ctx, (long long)r.n_chunks, (long long)r.n_scored,
               lb_act_quant_name(op.act_quant), r.tokens_per_s);
    }
    print_stream_summary(m, 0);
    lb_model_close(m);
    if (fflush(stdout) != 0) rc = fail("writing to stdout failed");
    return rc;
}

// ---- generate ----

typedef struct gen_state {
    const lb_model *m;
    int32_t eos;
    bool write_failed;
} gen_state;

/* lb_token_fn: writes the token's bytes as they come (a piece may be part of a UTF-8
 * character; the terminal joins them). EOS ends the text and is not printed. */
static bool on_token(void *user, int32_t token)
{
    gen_state *g = user;
    if (token == g->eos) return false;
    char small[256];
    int64_t n = lb_token_piece(g->m, token, small, sizeof small);
    if (n < 0) return true; /* not a text token: nothing to show */
    char *buf = small;
    if ((size_t)n > sizeof small) {
        if (!(buf = malloc((size_t)n))) return false;
        lb_token_piece(g->m, token, buf, (size_t)n);
    }
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0) g->write_failed = true;
    if (buf != small) free(buf);
    return !g->write_failed;
}

static int run_generate(int argc, char **argv)
{
    cursor c = {.v = find_verb("generate"), .argc = argc, .argv = argv};
    const char *path = NULL, *prompt = NULL, *val;
    lb_open_params op = {0};
    int64_t n_predict = 128;
    lb_sample_params sp = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f};
    bool have_seed = false, no_bos = false;
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--prompt", "-p", &val)) prompt = val;
        else if (opt_value(&c, "--n-predict", "-n", &val)) n_predict = parse_int(&c, "-n", val, 0, INT32_MAX);
        else if (opt_value(&c, "--temp", NULL, &val)) sp.temp = (float)parse_real(&c, "--temp", val, 0, 1e6);
        else if (opt_value(&c, "--top-k", NULL, &val)) sp.top_k = (int)parse_int(&c, "--top-k", val, 0, INT32_MAX);
        else if (opt_value(&c, "--top-p", NULL, &val)) sp.top_p = (float)parse_real(&c, "--top-p", val, 0, 1);
        else if (opt_value(&c, "--seed", "-s", &val)) sp.seed = parse_u64(&c, "--seed", val), have_seed = true;
        else if (run_option(&c, &op)) continue;
        else if (act_option(&c, &op)) continue;
        else if (opt_flag(&c, "--no-bos")) no_bos = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!prompt) usage_error(c.v, "missing -p PROMPT");
    check_act_options(&c, &op);
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sp.seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }

    lb_model *m = NULL;
    lb_model_desc d;
    /* the plan needs the batch before the prompt is tokenized: a token holds at least a byte */
    op.plan_rows = (int64_t)strlen(prompt) + 2;
    op.plan_ctx = op.plan_rows + n_predict;
    int rc = open_for_text(path, &op, &m, &d);
    if (rc) return rc;
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    /* BOS first when the model's tokenizer adds one by convention (as llama-cli does) */
    lb_status st = lb_tokenize(m, prompt, strlen(prompt), d.add_bos && !no_bos, true, &tokens, &n_tokens);
    if (st) {
        rc = fail_lib(st);
        lb_model_close(m);
        return rc;
    }
    if (n_tokens == 0) {
        free(tokens);
        lb_model_close(m);
        return fail("the prompt is empty (no tokens); give some text or drop --no-bos");
    }
    if (d.n_ctx_train > 0 && n_tokens + n_predict > d.n_ctx_train)
        fprintf(stderr, "lowbit generate: warning: %lld prompt + %lld new tokens exceed the model's training context %lld\n",
                (long long)n_tokens, (long long)n_predict, (long long)d.n_ctx_train);

    if (!have_seed && n_predict > 0 && sp.temp > 0 && sp.top_k != 1) /* so that a run can be repeated */
        fprintf(stderr, "seed: %llu\n", (unsigned long long)sp.seed);
    fputs(prompt, stdout);
    fflush(stdout);
    gen_state g = {.m = m, .eos = d.eos_id};
    lb_gen_stats gs;
    st = lb_generate(m, tokens, n_tokens, n_predict, &sp, on_token, &g, &gs);
    free(tokens);
    putchar('\n');
    if (fflush(stdout) != 0) g.write_failed = true; /* the text ends before the timings on stderr */
    if (st) rc = fail_lib(st);
    else if (g.write_failed) rc = fail("writing to stdout failed");
    else {
        double pt = gs.prompt_seconds, gt = gs.gen_seconds;
        fprintf(stderr, "prompt: %lld tokens in %.3f s (%.1f tok/s), generated: %lld tokens in %.3f s (%.1f tok/s)\n",
                (long long)gs.n_prompt, pt, pt > 0 ? (double)gs.n_prompt / pt : 0.0, (long long)gs.n_generated, gt,
                gt > 0 ? (double)gs.n_generated / gt : 0.0);
        print_stream_summary(m, gs.n_generated);
    }
    lb_model_close(m);
    return rc;
}

// ---- convert ----

/* A file with an online rotation is only right under lowbit's engine: say so where it is made. */
static void warn_online_hadamard(const char *verb_name, const char *out)
{
    fprintf(stderr,
            "lowbit %s: warning: --online-hadamard: %s needs lowbit's engine (lowbit ppl/generate); llama.cpp "
            "loads it but ignores the down_proj rotation and computes wrong results\n",
            verb_name, out);
}

static int run_convert(int argc, char **argv)
{
    cursor c = {.v = find_verb("convert"), .argc = argc, .argv = argv};
    const char *path = NULL, *out = NULL, *val;
    lb_convert_params cp = {.type = LB_CONVERT_F16};
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--output", "-o", &val)) out = val;
        else if (opt_value(&c, "--name", NULL, &val)) cp.name = val;
        else if (opt_value(&c, "--rotate", NULL, &val)) cp.rotate = val;
        else if (opt_value(&c, "--rotate-seed", NULL, &val)) cp.rotate_seed = parse_u64(&c, "--rotate-seed", val);
        else if (opt_flag(&c, "--online-hadamard")) cp.online_hadamard = true;
        else if (opt_value(&c, "--type", NULL, &val)) {
            static const char *const names[LB_CONVERT_TYPE_COUNT] = {
                [LB_CONVERT_F32] = "f32", [LB_CONVERT_F16] = "f16", [LB_CONVERT_BF16] = "bf16", [LB_CONVERT_Q8_0] = "q8_0"};
            int t = 0;
            while (t < LB_CONVERT_TYPE_COUNT && strcasecmp(val, names[t]) != 0) t++;
            if (t == LB_CONVERT_TYPE_COUNT) usage_error(c.v, "--type expects f32, f16, bf16 or q8_0, got '%s'", val);
            cp.type = (lb_convert_type)t;
        } else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!out || !*out) usage_error(c.v, "missing -o OUT.gguf");
    if (cp.online_hadamard) warn_online_hadamard("convert", out);

    progress prog;
    progress_init(&prog);
    prog.label = "convert";
    prog.unit = "tensors";
    cp.progress = progress_cb;
    cp.progress_user = &prog;
    lb_status st = lb_convert(path, out, &cp);
    progress_done(&prog);
    if (st) return fail_lib(st);
    fprintf(stderr, "lowbit convert: wrote %s in %.1f s\n", out, now_s() - prog.t0);
    return 0;
}

// ---- imatrix ----

static int run_imatrix(int argc, char **argv)
{
    cursor c = {.v = find_verb("imatrix"), .argc = argc, .argv = argv};
    const char *path = NULL, *text_path = NULL, *out = NULL, *val;
    lb_open_params op = {0};
    lb_imatrix_params ip = {0};
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--text", "-f", &val)) text_path = val;
        else if (opt_value(&c, "--output", "-o", &val)) out = val;
        else if (opt_value(&c, "--ctx", "-c", &val)) ip.n_ctx = parse_int(&c, "--ctx", val, 2, INT32_MAX);
        else if (opt_value(&c, "--chunks", NULL, &val)) ip.n_chunks = parse_int(&c, "--chunks", val, 1, INT64_MAX);
        else if (opt_value(&c, "--batch", "-b", &val)) ip.n_batch = parse_int(&c, "--batch", val, 1, 65536);
        else if (run_option(&c, &op)) continue;
        else if (opt_flag(&c, "--process-output")) ip.process_output = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!text_path) usage_error(c.v, "missing --text FILE");
    if (!out || !*out) usage_error(c.v, "missing -o OUT");

    size_t len = 0;
    char *text = read_text(text_path, &len);
    if (!text) return 1;
    if (len > 0 && text[len - 1] == '\n') text[--len] = '\0'; /* as llama-imatrix -f */
    lb_model *m = NULL;
    lb_model_desc d;
    op.plan_ctx = ip.n_ctx ? ip.n_ctx : 512;
    op.plan_seqs = ip.n_batch ? ip.n_batch : 1;
    op.plan_rows = op.plan_seqs * op.plan_ctx;
    int rc = open_for_text(path, &op, &m, &d);
    if (rc) {
        free(text);
        return rc;
    }
    /* llama-imatrix tokenizes with BOS in front when the vocabulary adds one */
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    lb_status st = lb_tokenize(m, text, len, d.add_bos, false, &tokens, &n_tokens);
    free(text);
    if (st) {
        rc = fail_lib(st);
        lb_model_close(m);
        return rc;
    }
    char *copy = strdup(text_path);
    ip.dataset = copy ? copy : text_path;
    progress prog;
    progress_init(&prog);
    prog.label = "imatrix";
    ip.progress = progress_cb;
    ip.progress_user = &prog;
    lb_imatrix *im = NULL;
    st = lb_imatrix_collect(m, tokens, n_tokens, &ip, &im);
    progress_done(&prog);
    free(tokens);
    lb_model_close(m);
    if (!st) st = lb_imatrix_save(im, out);
    free(copy);
    if (st) {
        lb_imatrix_close(im);
        return fail_lib(st);
    }
    lb_imatrix_info info;
    lb_imatrix_describe(im, &info);
    lb_imatrix_close(im);
    fprintf(stderr, "lowbit imatrix: wrote %s: %lld entries, %lld chunks of %lld tokens, in %.1f s\n", out,
            (long long)info.n_entries, (long long)info.chunk_count, (long long)info.chunk_size, now_s() - prog.t0);
    return 0;
}

// ---- quantize ----

typedef struct qrow {
    char *name;
    char type[16];
    int64_t n_elements;
    uint64_t n_bytes;
    double rel_err, damp; /* rel_err < 0: not GPTQ'd */
    const char *hinv;
} qrow;

typedef struct qreport {
    qrow *rows;
    int64_t n;
    bool oom;
} qreport;

static void quantize_cb(void *user, const lb_quantize_tensor_report *r)
{
    qreport *q = user;
    char b[32];
    fprintf(stderr, "[%4lld/%4lld] %-32s %-7s %10s\n", (long long)(r->index + 1), (long long)r->count, r->name, r->type,
            human_bytes((double)r->n_bytes, b, sizeof b));
    if (!q->rows && !q->oom && !(q->rows = calloc((size_t)r->count, sizeof *q->rows))) q->oom = true;
    if (q->oom || r->index >= r->count) return;
    qrow *row = &q->rows[r->index];
    free(row->name);
    row->name = strdup(r->name);
    snprintf(row->type, sizeof row->type, "%s", r->type);
    row->n_elements = r->n_elements;
    row->n_bytes = r->n_bytes;
    row->rel_err = r->rel_err;
    row->damp = r->damp;
    row->hinv = r->hinv; /* a static string */
    if (r->index + 1 > q->n) q->n = r->index + 1;
}

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

/* "4G", "512M", "1000000" -> bytes */
static uint64_t parse_bytes(const cursor *c, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 'T' || *end == 't') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (mul > 1 && *end == 'i') end++; /* 4GiB */
    if (*end == 'B') end++;
    if (errno || end == s || *end || !(v > 0)) usage_error(c->v, "%s: '%s' is not a size (e.g. 4G, 512M)", opt, s);
    return (uint64_t)(v * mul);
}

/* --type values that make `quantize` write a Hugging Face directory (lb_export_hf). */
static bool is_export_type(const char *t)
{
    return strcasecmp(t, "FP8_E4M3") == 0 || strcasecmp(t, "FP8_E5M2") == 0 || strcasecmp(t, "NF4") == 0;
}

/* lowbit quantize MODEL -o OUTDIR --type FP8_E4M3|FP8_E5M2|NF4: the Hugging Face export. */
static int run_export(int argc, char **argv)
{
    cursor c = {.v = find_verb("quantize"), .argc = argc, .argv = argv};
    const char *path = NULL, *out = NULL, *val;
    lb_export_params ep = {0};
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--output", "-o", &val)) out = val;
        else if (opt_value(&c, "--type", NULL, &val)) ep.type = val;
        else if (opt_value(&c, "--fp8-scale", NULL, &val)) {
            if (strcmp(val, "tensor") && strcmp(val, "channel") && strcmp(val, "block"))
                usage_error(c.v, "unknown --fp8-scale '%s' (tensor, channel, block)", val);
            ep.fp8_scale = val;
        } else if (opt_value(&c, "--fp8-act", NULL, &val)) {
            if (strcmp(val, "dynamic") && strcmp(val, "none") && strcmp(val, "static"))
                usage_error(c.v, "unknown --fp8-act '%s' (dynamic, none)", val);
            ep.fp8_act = val;
        } else if (opt_value(&c, "--policy", NULL, &val)) ep.policy = val;
        else if (opt_flag(&c, "--nf4-double-quant")) ep.nf4_double_quant = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!out) usage_error(c.v, "missing -o OUTDIR");
    lb_status st = lb_export_hf(path, out, &ep);
    if (st) return fail_lib(st);
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}

static int run_quantize(int argc, char **argv)
{
    for (int i = 2; i + 1 < argc; i++) /* FP8 / NF4 write a Hugging Face directory instead */
        if ((strcmp(argv[i], "--type") == 0 && is_export_type(argv[i + 1])) ||
            (strncmp(argv[i], "--type=", 7) == 0 && is_export_type(argv[i] + 7)))
            return run_export(argc, argv);
    if (argc > 2 && strncmp(argv[argc - 1], "--type=", 7) == 0 && is_export_type(argv[argc - 1] + 7))
        return run_export(argc, argv);
    cursor c = {.v = find_verb("quantize"), .argc = argc, .argv = argv};
    const char *path = NULL, *out = NULL, *val;
    lb_quantize_params qp = {0};
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--output", "-o", &val)) out = val;
        else if (opt_value(&c, "--type", NULL, &val)) {
            if (lb_quantize_ftype(val) < 0) usage_error(c.v, "unknown --type '%s'", val);
            qp.type = val;
        } else if (opt_value(&c, "--imatrix", NULL, &val)) qp.imatrix = val;
        else if (opt_value(&c, "--imatrix-chunk", NULL, &val))
            qp.imatrix_chunk_size = parse_int(&c, "--imatrix-chunk", val, 1, INT32_MAX);
        else if (opt_value(&c, "--threads", "-t", &val)) qp.n_threads = (int)parse_int(&c, "--threads", val, 1, 4096);
        else if (opt_value(&c, "--name", NULL, &val)) qp.name = val;
        else if (opt_value(&c, "--rotate", NULL, &val)) qp.rotate = val;
        else if (opt_value(&c, "--rotate-seed", NULL, &val)) qp.rotate_seed = parse_u64(&c, "--rotate-seed", val);
        else if (opt_flag(&c, "--online-hadamard")) qp.online_hadamard = true;
        else if (opt_flag(&c, "--pure")) qp.pure = true;
        else if (opt_value(&c, "--group-size", NULL, &val)) qp.group_size = parse_int(&c, "--group-size", val, -1, 1 << 20);
        else if (opt_flag(&c, "--asym")) qp.asym = true;
        else if (opt_value(&c, "--method", NULL, &val)) {
            static const char *const methods[] = {"rtn", "gptq", "awq", "awq+gptq", "smoothquant", "smoothquant+gptq"};
            size_t k = 0;
            while (k < sizeof methods / sizeof methods[0] && strcasecmp(val, methods[k])) k++;
            if (k == sizeof methods / sizeof methods[0])
                usage_error(c.v, "unknown --method '%s' (rtn, gptq, awq, awq+gptq, smoothquant, smoothquant+gptq)", val);
            qp.method = val;
        } else if (opt_value(&c, "--calib", NULL, &val)) qp.calib = val;
        else if (opt_value(&c, "--calib-samples", NULL, &val))
            qp.calib_samples = parse_int(&c, "--calib-samples", val, 1, 1 << 20);
        else if (opt_value(&c, "--calib-len", NULL, &val)) qp.calib_seq_len = parse_int(&c, "--calib-len", val, 1, 1 << 20);
        else if (opt_value(&c, "--seed", NULL, &val)) qp.seed = parse_u64(&c, "--seed", val);
        else if (opt_value(&c, "--mem-limit", NULL, &val)) qp.mem_limit = parse_bytes(&c, "--mem-limit", val);
        else if (opt_flag(&c, "--resume")) qp.resume = true;
        else if (opt_flag(&c, "--no-sequential")) qp.no_sequential = true;
        else if (opt_flag(&c, "--act-order")) qp.act_order = true;
        else if (opt_value(&c, "--damp", NULL, &val)) qp.damp = parse_real(&c, "--damp", val, 1e-9, 10);
        else if (opt_value(&c, "--gptq-block", NULL, &val)) qp.gptq_block = parse_int(&c, "--gptq-block", val, 1, 1 << 20);
        else if (opt_value(&c, "--awq-grid", NULL, &val)) qp.awq_grid = (int)parse_int(&c, "--awq-grid", val, 1, 1000);
        else if (opt_value(&c, "--awq-tokens", NULL, &val)) qp.awq_tokens = parse_int(&c, "--awq-tokens", val, 1, 1 << 24);
        else if (opt_flag(&c, "--awq-no-clip")) qp.awq_no_clip = true;
        else if (opt_value(&c, "--smooth-alpha", NULL, &val)) qp.smooth_alpha = parse_real(&c, "--smooth-alpha", val, 0.01, 1);
        else if (opt_flag(&c, "--fold-only")) qp.fold_only = true;
        else if (opt_flag(&c, "--smooth-down")) qp.smooth_down = true;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!out || !*out) usage_error(c.v, "missing -o OUT.gguf");
    if (!qp.type) usage_error(c.v, "missing --type TYPE");
    bool blockwise = qp.method && strcasecmp(qp.method, "rtn");
    bool gptq = blockwise && strstr(qp.method, "gptq") != NULL;
    bool awq = blockwise && !strncasecmp(qp.method, "awq", 3), smooth = blockwise && !strncasecmp(qp.method, "smooth", 6);
    if (blockwise && !qp.calib) usage_error(c.v, "--method %s needs --calib FILE", qp.method);
    if (!blockwise && (qp.calib || qp.resume || qp.no_sequential || qp.mem_limit))
        usage_error(c.v, "--calib, --resume, --no-sequential and --mem-limit go with a calibrated --method");
    if (!gptq && (qp.act_order || qp.damp > 0 || qp.gptq_block))
        usage_error(c.v, "--act-order, --damp and --gptq-block go with --method gptq (or awq+gptq, smoothquant+gptq)");
    if (!awq && (qp.awq_grid || qp.awq_tokens || qp.awq_no_clip))
        usage_error(c.v, "--awq-grid, --awq-tokens and --awq-no-clip go with --method awq or awq+gptq");
    if (!smooth && (qp.smooth_alpha > 0 || qp.smooth_down))
        usage_error(c.v, "--smooth-alpha and --smooth-down go with --method smoothquant");
    if (qp.fold_only && (!(awq || smooth) || gptq))
        usage_error(c.v, "--fold-only goes with --method awq or smoothquant (the scaled model, unquantized)");
    qp.on_log = log_line;

    qreport rep = {0};
    qp.on_tensor = quantize_cb;
    qp.user = &rep;
    double t0 = now_s();
    if (qp.online_hadamard) warn_online_hadamard("quantize", out);
    lb_status st = lb_quantize_model(path, out, &qp);
    int rc = 0;
    if (st) {
        rc = fail_lib(st);
    } else {
        double n_el = 0, n_b = 0;
        char b[32];
        printf("%-32s %-7s %14s %12s%s\n", "tensor", "type", "elements", "size",
               gptq ? "  rel.err   damp  H^-1" : "");
        for (int64_t i = 0; i < rep.n; i++) {
            const qrow *r = &rep.rows[i];
            printf("%-32s %-7s %14lld %12s", r->name ? r->name : "?", r->type, (long long)r->n_elements,
                   human_bytes((double)r->n_bytes, b, sizeof b));
            if (gptq && r->rel_err >= 0) printf("  %7.4f %6.3g  %s", r->rel_err, r->damp, r->hinv ? r->hinv : "");
            printf("\n");
            n_el += (double)r->n_elements, n_b += (double)r->n_bytes;
        }
        printf("total: %s in %s tensors, %s parameters, %.4f bits per weight\n", human_bytes(n_b, b, sizeof b),
               human_count((double)rep.n, (char[32]){0}, 32), human_count(n_el, (char[32]){0}, 32),
               n_el > 0 ? 8.0 * n_b / n_el : 0.0);
        fprintf(stderr, "lowbit quantize: wrote %s (%s) in %.1f s\n", out, qp.type, now_s() - t0);
    }
    for (int64_t i = 0; i < rep.n; i++) free(rep.rows[i].name);
    free(rep.rows);
    return rc;
}

// ---- stats ----

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* The numbers at a glance: one line per linear group's input and per weight. */
static void stats_summary(const lb_stats *s)
{
    lb_stats_info info;
    lb_stats_describe(s, &info);
    printf("%5s %-8s %6s %20s %9s  %s\n", "layer", "input", "chans", "kurtosis mean+-std", "max/med", "top channels");
    lb_stats_input in;
    for (int64_t i = 0; lb_stats_input_get(s, i, &in); i++) {
        printf("%5lld %-8s %6lld %11.3g +- %-6.3g %9.3g ", (long long)in.layer, in.role, (long long)in.n_in, in.kurt_mean,
               in.kurt_std, in.max_median);
        for (int k = 0; k < in.n_top && k < 3; k++) printf(" #%lld:%.3g", (long long)in.top[k].index, in.top[k].value);
        printf("\n");
    }
    printf("\n%5s %-6s %12s %9s %9s", "layer", "weight", "shape", "kurtosis", "max/med");
    for (int k = 1; k < info.n_methods; k++) printf(" %9s", info.methods[k]);
    printf("\n");
    lb_stats_weight w;
    for (int64_t i = 0; lb_stats_weight_get(s, i, &w); i++) {
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)w.n_out, (long long)w.n_in);
        printf("%5lld %-6s %12s %9.3g %9.3g", (long long)w.layer, w.kind, shape, w.kurt, w.max_median);
        for (int k = 1; k < info.n_methods; k++) printf(" %9.4f", w.rel_err[k]);
        printf("\n");
    }
}

static int run_stats(int argc, char **argv)
{
    cursor c = {.v = find_verb("stats"), .argc = argc, .argv = argv};
    const char *path = NULL, *out = NULL, *val;
    lb_open_params op = {0};
    lb_stats_params sp = {0};
    bool json = false;
    for (c.i = 2; c.i < argc; c.i++) {
        if (!c.no_more_options && strcmp(argv[c.i], "--") == 0) c.no_more_options = true;
        else if (!is_option(&c)) positional(&c, &path);
        else if (opt_value(&c, "--calib", NULL, &val)) sp.calib = val;
        else if (opt_value(&c, "--calib-samples", NULL, &val))
            sp.calib_samples = parse_int(&c, "--calib-samples", val, 1, 1 << 20);
        else if (opt_value(&c, "--calib-len", NULL, &val)) sp.calib_len = parse_int(&c, "--calib-len", val, 2, 1 << 20);
        else if (opt_value(&c, "--after", NULL, &val)) sp.after = val;
        else if (opt_value(&c, "--output", "-o", &val)) out = val;
        else if (opt_flag(&c, "--json")) json = true;
        else if (opt_value(&c, "--numerics", NULL, &val))
            usage_error(c.v, "--numerics does not apply: stats decodes every weight to f32");
        else if (run_option(&c, &op)) continue;
        else unknown_option(&c);
    }
    if (!path) usage_error(c.v, "missing MODEL");
    if (!sp.calib) usage_error(c.v, "missing --calib FILE");
    if (out && !*out) usage_error(c.v, "-o needs a file name");
    if (!out && !json) usage_error(c.v, "missing -o REPORT.html|REPORT.json (or --json for stdout)");
    sp.open = op;

    progress prog;
    progress_init(&prog);
    prog.label = "stats";
    prog.unit = "blocks";
    sp.progress = progress_cb;
    sp.progress_user = &prog;
    lb_stats *s = NULL;
    lb_status st = lb_stats_run(path, &sp, &s);
    progress_done(&prog);
    if (st) return fail_lib(st);
    bool as_json = json || (out && ends_with(out, ".json"));
    int rc = 0;
    if (out) {
        st = as_json ? lb_stats_write_json(s, out) : lb_stats_write_html(s, out);
        if (st) rc = fail_lib(st);
    } else {
        char *text = NULL;
        if ((st = lb_stats_json(s, &text))) rc = fail_lib(st);
        else puts(text);
        free(text);
    }
    if (!rc && out) stats_summary(s);
    if (!rc && fflush(stdout) != 0) rc = fail("writing to stdout failed");
    if (!rc && out)
        fprintf(stderr, "lowbit stats: wrote %s (%s) in %.1f s\n", out, as_json ? "JSON" : "HTML", now_s() - prog.t0);
    lb_stats_free(s);
    return rc;
}

// ---- main ----

/* libgomp reads OMP_WAIT_POLICY once, when it loads, before main. Its default lets idle
 * threads spin at every barrier; with OpenBLAS and our loops sharing the pool that costs
 * little on an idle machine but, when another process holds one of two cores, turns token
 * generation from 19 into 0.6 tokens/s. So unless the user chose a policy, run again with
 * the passive one (threads sleep), which costs a few percent at most when idle. */
static void prefer_passive_threads(char **argv)
{
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv); /* on failure just go on with the default policy */
}

int main(int argc, char **argv)
{
    prefer_passive_threads(argv);
    if (argc < 2) usage_error(NULL, "missing COMMAND");
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0) {
        if (strcmp(a, "help") == 0 && argc > 2) {
            const verb *v = find_verb(argv[2]);
            if (!v) usage_error(NULL, "unknown command '%s'", argv[2]);
            fputs(v->usage, stdout);
            return 0;
        }
        print_usage(stdout);
        return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
        printf("lowbit %s\n", LOWBIT_VERSION);
        return 0;
    }
    const verb *v = find_verb(a);
    if (!v) {
        if (a[0] == '-') usage_error(NULL, "unknown option '%s'", a);
        usage_error(NULL, "unknown command '%s'", a);
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(v->usage, stdout);
            return 0;
        }
    }
    return v->run(argc, argv);
}
