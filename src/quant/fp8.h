/* OCP FP8 encoders (e4m3fn, e5m2) and scaled FP8 tensor codecs: per-tensor, per-output-channel
 * and 128x128 block scales (the DeepSeek-V3 / compressed-tensors "weight_scale_inv" layout).
 * Decoders of single codes are lb_fp8_e4m3_to_f32 / lb_fp8_e5m2_to_f32 in core/dtype.h.
 * Spec: OCP 8-bit Floating Point Specification (OFP8) rev 1.0. Pure kernels: caller-owned
 * buffers, no malloc, no I/O. */
#ifndef LB_QUANT_FP8_H
#define LB_QUANT_FP8_H

#include "core/dtype.h"

#include <stdbool.h>
#include <stdint.h>

#define LB_FP8_E4M3_MAX 448.0f   /* S.1111.110 */
#define LB_FP8_E5M2_MAX 57344.0f /* S.11110.11 */
#define LB_FP8_BLOCK 128         /* side of a square scale block (DeepSeek-V3 weight_block_size) */

/* f32 -> fp8, round to nearest even, subnormals kept. NaN -> sign|0x7f (the canonical NaN of
 * both formats). Magnitudes that round past the largest finite value (and +-inf) give
 * +-max when saturate, else NaN (e4m3fn has no inf) / +-inf (e5m2). Without saturation this is
 * torch's x.to(torch.float8_e4m3fn / float8_e5m2). */
uint8_t lb_f32_to_fp8_e4m3(float x, bool saturate);
uint8_t lb_f32_to_fp8_e5m2(float x, bool saturate);

/* Where the scales of an fp8 matrix x[rows][cols] (rows = output channels) apply. */
typedef enum lb_fp8_scaling {
    LB_FP8_SCALE_TENSOR = 0,  /* scales[1] */
    LB_FP8_SCALE_CHANNEL = 1, /* scales[rows] */
    LB_FP8_SCALE_BLOCK = 2,   /* scales[ceil(rows/128)][ceil(cols/128)]; edge blocks are partial */
    LB_FP8_SCALING_COUNT = 3
} lb_fp8_scaling;

/* Number of f32 scales lb_fp8_quantize writes for this layout. */
int64_t lb_fp8_n_scales(lb_fp8_scaling scaling, int64_t rows, int64_t cols);

/* type: LB_TYPE_F8_E4M3 or LB_TYPE_F8_E5M2. Each scale is amax(region) / fp8 max (1 when the
 * region is all zero), codes[i] = fp8(x[i] / scale) saturating, so x ~= fp8_to_f32(code) *
 * scale: the stored scale is what checkpoints call weight_scale(_inv). Non-finite inputs are
 * the caller's business (an inf amax makes every code of its region NaN or 0). */
void lb_fp8_quantize(lb_type type, lb_fp8_scaling scaling, const float *restrict x, int64_t rows, int64_t cols,
                     uint8_t *restrict codes, float *restrict scales);
/* y[i] = fp8_to_f32(codes[i]) * scale of the region of i. */
void lb_fp8_dequantize(lb_type type, lb_fp8_scaling scaling, const uint8_t *restrict codes,
                       const float *restrict scales, int64_t rows, int64_t cols, float *restrict y);

#endif
