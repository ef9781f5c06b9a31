/* lowbit: compress large language models to 2-8 bits and run them on small machines.
 *
 * This is the only public header. Every handle is opaque and comes in an open/close pair;
 * close(NULL) is a no-op. Every call that can fail returns an lb_status; on failure the
 * out-pointer is set to NULL, nothing leaks, and lb_errmsg() names the file, tensor and
 * byte offset at fault. Strings returned by the library are borrowed from the handle that
 * produced them and stay valid until that handle is closed, unless said otherwise. */
#ifndef LOWBIT_H
#define LOWBIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOWBIT_VERSION "0.1.0"

/* ---- status ---- */

typedef enum lb_status {
    LB_OK = 0,
    LB_ERR_IO = 1,          /* open/read/write/mmap failed */
    LB_ERR_FORMAT = 2,      /* a file is malformed, truncated or lies in its header */
    LB_ERR_UNSUPPORTED = 3, /* well-formed, but something lowbit does not handle */
    LB_ERR_NOMEM = 4,
    LB_ERR_ARG = 5,         /* the caller passed something invalid */
    LB_ERR_NUMERIC = 6,     /* NaN/Inf where finite numbers are required */
    LB_STATUS_COUNT
} lb_status;

/* Message of the last failure on this thread ("" when none). */
const char *lb_errmsg(void);
const char *lb_status_name(lb_status s);

/* ---- model ---- */

typedef struct lb_model lb_model;

/* Activation fake-quantization of the inputs of every block linear (q/k/v, o, gate/up, down;
 * never the output head or the embeddings, which W8A8 deployments such as SmoothQuant and vLLM
 * keep in 16 bit): each input is quantized to 8 bits and decoded back to f32 before the
 * product, to measure what W8A8 / W4A8 serving costs. Symmetric, no zero point.
 *   INT8: q = clamp(round_half_even(x / s), -127, 127), x' = q * s (vLLM's int8 kernels and
 *         torch.round round half to even); FP8: x' = e4m3(x / s) * s, saturating at 448.
 *   dynamic (INT8, FP8): s = max|x_row| / qmax for each token row, at run time;
 *   static (INT8_STATIC, FP8_STATIC): one s per (layer, linear input) = absmax over a
 *         calibration text / qmax, measured when the model opens (act_calib). */
typedef enum lb_act_quant {
    LB_ACT_QUANT_NONE = 0,
    LB_ACT_QUANT_INT8 = 1,        /* per-token dynamic INT8 */
    LB_ACT_QUANT_FP8 = 2,         /* per-token dynamic FP8 E4M3 */
    LB_ACT_QUANT_INT8_STATIC = 3, /* per-tensor static INT8 */
    LB_ACT_QUANT_FP8_STATIC = 4,  /* per-tensor static FP8 E4M3 */
    LB_ACT_QUANT_COUNT
} lb_act_quant;

/* "none", "int8", "fp8", "int8-static", "fp8-static" (the CLI's spelling); NULL out of range. */
const char *lb_act_quant_name(lb_act_quant q);
/* The inverse of lb_act_quant_name; LB_ERR_ARG naming the accepted values otherwise. */
lb_status lb_act_quant_from_name(const char *name, lb_act_quant *out);

