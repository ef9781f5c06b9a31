/* Activation quantizers: one f32 row into the vec_dot_type its weight type pairs with, the
 * way llama.cpp's reference quantize_row_q8_0_ref / q8_1_ref / q8_K_ref (ggml-quants.c) do it,
 * byte for byte; plus the plain conversions for F32 / F16 / BF16 weights.
 *   Q8_0: d = amax/127 (f16), q = roundf(x/d) (ties away from zero), q in [-127, 127].
 *   Q8_1: Q8_0 plus s = f16(d * sum q), the block sum the "_1" weight minimums multiply.
 *   Q8_K: 256 per block, d = 1/iscale (f32) with iscale = -127/max where max is the signed
 *         value of largest magnitude; q = nearest_int(iscale*x) (ties to even), capped at 127;
 *         bsums = sums of 16 quants (the k-quant minimums multiply them).
 * Not here: the SIMD quantizers llama.cpp runs at run time (those round ties to even for
 * Q8_0/Q8_1 and compute 127/amax instead of 1/d, so they can differ in the last code). */
#include "kernels/ref/vec_dot.h"
#include "quant/blocks.h"

#include <math.h>
#include <string.h>

// ---- float rows ----

void lb_quantize_row_f32_ref(const float *restrict x, void *restrict y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void lb_quantize_row_f16_ref(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t h = lb_f32_to_f16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

void lb_quantize_row_bf16_ref(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        const uint16_t b = lb_f32_to_bf16(x[i]);
        memcpy(p + 2 * i, &b, 2);
    }
}

// ---- Q8_0 / Q8_1: 32 per block, f16 scale ----

/* One block's scale and quants: d = amax / 127, q_j = roundf(x_j / d) computed as x_j * (1/d),
 * exactly ggml's float operations (1/d from the f32 d, not from its f16 rounding). Returns the
 * f32 d (the caller needs it unrounded for Q8_1's sum). */
static float q8_block(const float *x, int8_t *qs, uint16_t *d16)
{
    float amax = 0.0f;
    for (int j = 0; j < LB_QK; j++) {
        const float ax = fabsf(x[j]);
        amax = amax > ax ? amax : ax; /* ggml's MAX(): a NaN propagates, as there */
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d16 = lb_f32_to_f16(d);
    for (int j = 0; j < LB_QK; j++) qs[j] = (int8_t)roundf(x[j] * id);
    return d;
}

void lb_quantize_row_q8_0_ref(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q8_0 b;
        q8_block(x + i * LB_QK, b.qs, &b.d);
        memcpy(p + i * (int64_t)sizeof b, &b, sizeof b);
    }
}

void lb_quantize_row_q8_1_ref(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q8_1 b;
        const float d = q8_block(x + i * LB_QK, b.qs, &b.d);
        int sum = 0;
        for (int j = 0; j < LB_QK; j++) sum += b.qs[j];
        b.s = lb_f32_to_f16((float)sum * d);
        memcpy(p + i * (int64_t)sizeof b, &b, sizeof b);
    }
}

// ---- Q8_K: 256 per block, f32 scale, 16-element sums ----

/* Round to nearest, ties to even, for |f| <= 2^22: adding 1.5 * 2^23 leaves the integer in the
 * low mantissa bits (ggml-quants.c nearest_int). */
static inline int nearest_int(float f)
{
    const float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void lb_quantize_row_q8_k_ref(const float *restrict x, void *restrict y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K) {
        lb_block_q8_k b;
        memset(&b, 0, sizeof b); /* ggml leaves bsums unwritten for an all-zero block; we zero them */
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < LB_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax != 0.0f) {
            /* -127/max, not 127/amax: the sign flip keeps the most negative code at -127 */
            const float iscale = -127.0f / max;
            for (int j = 0; j < LB_QK_K; j++) {
                const int v = nearest_int(iscale * x[j]);
                b.qs[j] = (int8_t)(v < 127 ? v : 127);
            }
            for (int j = 0; j < LB_QK_K / 16; j++) {
                int sum = 0;
                for (int k = 0; k < 16; k++) sum += b.qs[j * 16 + k];
                b.bsums[j] = (int16_t)sum;
            }
            b.d = 1.0f / iscale;
        }
        memcpy(p + i * (int64_t)sizeof b, &b, sizeof b);
    }
}
