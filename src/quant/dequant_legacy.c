/* Row decoders for ggml's 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL.
 * Bit-exact with llama.cpp's dequantize_row_* (ggml-quants.c): the same float operations in
 * the same order, x = q*d, or x = q*d + m for the "_1" types. Why that is robust: q has at
 * most 8 significant bits and d (an f16) 11, so q*d is exact in f32 and the only rounding is
 * the final "+ m"; an FMA-contracting compiler therefore gives the same bits.
 * Not here: quantizers, dot products. */
#include "quant/dequant.h"
#include "quant/blocks.h"
#include "core/dtype.h"

#include <string.h>

/* The IQ4_NL / IQ4_XS grid (kvalues_iq4nl in ggml-common.h): a non-uniform 4-bit codebook
 * fitted to the bell-shaped distribution of LLM weights. */
const int8_t lb_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- 4-bit ----

/* x_j = (q_j - 8) * d; byte j holds element j (low nibble) and j + 16 (high nibble). */
void lb_dequant_q4_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q4_0 b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int x0 = (b.qs[j] & 0x0f) - 8;
            const int x1 = (b.qs[j] >> 4) - 8;
            y[j] = (float)x0 * d;
            y[j + LB_QK / 2] = (float)x1 * d;
        }
    }
}

/* x_j = q_j * d + m. */
void lb_dequant_q4_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q4_1 b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        const float m = lb_f16_to_f32(b.m);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int x0 = b.qs[j] & 0x0f;
            const int x1 = b.qs[j] >> 4;
            y[j] = (float)x0 * d + m;
            y[j + LB_QK / 2] = (float)x1 * d + m;
        }
    }
}

// ---- 5-bit: a nibble plus one bit of the 32-bit qh word ----

/* Fifth bit of element j (0..31) as 0 or 16: bit j of the little-endian word qh. */
static inline int fifth_bit(uint32_t qh, int j) { return (int)((qh >> j) & 1u) << 4; }

/* x_j = (q_j - 16) * d. */
void lb_dequant_q5_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q5_0 b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        uint32_t qh;
        memcpy(&qh, b.qh, sizeof qh);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int x0 = ((b.qs[j] & 0x0f) | fifth_bit(qh, j)) - 16;
            const int x1 = ((b.qs[j] >> 4) | fifth_bit(qh, j + LB_QK / 2)) - 16;
            y[j] = (float)x0 * d;
            y[j + LB_QK / 2] = (float)x1 * d;
        }
    }
}

/* x_j = q_j * d + m. */
void lb_dequant_q5_1(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q5_1 b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        const float m = lb_f16_to_f32(b.m);
        uint32_t qh;
        memcpy(&qh, b.qh, sizeof qh);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int x0 = (b.qs[j] & 0x0f) | fifth_bit(qh, j);
            const int x1 = (b.qs[j] >> 4) | fifth_bit(qh, j + LB_QK / 2);
            y[j] = (float)x0 * d + m;
            y[j + LB_QK / 2] = (float)x1 * d + m;
        }
    }
}

// ---- 8-bit ----

/* x_j = q_j * d. */
void lb_dequant_q8_0(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_q8_0 b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK; j++) y[j] = (float)b.qs[j] * d;
    }
}

// ---- non-linear 4-bit ----

/* x_j = d * kvalues_iq4nl[q_j], nibble layout as Q4_0. */
void lb_dequant_iq4_nl(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK; i++) {
        lb_block_iq4_nl b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK;
        for (int j = 0; j < LB_QK / 2; j++) {
            y[j] = d * (float)lb_kvalues_iq4nl[b.qs[j] & 0x0f];
            y[j + LB_QK / 2] = d * (float)lb_kvalues_iq4nl[b.qs[j] >> 4];
        }
    }
}
