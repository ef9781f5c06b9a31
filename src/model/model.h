/* The Llama-family model: configuration read from any source, weights, and the layer-major
 * forward pass shared by perplexity, generation and (later) calibration.
 *
 * Layer-major means a batch of n_seq sequences goes through block 0 entirely, then block 1,
 * and so on: a model streamed from disk is read once per batch, and every linear is one sgemm
 * over all n_seq * n_tokens rows. The forward pass allocates nothing: scratch buffers are
 * sized when the model opens (lb_model_reserve grows them before a bigger batch). */
#ifndef LB_MODEL_H
#define LB_MODEL_H

#include "algo/kron_rotation.h"
#include "core/core.h"
#include "io/source.h"
#include "tok/tokenizer.h"

typedef struct lb_llama_config {
    char arch[32]; /* "llama", "mistral", "qwen2" */
    int64_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    float norm_eps, rope_theta;
    lb_rope_scaling_type rope_scaling;
    float rope_factor;                     /* linear: positions / factor; llama3: see rope.c */
    float rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_orig_ctx;                 /* llama3 original_max_position_embeddings */
    bool rope_interleaved;                 /* pairs (2i, 2i+1) (GGUF, llama2.c) vs halves (HF) */
    bool tied_embeddings, qkv_bias;
    int32_t bos_id, eos_id;
} lb_llama_config;

/* Reads the configuration from config.json, GGUF metadata or a llama2.c header, and checks
 * it against the tensor shapes (mismatch -> LB_ERR_FORMAT naming the tensor). */
lb_status lb_config_from_source(const lb_source *src, lb_llama_config *cfg);

/* Which linear a forward-pass observer is shown the input of (one call per distinct input:
 * q, k and v share theirs, gate and up theirs). */
typedef enum lb_linear_role {
    LB_LINEAR_QKV = 0,    /* attn_norm output -> attn_q, attn_k, attn_v   [rows][n_embd] */
    LB_LINEAR_O = 1,      /* attention output -> attn_output              [rows][n_head*head_dim] */
    LB_LINEAR_GATE_UP = 2, /* ffn_norm output -> ffn_gate, ffn_up         [rows][n_embd] */
    LB_LINEAR_DOWN = 3,   /* silu(gate) * up -> ffn_down                  [rows][n_ff] */
    LB_LINEAR_OUTPUT = 4, /* final norm output -> output (layer = -1)     [rows][n_embd] */
    LB_LINEAR_ROLE_COUNT
} lb_linear_role;

/* Sees the input rows x[n_rows][n_in] of a linear group right before it runs (calibration:
 * imatrix, Hessians). layer is the block index, -1 for the output head. */
typedef void (*lb_linear_observer)(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows,
                                   int64_t n_in);

/* A linear layer's weight, row-major [n_out][n_in]: decoded to f32 (exact numerics), or, when
 * the model opens with llamacpp_numerics, the stored quantized rows multiplied against 8-bit
 * activations the way llama.cpp's CPU backend does (src/kernels). */
typedef struct lb_weight {
    float *f32;    /* owned, or NULL when kept quantized */
    const void *q; /* stored rows of `type`, borrowed from the source mapping */
    lb_type type;
    /* FP8 kept stored with scales: the scale tensor's bytes (borrowed like q), their type (F32,
     * F16, BF16) and lb_fp8_scaling; NULL when the codes are the values */
    const void *scale;
    lb_type scale_type;
    int scaling;
    /* NF4 kept stored: scale is the absmax bytes (scale_type F32, or U8 codes under double
     * quant), qmap the quant_map F32[16]; double quant adds nested (nested_absmax F32), nested_map
     * (F32[256]) and nested_offset; all borrowed like q */
    const void *qmap, *nested, *nested_map;
    float nested_offset;
} lb_weight;

/* One transformer block. */
typedef struct lb_block {
    float *attn_norm;            /* [n_embd] */
    lb_weight wq, wk, wv, wo;    /* [n_head*head_dim][n_embd], [n_head_kv*head_dim][n_embd] x2, [n_embd][n_head*head_dim] */
    float *bq, *bk, *bv;         /* qwen2 biases or NULL */
    float *ffn_norm;             /* [n_embd] */
    lb_weight w_gate, w_up;      /* [n_ff][n_embd] */
    lb_weight w_down;            /* [n_embd][n_ff] */
} lb_block;

/* RoPE tables per dimension pair: inv_freq[head_dim/2] (llama3/linear scaling applied). */
typedef struct lb_rope {
    int64_t head_dim;
    bool interleaved;
    float *inv_freq;
} lb_rope;