typedef struct lb_open_params {
    int n_threads;              /* 0 = all cores */
    const char *tokenizer_path; /* NULL = find it beside the model (or inside a GGUF) */
    bool no_weights;            /* read headers, config and tokenizer only (lowbit info) */
    bool quiet;                 /* no progress on stderr */
    bool llamacpp_numerics;     /* keep quantized weights as stored and multiply them against
                                   8-bit-quantized activations, as llama.cpp's CPU backend does
                                   (its perplexities, its memory); default: decode weights to f32
                                   and compute exactly */

    /* Memory budget (layer streaming). With mem_limit > 0, or mem_auto, blocks that fit the
       budget stay resident and the rest are read from disk on every forward pass, into reusable
       buffers, the next block read by a prefetch thread while the current one computes. The
       output head streams the same way; embedding rows are read as tokens need them. Results
       are bit-identical to a fully resident model. The plan is printed (unless quiet) and a
       budget too small for even one block at a time is refused. */
    uint64_t mem_limit;   /* bytes; 0 = no limit (everything resident) unless mem_auto */
    bool mem_auto;        /* budget = 85% of MemAvailable (/proc/meminfo) */
    bool no_prefetch;     /* read each streamed block when needed (one buffer, no thread) */
    bool direct_io;       /* O_DIRECT reads (bypass the page cache) instead of pread + drop */
    /* the largest batch the caller will run, for the plan (0 = 512 rows, 512 positions, 1 sequence) */
    int64_t plan_rows, plan_ctx, plan_seqs;

    /* Activation quantization (see lb_act_quant). The static kinds need act_calib: a text file
       (or several, comma-separated) of which act_calib_samples windows (0 = 16) of
       min(256, training context) tokens, BOS first when the tokenizer adds one, at fixed
       pseudo-random offsets (seed 0), run through the unquantized model at open to find each
       input's absmax. act_calib with a dynamic kind (or none) is LB_ERR_ARG. */
    lb_act_quant act_quant;
    const char *act_calib;
    int64_t act_calib_samples;
} lb_open_params;

/* Opens a Hugging Face directory, a .safetensors file, a GGUF file or a llama2.c checkpoint.
 * params may be NULL for defaults. */
lb_status lb_model_open(const char *path, const lb_open_params *params, lb_model **out);
void lb_model_close(lb_model *m);

typedef enum lb_rope_scaling_type {
    LB_ROPE_SCALING_NONE = 0,
    LB_ROPE_SCALING_LINEAR = 1,
    LB_ROPE_SCALING_LLAMA3 = 2,
    LB_ROPE_SCALING_COUNT
} lb_rope_scaling_type;

typedef struct lb_model_desc {
    const char *format;    /* "hf-dir", "safetensors", "gguf", "llama2c" */
    const char *arch;      /* "llama", "mistral", "qwen2" */
    const char *tokenizer; /* "spm-bpe", "byte-bpe", "llama2c" or "none" */
    int64_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    float norm_eps, rope_theta;
    lb_rope_scaling_type rope_scaling;
    float rope_factor; /* linear or llama3 factor */
    bool rope_interleaved; /* GGUF/llama2.c pair layout; false = HF rotate-half */
    bool tied_embeddings, qkv_bias;
    int32_t bos_id, eos_id; /* -1 when the model has none */
    bool add_bos;           /* the model's tokenizer prepends BOS by convention (HF post-processor,
                               GGUF tokenizer.ggml.add_bos_token, llama2.c): lowbit follows it */
    int64_t n_params;       /* elements over all tensors */
    uint64_t n_bytes;       /* bytes of tensor data as stored */
} lb_model_desc;

lb_status lb_model_describe(const lb_model *m, lb_model_desc *out);

/* The memory plan the model opened with and what streaming has done since. */
typedef struct lb_stream_stats {
    uint64_t mem_limit;          /* budget planned for; 0 = none */
    uint64_t plan_bytes;         /* what the plan expects to use at most */
    uint64_t min_bytes;          /* smallest budget that streams every block (one at a time) */
    uint64_t all_resident_bytes; /* what keeping everything resident takes */
    int64_t n_layer, n_resident; /* blocks kept in memory; the others stream */
    bool output_streamed, embd_streamed, prefetch, direct_io;
    uint64_t bytes_read;  /* read from disk by the stream */
    double read_seconds;  /* spent reading (prefetch thread, or inline without it) */
    double wait_seconds;  /* the forward pass waited for a block to arrive */
    int64_t n_passes;     /* forward passes that streamed at least one block */
} lb_stream_stats;

