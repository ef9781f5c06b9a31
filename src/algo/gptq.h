/* GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers", Algorithm 1), on any lb_grid: GGUF block types with their own
 * scale searches, or group-wise INT-N.
 *
 *   H = X^T X over calibration inputs (f64). Dead columns (H_jj == 0): H_jj = 1, W[:, j] = 0.
 *   act_order: columns in decreasing H_jj order. H += damp * mean(diag H) * I.
 *   U = upper Cholesky factor of H^-1 (lb_gptq_hinv, with a fallback chain).
 *   Columns in blocks of block_size; inside a block each column is rounded on the grid and its
 *   error (w - q) / U_jj pushed into the block's later columns; after the block, the block's
 *   errors into all later columns at once (the "lazy batch" update, one GEMM).
 *   Groups are fitted when the walk reaches their first column (static_groups: all groups
 *   fitted from the unmodified weights before the walk, the only choice for block types under
 *   act_order, whose blocks are contiguous in the file).
 *
 * Rows are independent given U, so threads split rows in fixed chunks: the result does not
 * depend on the thread count. */
#ifndef LB_ALGO_GPTQ_H
#define LB_ALGO_GPTQ_H

#include "core/core.h"
#include "quant/grid.h"

typedef enum lb_hinv_method {
    LB_HINV_CHOLESKY = 0, /* Cholesky of H + damp I, as the paper */
    LB_HINV_DAMPED = 1,   /* the same after damping grew (x10 per try) */
    LB_HINV_LDLT = 2,     /* symmetric-indefinite (Bunch-Kaufman LDL^T) or LU inverse */
    LB_HINV_EIGEN = 3,    /* symmetric eigendecomposition, eigenvalues clamped from below */
} lb_hinv_method;

typedef struct lb_gptq_params {
    int64_t block_size;  /* lazy-update block; 0 = 128 */
    double damp;         /* relative damping (fraction of the mean diagonal); 0 = 0.01 */
    int damp_tries;      /* extra Cholesky tries, damping x10 each; < 0 = none; 0 = 3 */
    bool act_order;      /* columns by decreasing H_jj */
    bool static_groups;  /* fit every group before the walk (forced for block types with act_order) */
    bool importance;     /* pass diag(H) / n to the grid fits as per-column importance */
    lb_hinv_method first_method; /* tests: start the fallback chain at this step */
} lb_gptq_params;

typedef struct lb_gptq_report {
    lb_hinv_method method; /* the step of the chain that produced U */
    double damp;           /* relative damping finally used */
    int64_t n_dead;        /* columns with H_jj == 0 */
    double loss;           /* sum over weights of (w - q)^2 / U_jj^2 / 2: GPTQ's error estimate */
} lb_gptq_report;

/* H [n][n] (symmetric, row-major, f64; both triangles read) -> U, the upper Cholesky factor of
 * (H + damp)^-1, in place (lower triangle zeroed). Walks the fallback chain from
 * p->first_method; rep->method and rep->damp say where it ended. LB_ERR_NUMERIC only when H
 * holds NaN/Inf (naming `name`). */
lb_status lb_gptq_hinv(double *H, int64_t n, const lb_gptq_params *p, const char *name, lb_gptq_report *rep);

/* Quantizes W [rows][cols] (f32, row-major) on grid with the Hessian H [cols][cols] (f64,
 * destroyed). On return W holds the dequantized result (what the grid's packed rows decode to)
 * and the grid holds the packed rows. */
lb_status lb_gptq_quantize(const char *name, float *W, int64_t rows, int64_t cols, double *H, lb_grid *grid,
                           const lb_gptq_params *p, int n_threads, lb_gptq_report *rep);

#endif