/* Keys and values of every sequence in the batch: [n_seq][n_layer][n_ctx][n_head_kv*head_dim]. */
typedef struct lb_kv_cache {
    int64_t n_seq, n_ctx, n_layer, kv_dim;
    float *k, *v;
} lb_kv_cache;

lb_status lb_kv_cache_init(lb_kv_cache *kv, const lb_llama_config *cfg, int64_t n_seq, int64_t n_ctx);
void lb_kv_cache_free(lb_kv_cache *kv);

struct lb_model {
    lb_source *src;
    lb_tokenizer *tok; /* NULL when the model has none */
    lb_llama_config cfg;
    lb_open_params params;
    int n_threads;

    /* weights (NULL when opened with no_weights) */
    float *tok_embd; /* [n_vocab][n_embd] */
    float *out_norm; /* [n_embd] */
    lb_weight output; /* [n_vocab][n_embd]; output.f32 == tok_embd when tied and decoded */
    lb_block *blocks; /* [n_layer]; a streamed block's entry stays zeroed */
    lb_rope rope;

    /* layer streaming (src/model/stream.c): NULL when everything is resident */
    struct lb_stream *stream;
    const lb_weight *output_now; /* the head for lb_logits_rows: &output, or the streamed one */
    float *wdec;                 /* a streamed linear decoded to f32 right before its product */
    lb_stream_stats sstats;

    /* scratch for lb_forward, sized for cap_rows = n_seq * n_tokens rows */
    int64_t cap_rows;
    float *x, *xn, *q, *k, *v, *att, *gate, *up; /* [rows][...] */
    float *qout;        /* [rows][max width]: product of a quantized linear before accumulation */
    void *act;          /* activations quantized for the vec_dot kernels */
    float *scores;      /* [n_threads][cap_scores]: attention score block per thread */
    int64_t cap_scores; /* min(cap_rows, cap_ctx) * cap_ctx */
    int64_t cap_ctx;

    /* optional: shown every linear group's input in lb_forward (NULL = off, no cost) */
    lb_linear_observer observe;
    void *observe_user;

    /* static activation quantization scales [n_layer][LB_LINEAR_OUTPUT] (one per block linear
     * input, indexed by lb_linear_role), set by lb_act_quant_setup; NULL otherwise */
    float *act_scale;

    /* online rotation of the down_proj input (--online-hadamard models, model/down_rotation.h):
     * x <- x R before ffn_down (whose weight holds W R); n == 0 when the model has none */
    lb_kron_rotation down_rot;
    float *down_rot_tmp; /* [n_threads][down_rot.m] */

    /* display strings for lb_model_meta / describe */
    char **meta_keys, **meta_vals;
    int64_t n_meta;
};

/* Grows scratch buffers for batches of up to n_rows rows attending over up to n_ctx positions. */
lb_status lb_model_reserve(lb_model *m, int64_t n_rows, int64_t n_ctx);
/* Bytes lb_model_reserve allocates for n_rows rows and n_ctx positions. */
uint64_t lb_scratch_bytes(const lb_llama_config *c, int n_threads, int64_t n_rows, int64_t n_ctx);

/* The forward pass, layer-major over a batch.
 *   tokens  [n_seq][n_tokens]  new tokens of each sequence
 *   pos0    position of tokens[s][0] in sequence s (its cache already holds pos0 entries);
 *           all sequences share pos0 in this version.
 *   logits  [n_seq][n_tokens - first_logit][n_vocab]: logits of positions first_logit.. only
 *           (prompt processing wants the last, perplexity the scored half), or NULL.
 * kv must have been initialised with n_seq >= this batch and n_ctx >= pos0 + n_tokens. */
lb_status lb_forward(lb_model *m, lb_kv_cache *kv, const int32_t *tokens, int64_t n_seq, int64_t n_tokens,
                     int64_t pos0, int64_t first_logit, float *logits);
/* One block of lb_forward: m->x [n_seq * n_tokens][n_embd] goes through block b (block index
 * layer, for observers) in place, keys and values kept in the cache's layer kv_layer (the
 * block-wise pipeline holds one block and a one-layer cache). lb_model_reserve must have sized
 * the scratch. */
void lb_block_forward(lb_model *m, lb_kv_cache *kv, const lb_block *b, int64_t layer, int64_t kv_layer, int64_t n_seq,
                      int64_t n_tokens, int64_t pos0);
/* After lb_forward, m->xn holds the final-normed hidden state of every row; this turns n_rows
 * of them into logits [n_rows][n_vocab] (callers tile rows to bound logits memory). */
void lb_logits_rows(lb_model *m, const float *hidden, int64_t n_rows, float *logits);

#endif