void lb_model_stream_stats(const lb_model *m, lb_stream_stats *out);

typedef struct lb_tensor_desc {
    const char *name;
    const char *dtype; /* "F32", "Q4_K", ... */
    int n_dims;
    int64_t shape[4]; /* outermost first; shape[n_dims-1] is contiguous */
    uint64_t n_bytes;
} lb_tensor_desc;

int64_t lb_model_n_tensors(const lb_model *m);
lb_status lb_model_tensor(const lb_model *m, int64_t i, lb_tensor_desc *out);

/* Source metadata as key/value text (GGUF metadata, config.json fields, llama2.c header),
 * for display. Arrays are summarized. Returns false past the end. */
bool lb_model_meta(const lb_model *m, int64_t i, const char **key, const char **value);

/* ---- tokens ---- */

/* Encodes UTF-8 text. *tokens is malloc'd, owned by the caller (free()). add_bos applies the
 * model's own convention (like HF add_special_tokens=True): BOS is prepended only when the
 * model adds one (lb_model_desc.add_bos); false never adds it. parse_special makes special/added
 * tokens written in the text ("<|im_start|>") map to their ids. */
lb_status lb_tokenize(const lb_model *m, const char *text, size_t len, bool add_bos, bool parse_special,
                      int32_t **tokens, int64_t *n_tokens);
/* Bytes of one token as it appears in text (may be a partial UTF-8 sequence). Returns the
 * number of bytes, which may exceed cap (nothing past cap is written); -1 for a bad id. */
int64_t lb_token_piece(const lb_model *m, int32_t token, char *buf, size_t cap);
/* Decodes a token sequence to text like the model's own detokenizer. *text is malloc'd. */
lb_status lb_detokenize(const lb_model *m, const int32_t *tokens, int64_t n, char **text, size_t *len);

/* ---- evaluation ---- */

/* Logits of every position for one sequence (no cache): logits is [n_tokens][n_vocab]. */
lb_status lb_eval_logits(lb_model *m, const int32_t *tokens, int64_t n_tokens, float *logits);

typedef void (*lb_progress_fn)(void *user, int64_t done, int64_t total);

typedef enum lb_ppl_protocol {
    LB_PPL_LLAMACPP = 0, /* score the second half of each chunk, whose first token is replaced by
                            BOS when the model adds BOS (exactly as llama-perplexity does) */
    LB_PPL_GPTQ = 1,     /* non-overlapping windows, score every token (GPTQ/AWQ papers) */
    LB_PPL_PROTOCOL_COUNT
} lb_ppl_protocol;

typedef struct lb_ppl_params {
    lb_ppl_protocol protocol;
    int64_t n_ctx;    /* tokens per chunk; 0 = protocol default (512 llamacpp, 2048 gptq) */
    int64_t n_batch;  /* chunks evaluated together, layer-major; 0 = 1 */
    int64_t n_chunks; /* 0 = all that fit */
    lb_progress_fn progress;
    void *progress_user;
} lb_ppl_params;

typedef struct lb_ppl_result {
    double ppl, ppl_stderr; /* exp(mean NLL) and its standard error (delta method) */
    double nll_mean;
    int64_t n_scored, n_chunks, n_ctx;
    double seconds, tokens_per_s; /* all tokens evaluated (not only scored) per second */
} lb_ppl_result;

lb_status lb_perplexity(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_ppl_params *p,
                        lb_ppl_result *out);

typedef struct lb_sample_params {
    float temp;   /* 0 = greedy */
    int top_k;    /* 0 = off */
    float top_p;  /* 1 = off */
    uint64_t seed;
} lb_sample_params;

/* Called for every generated token; return false to stop. */
typedef bool (*lb_token_fn)(void *user, int32_t token);

typedef struct lb_gen_stats {
    int64_t n_prompt, n_generated;
    double prompt_seconds, gen_seconds;
} lb_gen_stats;

