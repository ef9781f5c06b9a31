/* Activation-aware scaling of one transformer block, inside the block-wise pipeline: AWQ (scales
 * searched against the block's real output error, then weight clipping) or SmoothQuant (closed
 * form), folded into the block's norms and linears in place, so the block computes the same
 * function and the written checkpoint stays a plain Llama model that any runtime loads.
 *
 * Which input each scale group reads, and what absorbs 1/s (AutoAWQ's scaling plan for Llama):
 *   q/k/v    attn_norm output           attn_norm
 *   o        attention output           v rows (and bias); only when n_head == n_head_kv, since
 *                                       with grouped-query heads v's rows are not o's columns
 *   gate/up  ffn_norm output            ffn_norm
 *   down     silu(gate) * up            up rows
 * SmoothQuant scales q/k/v and gate/up (its paper's choice for Llama-like blocks); smooth_down
 * adds down and o, whose inputs carry the largest outliers of Llama-family models (a per-tensor
 * static INT8 scale cannot hold them). */
#ifndef LB_PIPELINE_BLOCK_SCALE_H
#define LB_PIPELINE_BLOCK_SCALE_H

#include "model/model.h"
#include "pipeline/fake_quant.h"

/* The seven linears of a block, in GGUF order. */
enum { LB_LIN_Q, LB_LIN_K, LB_LIN_V, LB_LIN_O, LB_LIN_GATE, LB_LIN_UP, LB_LIN_DOWN, LB_LIN_COUNT };
lb_weight *lb_block_linear(lb_block *b, int k);
/* Its GGUF name after "blk.N." ("attn_q.weight", ...) and the input it reads. */
const char *lb_block_linear_suffix(int k);
lb_linear_role lb_block_linear_role(int k);
/* Output rows of linear k. */
int64_t lb_block_linear_rows(const lb_llama_config *c, int k);
/* Input width of a linear role ([rows][width] is what the observer sees). */
int64_t lb_linear_role_width(const lb_llama_config *c, lb_linear_role r);

typedef enum lb_scale_method { LB_SCALE_NONE = 0, LB_SCALE_AWQ = 1, LB_SCALE_SMOOTH = 2 } lb_scale_method;

typedef struct lb_block_scale_job {
    lb_model *m;     /* scratch reserved for chunk * seq_len rows; its observer is borrowed */
    lb_kv_cache *kv; /* one layer, chunk sequences */
    int64_t layer;
    int64_t n_seq, seq_len, chunk; /* calibration windows, their length, sequences per pass */
    /* the block's input rows of windows seq0 .. seq0 + n - 1 into x [n * seq_len][n_embd] */
    lb_status (*read_x)(void *user, int64_t seq0, int64_t n, float *x);
    void *user;
    lb_fake_quant fq[LB_LIN_COUNT]; /* how each linear will be quantized (inactive: stays float) */
    lb_scale_method method;
    double alpha;          /* SmoothQuant migration strength */
    bool smooth_down;      /* SmoothQuant also scales the down (and, multi-head, o) inputs */
    int n_grid;            /* AWQ: ratios 0, 1/n, ..., (n-1)/n; clipping: shrink steps of 1/n to 1/2 */
    int64_t search_tokens; /* AWQ: tokens (whole windows) whose block output is the objective */
    bool clip;             /* AWQ weight clipping (not for q, k: attention scores are sensitive) */
    int n_threads;
    void (*log)(void *user, const char *line);
    void *log_user;
} lb_block_scale_job;

/* Scales block b (f32 weights, j->layer) in place. Nothing changes when every linear is float. */
lb_status lb_block_scale(const lb_block_scale_job *j, lb_block *b);
/* Bytes lb_block_scale allocates at most, beyond the block itself. */
uint64_t lb_block_scale_bytes(const lb_llama_config *c, lb_scale_method method, int64_t search_tokens);

#endif
