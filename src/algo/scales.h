/* Per-input-channel scales that move quantization difficulty between a linear's activations and
 * its weights, folded into the layer before it so the model stays a plain checkpoint:
 *
 *   y = W x = (W diag(s)) (diag(s)^-1 x)       the 1/s goes into the RMSNorm weight (or the rows
 *                                              of the linear) that produces x; W's columns get s
 *
 * AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization", and AutoAWQ's
 * _search_best_scale with duo scaling): s = mean|x|^a / mean_w^(1-a), a searched on a grid,
 * normalised so that max(s) * min(s) = 1. mean_w is the mean over output rows of |W| divided by
 * its group's max |W| (AutoAWQ's w_mean).
 * SmoothQuant (Xiao et al. 2022, eq. 4): s = max|x|^a / max|W|^(1-a), a the migration strength.
 * Pure functions: caller-owned buffers, no allocation. */
#ifndef LB_ALGO_SCALES_H
#define LB_ALGO_SCALES_H

#include <stdint.h>

/* AWQ candidate for ratio a in [0, 1): s[j] = max(x_mean[j]^a / (w_mean[j]^(1-a) + 1e-4), 1e-4),
 * then divided by sqrt(max(s) * min(s)). */
void lb_awq_scales(const float *restrict x_mean, const float *restrict w_mean, int64_t n, double a,
                   float *restrict s);

/* Adds to acc[cols] the sum over rows of |W[r][c]| / max|W| of (r, c)'s group of `group`
 * columns (group <= 0 or not dividing cols: the whole row). Divide by the total rows of all the
 * linears that share the input to get AWQ's w_mean. An all-zero group adds 0. */
void lb_awq_w_mean_add(const float *restrict W, int64_t rows, int64_t cols, int64_t group, double *restrict acc);

/* SmoothQuant: s[j] = x_max[j]^a / w_max[j]^(1-a), clamped to >= 1e-5; a channel whose
 * activation or weight maximum is 0 keeps s = 1 (nothing to migrate). */
void lb_smooth_scales(const float *restrict x_max, const float *restrict w_max, int64_t n, double a,
                      float *restrict s);

/* Folding: W[rows][cols] columns times s (the linear that reads the scaled input) ... */
void lb_scale_cols(float *restrict W, int64_t rows, int64_t cols, const float *restrict s);
/* ... and the producer of that input divided by s: a norm weight v[n] (v[j] / s[j]), or the rows
 * of the previous linear (W[j][*] / s[j], and its bias). */
void lb_unscale_rows(float *restrict W, int64_t rows, int64_t cols, const float *restrict s);

#endif