/* Generates up to n_predict tokens after the prompt, stopping at EOS. */
lb_status lb_generate(lb_model *m, const int32_t *prompt, int64_t n_prompt, int64_t n_predict,
                      const lb_sample_params *sp, lb_token_fn on_token, void *user, lb_gen_stats *stats);

/* ---- conversion to GGUF ---- */

typedef enum lb_convert_type {
    LB_CONVERT_F32 = 0,  /* llama.cpp file type ALL_F32 */
    LB_CONVERT_F16 = 1,  /* MOSTLY_F16 */
    LB_CONVERT_BF16 = 2, /* MOSTLY_BF16 */
    LB_CONVERT_Q8_0 = 3, /* MOSTLY_Q8_0 (rows not a multiple of 32 fall back to F16, as in
                            convert_hf_to_gguf.py) */
    LB_CONVERT_TYPE_COUNT
} lb_convert_type;

typedef struct lb_convert_params {
    lb_convert_type type; /* of the 2-D weights; 1-D tensors (norms, biases) stay F32 */
    const char *name;     /* general.name; NULL = from the source (directory or file name) */
    lb_progress_fn progress; /* called after each tensor: (done, total) tensors */
    void *progress_user;
    /* Residual rotation (QuaRot/SpinQuant R1): NULL = none, "hadamard" (randomized Hadamard; a
       seeded random orthogonal matrix when n_embd is not a power of two) or "orthogonal". Norm
       weights are folded into the linears after them and the output head is written untied, so
       the result is a plain checkpoint with the same logits and smaller activation outliers. */
    const char *rotate;
    uint64_t rotate_seed;
    /* Online rotation of the down_proj input (QuaRot's R4): ffn_down.weight W [n_embd][n_ff] is
       written as W R, R = D (H_p (x) Q_m) orthogonal (p the largest power of two dividing n_ff,
       Q_m seeded random orthogonal, D random signs, from rotate_seed), and R is recorded in the
       metadata (lowbit.ffn_down_rotation.*) so that lowbit's engine computes x R before the
       product: same logits, flatter down inputs. llama.cpp loads such a file but ignores R and
       computes WRONG results: it needs lowbit. With or without rotate. */
    bool online_hadamard;
} lb_convert_params;

/* Writes the model at model_path (any source lb_model_open reads) as a GGUF file that llama.cpp
 * loads unchanged, as convert_hf_to_gguf.py / convert-llama2c-to-ggml would write it: llama.cpp
 * metadata keys and tensor names, q/k of HF llama checkpoints permuted to interleaved pairs, the
 * vocabulary (tokenizer.ggml.*), tied embeddings as token_embd only. One tensor is in memory at a
 * time. out_path is written to a temporary name and renamed when complete; on failure it is left
 * untouched. p may be NULL (F32). */
lb_status lb_convert(const char *model_path, const char *out_path, const lb_convert_params *p);

/* ---- quantization to GGUF (llama-quantize) ---- */

/* One tensor written by lb_quantize_model (strings borrowed for the duration of the call). */
typedef struct lb_quantize_tensor_report {
    int64_t index, count; /* index in [0, count) in file order */
    const char *name;     /* GGUF name */
    const char *type;     /* "Q4_K", "F32", ... */
    int64_t n_elements;
    uint64_t n_bytes;
    /* method gptq, for the linears it quantized (else rel_err < 0, hinv NULL): */
    double rel_err;       /* ||(W - Q) X|| / ||W X|| over the calibration inputs, from GPTQ's loss */
    double damp;          /* relative damping finally used */
    const char *hinv;     /* how H^-1 was obtained: "cholesky", "damped", "ldlt", "eigen" */
} lb_quantize_tensor_report;

typedef void (*lb_quantize_tensor_fn)(void *user, const lb_quantize_tensor_report *r);

