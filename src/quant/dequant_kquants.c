/* Row decoders for ggml's 256-element super-block types: the k-quants Q2_K..Q6_K (llama.cpp
 * PR #1684) and IQ4_XS. Bit-exact with llama.cpp's dequantize_row_* (ggml-quants.c): each
 * sub-block's scale is formed first (d*sc, dmin*m) and then applied, x = (d*sc)*q - dmin*m,
 * as there. Why that is robust: d is an f16 (11 significant bits), scale codes have at most
 * 8 and quants or grid values at most 7, so d*sc and dmin*m are exact in f32, and so is
 * (d*sc)*q for every type but Q6_K (up to 25 bits: one rounding of the exact d*sc*q, however
 * associated). The only other rounding is the final "- dmin*m", so neither association nor
 * FMA contraction can change the bits. Not here: quantizers (the search for scales), dot
 * products. */
#include "quant/dequant.h"
#include "quant/blocks.h"
#include "core/dtype.h"

#include <string.h>

// ---- shared scale unpacking ----

/* Q4_K/Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes (ggml's get_scale_min_k4).
 * Bytes 0-3: scale j (low 6 bits); bytes 4-7: min j (low 6 bits), for j < 4.
 * Bytes 8-11: low nibble = scale j+4 bits 0-3, high nibble = min j+4 bits 0-3; the top two
 * bits of scale/min j+4 sit in the spare top bits of bytes j and j+4. */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q3_K: 16 scales of 6 bits in 12 bytes, stored biased by 32. Low nibble of scale k is
 * byte k (k < 8) or the high nibble of byte k-8; its top two bits are bits 2*(k/4) of
 * byte 8 + k%4. */
static inline int scale_q3_k(const uint8_t *s, int k)
{
    int lo = k < 8 ? s[k] & 0x0f : s[k - 8] >> 4;
    int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

// ---- Q2_K ----

/* 16 sub-blocks of 16. Element order: two halves of 128; in each, four 2-bit planes
 * (shift 0, 2, 4, 6) of the half's 32 qs bytes, bytes 0-15 then 16-31, each run of 16 one
 * sub-block. x = (d*sc) * q - (dmin*m). */
void lb_dequant_q2_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q2_k b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        const float dmin = lb_f16_to_f32(b.dmin);
        float *y = dst + i * LB_QK_K;
        int is = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b.qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    const uint8_t sc = b.scales[is++];
                    const float dl = d * (float)(sc & 0x0f);
                    const float ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

// ---- Q3_K ----

/* Layout as Q2_K, plus a high bit per element in hmask: bit (4*half + plane) of hmask[l]
 * for element l of the 32-wide plane. A clear bit subtracts 4, so q is in [-4, 3].
 * x = (d*(sc-32)) * q. */
void lb_dequant_q3_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q3_k b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK_K;
        int is = 0;
        unsigned mask = 1;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b.qs + 32 * half;
            for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
                for (int part = 0; part < 2; part++) {
                    const float dl = d * (float)scale_q3_k(b.scales, is++);
                    for (int l = 16 * part; l < 16 * part + 16; l++) {
                        const int v = ((q[l] >> shift) & 3) - ((b.hmask[l] & mask) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

// ---- Q4_K ----

/* 8 sub-blocks of 32. Each 64-element chunk is 32 qs bytes: low nibbles are sub-block 2c,
 * high nibbles sub-block 2c+1. x = (d*sc) * q - (dmin*m). */
void lb_dequant_q4_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q4_k b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        const float dmin = lb_f16_to_f32(b.dmin);
        float *y = dst + i * LB_QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b.qs + 32 * c;
            int sc, m;
            scale_min_k4(2 * c, b.scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            scale_min_k4(2 * c + 1, b.scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

// ---- Q5_K ----

/* Q4_K plus a fifth bit: for chunk c, bit 2c of qh[l] extends the low nibble of qs[l] and
 * bit 2c+1 the high nibble. */
void lb_dequant_q5_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q5_k b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        const float dmin = lb_f16_to_f32(b.dmin);
        float *y = dst + i * LB_QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *ql = b.qs + 32 * c;
            const unsigned u1 = 1u << (2 * c), u2 = 2u << (2 * c);
            int sc, m;
            scale_min_k4(2 * c, b.scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            scale_min_k4(2 * c + 1, b.scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0x0f) + ((b.qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + ((b.qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

// ---- Q6_K ----

/* 16 sub-blocks of 16, q = 4 low bits (ql) | 2 high bits (qh) << 4, minus 32. Each half of
 * 128 uses 64 ql bytes and 32 qh bytes: element l, l+32, l+64, l+96 take the low nibble of
 * ql[l], of ql[l+32], the high nibble of ql[l], of ql[l+32], and qh[l] bits 0-1, 2-3, 4-5,
 * 6-7. x = (d*sc) * q. */
void lb_dequant_q6_k(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q6_k b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK_K;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = b.ql + 64 * half;
            const uint8_t *qh = b.qh + 32 * half;
            const int8_t *sc = b.scales + 8 * half;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
            y += 128;
        }
    }
}

// ---- IQ4_XS ----

/* 8 sub-blocks of 32 on the IQ4_NL grid, each with a 6-bit scale ls (low nibble from
 * scales_l, two high bits from scales_h). x = (d*(ls-32)) * kvalues_iq4nl[q]. */
void lb_dequant_iq4_xs(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_iq4_xs b;
        memcpy(&b, p + i * (int64_t)sizeof b, sizeof b);
        const float d = lb_f16_to_f32(b.d);
        float *y = dst + i * LB_QK_K;
        for (int ib = 0; ib < LB_QK_K / 32; ib++) {
            const uint8_t *qs = b.qs + 16 * ib;
            const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((b.scales_h >> (2 * ib)) & 3) << 4);
            const float dl = d * (float)(ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)lb_kvalues_iq4nl[qs[j] & 0x0f];
                y[j + 16] = dl * (float)lb_kvalues_iq4nl[qs[j] >> 4];
            }
            y += 32;
        }
    }
}
