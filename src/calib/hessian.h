/* The GPTQ Hessian H = X^T X (Frantar et al. 2022, eq. 1 up to the factor 2, which GPTQ's
 * relative damping and H^-1 ratios cancel): the sum over calibration rows x of the outer product
 * x x^T, accumulated in f64 as DESIGN.md's numerical contract asks. Callers add batch after batch
 * to one H and symmetrize once before GPTQ reads it (lb_gptq_quantize reads both triangles). */
#ifndef LB_CALIB_HESSIAN_H
#define LB_CALIB_HESSIAN_H

#include "core/core.h"

/* Rows converted to f64 per BLAS call: scratch holds LB_HESSIAN_CHUNK * n doubles. */
#define LB_HESSIAN_CHUNK 256

/* H[n][n] (f64, row-major) += x^T x for x[rows][n] (f32), in the upper triangle only (H[i][j],
 * i <= j; the strict lower triangle is not touched). scratch: NULL (allocated and freed here) or
 * LB_HESSIAN_CHUNK * n doubles owned by the caller. Rows go to BLAS dsyrk in chunks of
 * LB_HESSIAN_CHUNK; each f32 product is exact in f64, only the sums round. LB_ERR_NOMEM when
 * the internal scratch cannot be had; LB_ERR_ARG for a negative size or n beyond BLAS's int. */
lb_status lb_hessian_accumulate(double *H, const float *x, int64_t rows, int64_t n, double *scratch);

/* Copies the upper triangle of H[n][n] into the lower one. */
void lb_hessian_symmetrize(double *H, int64_t n);

#endif