typedef struct lb_quantize_params {
    /* llama-quantize's TYPE, case-insensitive: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
       Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS, and the aliases
       Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M. NULL = Q4_K_M. */
    const char *type;
    /* TYPE may also be INT2 .. INT8: group-wise integers on the GPTQ/AWQ grid (AutoGPTQ's
       quantizer, f16 scales), group_size columns per scale (0 = 128; a row that it does not
       divide gets one group), symmetric unless asym. Written simulated: the block linears hold
       their grid values as F32 (what a GPTQ checkpoint decodes to), everything else F32, so
       perplexity measures the format before a packed exporter exists. */
    int64_t group_size;
    bool asym;
    bool pure;            /* every 2-D weight gets the type's base type (llama-quantize --pure), no
                             per-tensor recipe; rows it cannot hold still fall back */
    const char *imatrix;  /* llama.cpp imatrix (.dat or .gguf) path, NULL = none */
    int64_t imatrix_chunk_size; /* tokens per chunk of a legacy .dat (0 = 512) */
    int n_threads;        /* 0 = all cores; the output does not depend on it */
    const char *name;     /* general.name; NULL = from the source */
    lb_quantize_tensor_fn on_tensor; /* after each tensor is written; may be NULL */
    void *user;

    /* ---- block-wise methods: one transformer block in memory at a time ---- */
    /* "rtn" (NULL: llama-quantize's rounding), "gptq", "awq" (activation-aware scales searched
       per block against the block's output error, weight clipping, then round to nearest),
       "awq+gptq", "smoothquant" (SmoothQuant's closed-form scales, then round to nearest),
       "smoothquant+gptq". Scales are folded into the RMSNorm weights (and v/up rows), so the
       output stays a plain GGUF that llama.cpp runs. */
    const char *method;
    const char *calib;       /* calibration text file(s), comma-separated */
    int64_t calib_samples;   /* windows of calib_seq_len tokens at random offsets (0 = 128) */
    int64_t calib_seq_len;   /* 0 = 512 */
    uint64_t seed;           /* picks the windows */
    uint64_t mem_limit;      /* bytes the memory plan may use; 0 = no limit */
    bool resume;             /* continue the checkpoint an interrupted identical run left */
    bool no_sequential;      /* X_{i+1} from the float block instead of the quantized one */
    bool act_order;          /* GPTQ columns by decreasing Hessian diagonal (static groups) */
    double damp;             /* relative damping, 0 = 0.01 */
    int64_t gptq_block;      /* lazy-update block, 0 = 128 */
    void (*on_log)(void *user, const char *line); /* plan, progress and fallback lines; may be NULL */
    /* Residual rotation before quantizing, as lb_convert_params.rotate. With GPTQ the rotated
       model is first written to OUT.rotated.tmp.gguf (F32, or F16 above 4 GB) and calibrated on;
       not combinable with an imatrix made on the unrotated model. */
    const char *rotate;
    uint64_t rotate_seed;
    /* As lb_convert_params.online_hadamard (the output needs lowbit's engine). With GPTQ the
       calibration runs through the rotated temporary model, whose engine applies R. */
    bool online_hadamard;
    /* AWQ: ratios 0, 1/awq_grid, ... tried per scale group (0 = 20); tokens (whole calibration
       windows) whose block output is the search objective (0 = 1024); no weight clipping. */
    int awq_grid;
    int64_t awq_tokens;
    bool awq_no_clip;
    double smooth_alpha; /* SmoothQuant migration strength, 0 = 0.5 */
    bool smooth_down;    /* SmoothQuant also smooths the down_proj input (into up's rows) and, with
                            n_head = n_head_kv, the o_proj input (into v's rows) */
    /* Write the scaled (awq, smoothquant) model unquantized, every weight F32: the transform
       alone, searched for `type`, to inspect or to quantize with another tool. */
    bool fold_only;
} lb_quantize_params;

