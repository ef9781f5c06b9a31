/* Residual-stream rotation (QuaRot, Ashkboos et al. 2024; SpinQuant's R1): an orthogonal Q
 * [n_embd][n_embd] absorbed into the weights so that the model computes the same function while
 * its hidden states h become h Q, which spreads the few massive channels of h over all of them
 * (smaller outliers for quantizers). RMSNorm commutes with Q only without its per-channel
 * weight g, so g is first folded into the linears that read the norm's output.
 *
 * For every block, with g_a = attn_norm, g_f = ffn_norm, g_o = output_norm:
 *   W_q, W_k, W_v   <- W diag(g_a) Q        (inputs: columns)
 *   W_gate, W_up    <- W diag(g_f) Q
 *   W_o, W_down     <- Q^T W                (outputs: rows)
 *   token_embd      <- E Q                  (rows are hidden states)
 *   output          <- W diag(g_o) Q        (never tied afterwards)
 *   attn_norm, ffn_norm, output_norm <- 1
 * rms(h Q) = rms(h) because Q is orthogonal, so the logits are unchanged before quantization.
 * Q is a randomized Hadamard matrix H D / sqrt(n) (D random signs) when n is a power of two,
 * else a seeded Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed by R's
 * diagonal). Products are computed in double. */
#ifndef LB_ALGO_ROTATE_H
#define LB_ALGO_ROTATE_H

#include "core/core.h"

typedef enum lb_rotation_kind {
    LB_ROTATE_NONE = 0,
    LB_ROTATE_HADAMARD = 1,   /* randomized Hadamard; random orthogonal when n is not 2^k */
    LB_ROTATE_ORTHOGONAL = 2, /* seeded random orthogonal */
    LB_ROTATE_COUNT
} lb_rotation_kind;

/* Q [n][n] row-major (malloc'd, caller frees); *used says which kind was built. */
lb_status lb_rotation_make(lb_rotation_kind kind, int64_t n, uint64_t seed, double **Q, lb_rotation_kind *used);

/* x [n_rows][n] <- x diag(g) Q (g NULL: no scaling), in place, rows in chunks. */
lb_status lb_rotate_inputs(float *x, int64_t n_rows, int64_t n, const float *g, const double *Q);
/* x [n][n_cols] <- Q^T x, in place, columns in chunks. */
lb_status lb_rotate_outputs(float *x, int64_t n, int64_t n_cols, const double *Q);

#endif