/* Writes the model at model_path (any source lb_model_open reads; quantized tensors are decoded
 * to f32 first) as a GGUF that llama.cpp loads, every 2-D weight quantized to the type that
 * llama-quantize's recipe (llama_tensor_get_type in llama-quant.cpp, llama architecture) gives
 * it for p->type, with the same fallbacks for rows that are not a multiple of 256 (or 32):
 * Q2_K/Q3_K -> Q4_0, IQ4_XS -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16. 1-D tensors stay
 * F32; general.file_type is the mix's LLAMA_FTYPE. With an imatrix, each weight's rows are
 * weighted by its entry (same name, mean square of each input column), as llama-quantize does.
 * Conversion (names, q/k permutation, vocabulary) is lb_convert's; out_path is written to a
 * temporary name and renamed when complete, so on failure it is left untouched. */
lb_status lb_quantize_model(const char *model_path, const char *out_path, const lb_quantize_params *p);
/* LLAMA_FTYPE of a TYPE name (as lb_quantize_params.type), or -1 when unknown. */
int lb_quantize_ftype(const char *type);

/* ---- export to a Hugging Face directory (FP8 compressed-tensors, bitsandbytes NF4) ---- */

typedef struct lb_export_params {
    const char *type;      /* "FP8_E4M3", "FP8_E5M2" or "NF4" (case-insensitive; required) */
    const char *fp8_scale; /* "tensor" (default), "channel" or "block" (128x128) */
    const char *fp8_act;   /* "dynamic" (default: per-token FP8 activations, as vLLM's FP8_DYNAMIC)
                              or "none" (weight-only); "static" needs calibrated input scales and
                              is refused */
    const char *policy;    /* per-layer spec or "@FILE" (grammar: lowbit quantize --help); NULL = TYPE
                              for every block linear */
    bool nf4_double_quant; /* NF4: quantize the absmax values too (QLoRA double quantization) */
    bool quiet;            /* no per-tensor lines on stderr */
} lb_export_params;

/* Writes MODEL (HF directory, .safetensors, GGUF or llama2.c; quantized sources are decoded
 * first) as a Hugging Face directory OUT_DIR that vLLM / transformers load as is: FP8 in the
 * compressed-tensors "float-quantized" layout (weight F8_* + weight_scale F32), NF4 in the
 * bitsandbytes 4-bit serialization; config.json with quantization_config; tokenizer files copied
 * from an HF source (a GGUF/llama2.c source keeps its tokenizer in the source file: give it to
 * lowbit with --tokenizer). Written to OUT_DIR.tmp.PID and renamed when complete; on failure
 * nothing is left and an existing OUT_DIR is untouched. */
lb_status lb_export_hf(const char *model_path, const char *out_dir, const lb_export_params *p);

/* ---- importance matrix (llama.cpp imatrix) ---- */

/* Per linear weight (GGUF tensor names: blk.N.attn_q.weight, ..., blk.N.ffn_down.weight, and
 * output.weight when asked for), the sum over all calibration tokens of the square of each input
 * column, and the number of tokens: llama-imatrix's in_sum2 and counts. llama-quantize weights
 * each column's rounding error by in_sum2 / counts. */
typedef struct lb_imatrix lb_imatrix;

typedef struct lb_imatrix_params {
    int64_t n_ctx;        /* tokens per chunk; 0 = 512 (llama-imatrix's default context) */
    int64_t n_chunks;     /* 0 = all that fit */
    int64_t n_batch;      /* chunks evaluated together, layer-major; 0 = 1 (sums do not change) */
    bool process_output;  /* also output.weight (llama-imatrix --process-output); a model with tied
                             embeddings has none, as in llama-imatrix, whose output is token_embd */
    const char *dataset;  /* recorded as the calibration data's name (imatrix.datasets); NULL = none */
    lb_progress_fn progress; /* after each batch: (done, total) chunks */
    void *progress_user;
} lb_imatrix_params;

/* Runs tokens through the model as llama-imatrix does: chunks of n_ctx tokens, the first token of
 * each replaced by BOS when the model's vocabulary adds BOS (tokens should have been tokenized with
 * add_bos = true, as llama-imatrix does), every position's linear inputs accumulated in double.
 * Needs at least 2 * n_ctx tokens (as llama-imatrix). The result does not depend on the thread
 * count. *out is owned by the caller (lb_imatrix_close). */
lb_status lb_imatrix_collect(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_imatrix_params *p,
                             lb_imatrix **out);
/* Writes llama.cpp's GGUF imatrix when path ends in ".gguf", otherwise its legacy binary .dat.
 * Written to a temporary name and renamed when complete; on failure path is left untouched. */
lb_status lb_imatrix_save(const lb_imatrix *im, const char *path);
/* Reads either format (GGUF recognised by its magic). The legacy format stores mean squares times
 * the number of chunks but not the chunk size: chunk_size (0 = 512) rebuilds sums and counts as
 * llama.cpp does (sum = value * chunk_size, count = ncall * chunk_size). */
lb_status lb_imatrix_load(const char *path, int64_t chunk_size, lb_imatrix **out);
void lb_imatrix_close(lb_imatrix *im);
/* collect + save. */
lb_status lb_imatrix_compute(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_imatrix_params *p,
                             const char *out_path);

typedef struct lb_imatrix_entry {
    const char *name;   /* borrowed until lb_imatrix_close */
    int64_t n_in;       /* input columns */
    int64_t count;      /* tokens seen */
    const double *sum2; /* [n_in] sum of x^2 per column */
} lb_imatrix_entry;

typedef struct lb_imatrix_info {
    int64_t n_entries;   /* sorted by name (strcmp), as llama-imatrix stores them */
    int64_t chunk_count; /* chunks the sums were computed over */
    int64_t chunk_size;  /* tokens per chunk (0 when unknown) */
    int64_t n_datasets;
} lb_imatrix_info;

void lb_imatrix_describe(const lb_imatrix *im, lb_imatrix_info *out);
/* Entry i in [0, n_entries); false past the end. */
bool lb_imatrix_get(const lb_imatrix *im, int64_t i, lb_imatrix_entry *out);
/* Index of the entry with that name, -1 when absent. */
int64_t lb_imatrix_find(const lb_imatrix *im, const char *name);
/* Dataset name i (borrowed), NULL past the end. */
const char *lb_imatrix_dataset(const lb_imatrix *im, int64_t i);

/* ---- outlier statistics ---- */

/* lowbit stats: what a model's linears look like to a quantizer (LLMC's quant_analysis). The
 * calibration text runs through the model once, all windows as one layer-major batch, and every
 * linear group's input is observed: per channel max |x| and mean |x|, per token the kurtosis
 * across channels, the channels with the largest magnitudes; every linear weight gets its
 * kurtosis, per-input-column max |W| and the relative output error ||(W - Q) X|| / ||W X|| of
 * each quantization method asked for, on up to 256 retained input rows. Memory stays at one
 * linear's weights (plus the batch's activations), so a streamed model stays streamed. */
typedef struct lb_stats lb_stats;

typedef struct lb_stats_params {
    const char *calib;     /* UTF-8 calibration text file (required) */
    int64_t calib_samples; /* windows (0 = 16): consecutive, from the start of the token stream;
                              fewer when the text holds fewer */
    int64_t calib_len;     /* tokens per window (0 = 256), BOS first when the model adds BOS */
    /* Methods whose quantization error is measured next to the float model, comma-separated:
       "rtn" (Q4_0 round to nearest), "awq" (Q4_0 after AWQ's per-channel scales, searched per
       linear), "rotate" (Q4_0 of the weight in a randomized Hadamard basis), "w8a8" (INT8 per
       channel x INT8 per-token activations), "smoothquant" (w8a8 after SmoothQuant's scales,
       alpha 0.5). NULL, "" or "none": the float model only. */
    const char *after;
    /* how the model is opened: threads (the results do not depend on them), tokenizer, memory
       budget (blocks that do not fit stream from disk), quiet; numerics and the plan_* fields
       are set by lb_stats_run */
    lb_open_params open;
    lb_progress_fn progress;    /* after each block: (done, total) blocks */
    void *progress_user;
} lb_stats_params;

#define LB_STATS_TOP 8

typedef struct lb_stats_channel {
    int64_t index; /* channel (input column) */
    float value;   /* its max |x| (or max |W|) */
} lb_stats_channel;

typedef struct lb_stats_info {
    const char *model, *calib, *arch; /* borrowed until lb_stats_free */
    int64_t n_layer, n_embd, n_ff;
    int64_t n_windows, calib_len;
    int64_t n_tokens;  /* rows every linear saw */
    int64_t n_sampled; /* rows the errors are measured on */
    int n_methods;     /* "float" (always error 0), then those of `after`, in order */
    const char *const *methods;
    double seconds;
} lb_stats_info;

/* One linear group's input, over every calibration token. role: "qkv" (attn_norm output, read
 * by q, k, v), "o" (attention output), "gate_up" (ffn_norm output), "down" (silu(gate) * up). */
typedef struct lb_stats_input {
    int64_t layer;
    const char *role;
    int64_t n_in, n_tokens;
    double kurt_mean, kurt_std; /* Pearson kurtosis of each token's n_in values: mean, std */
    double max_median;          /* max / median of the per-channel max |x| (NaN: median 0) */
    lb_stats_channel top[LB_STATS_TOP]; /* channels with the largest max |x|, descending */
    int n_top;
    const float *ch_max, *ch_mean; /* [n_in] per channel max |x| and mean |x| (borrowed) */
} lb_stats_input;

/* One linear weight [n_out][n_in]. kind: "q" "k" "v" "o" "gate" "up" "down". */
typedef struct lb_stats_weight {
    int64_t layer;
    const char *kind, *name, *input; /* name: the tensor in the source; input: its group's role */
    int64_t n_out, n_in;
    double kurt;       /* Pearson kurtosis over all elements */
    double max_median; /* max / median of the per-input-column max |W| */
    lb_stats_channel top[LB_STATS_TOP]; /* columns with the largest max |W|, descending */
    int n_top;
    const double *rel_err; /* [n_methods]; NaN where a method cannot apply (Q4_0 needs rows of 32k) */
} lb_stats_weight;

/* Opens the model (streaming under the memory budget), tokenizes the calibration text, runs it
 * and collects the statistics. *out is owned by the caller (lb_stats_free). */
lb_status lb_stats_run(const char *model_path, const lb_stats_params *p, lb_stats **out);
void lb_stats_free(lb_stats *s);
void lb_stats_describe(const lb_stats *s, lb_stats_info *out);
/* Inputs in layer order, roles in the order above; false past the end. */
int64_t lb_stats_n_inputs(const lb_stats *s);
bool lb_stats_input_get(const lb_stats *s, int64_t i, lb_stats_input *out);
/* Weights in layer order, kinds in the order above; false past the end. */
int64_t lb_stats_n_weights(const lb_stats *s);
bool lb_stats_weight_get(const lb_stats *s, int64_t i, lb_stats_weight *out);
/* The report as JSON text (malloc'd, the caller frees it). */
lb_status lb_stats_json(const lb_stats *s, char **out);
/* The report as JSON, or as one self-contained HTML page with inline SVG plots (no scripts, no
 * external resources). Written to a temporary name and renamed when complete; on failure path
 * is left untouched. */
lb_status lb_stats_write_json(const lb_stats *s, const char *path);
lb_status lb_stats_write_html(const lb_stats *s, const char *path);

#ifdef __cplusplus
}
#endif
#endif
