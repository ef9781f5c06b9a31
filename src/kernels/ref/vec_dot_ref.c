/* Reference dot products of one weight row with one quantized activation row: llama.cpp's
 * scalar fallbacks (ggml-cpu quants.c ggml_vec_dot_*_generic, vec.cpp's non-SIMD f32/f16/bf16
 * loops) transcribed operation for operation, so the float roundings happen in the same
 * order: integer sums inside a block are exact, and every float product and sum is the one
 * ggml's C source writes (k-quants keep its 8 float lanes, summed at the end).
 *
 * The math, per block b of the weight row and the matching activation block:
 *   symmetric (Q4_0, Q5_0, Q8_0, IQ4_NL):  d_x d_y sum_j q_j a_j
 *   with minimum (Q4_1, Q5_1 x Q8_1):       d_x d_y sum_j q_j a_j + m_x s_y,  s_y = d_y sum_j a_j (f16)
 *   k-quants x Q8_K: sub-block scales sc (and mins m) inside the super-block,
 *                    d_x d_y sum_sub sc sum_j q_j a_j - dmin_x d_y sum_sub m bsum
 * Blocks are memcpy'd into locals, so rows at any byte offset are fine.
 * Not here: SIMD (src/kernels/x86/), the activation quantizers (act_quant.c).
 *
 * Build note: these are the C semantics with every product rounded. A compiler that contracts
 * a*b + c into an FMA (e.g. -march=native with GCC's default -ffp-contract=fast) changes the
 * last bits; the shipped llama.cpp wheels do exactly that in their _generic functions. */
#include "kernels/ref/vec_dot.h"
#include "quant/blocks.h"

#include <string.h>

#define LOAD(dst, base, i) memcpy(&(dst), (const uint8_t *)(base) + (i) * (int64_t)sizeof(dst), sizeof(dst))

// ---- float rows: products in f32, sum in f64 (ggml_float) ----

void lb_vec_dot_f32_f32_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

/* 16-bit float rows (f16 or bf16, by the decoder given): products in f32, sum in f64. */
static float dot_half(int64_t n, const uint8_t *x, const uint8_t *y, float (*to_f32)(uint16_t))
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t a, b;
        memcpy(&a, x + 2 * i, 2);
        memcpy(&b, y + 2 * i, 2);
        sum += (double)(to_f32(a) * to_f32(b));
    }
    return (float)sum;
}

void lb_vec_dot_f16_f16_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    *s = dot_half(n, vx, vy, lb_f16_to_f32);
}

void lb_vec_dot_bf16_bf16_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    *s = dot_half(n, vx, vy, lb_bf16_to_f32);
}

// ---- legacy 32-element blocks ----

void lb_vec_dot_q4_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_q4_0 x;
        lb_block_q8_0 y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int v0 = (x.qs[j] & 0x0f) - 8;
            const int v1 = (x.qs[j] >> 4) - 8;
            sumi0 += v0 * y.qs[j];
            sumi1 += v1 * y.qs[j + LB_QK / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (float)sumi * lb_f16_to_f32(x.d) * lb_f16_to_f32(y.d);
    }
    *s = sumf;
}

void lb_vec_dot_q4_1_q8_1_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_q4_1 x;
        lb_block_q8_1 y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < LB_QK / 2; j++) {
            sumi0 += (x.qs[j] & 0x0f) * y.qs[j];
            sumi1 += (x.qs[j] >> 4) * y.qs[j + LB_QK / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (lb_f16_to_f32(x.d) * lb_f16_to_f32(y.d)) * (float)sumi + lb_f16_to_f32(x.m) * lb_f16_to_f32(y.s);
    }
    *s = sumf;
}

/* q_j - 16 of a Q5 block: low nibble plus bit j of qh as bit 4 (j < 16 low nibbles, else high). */
void lb_vec_dot_q5_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_q5_0 x;
        lb_block_q8_0 y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        uint32_t qh;
        memcpy(&qh, x.qh, 4);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            const int x0 = ((x.qs[j] & 0x0f) | h0) - 16;
            const int x1 = ((x.qs[j] >> 4) | h1) - 16;
            sumi0 += x0 * y.qs[j];
            sumi1 += x1 * y.qs[j + LB_QK / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (lb_f16_to_f32(x.d) * lb_f16_to_f32(y.d)) * (float)sumi;
    }
    *s = sumf;
}

void lb_vec_dot_q5_1_q8_1_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_q5_1 x;
        lb_block_q8_1 y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        uint32_t qh;
        memcpy(&qh, x.qh, 4);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < LB_QK / 2; j++) {
            const int x0 = (x.qs[j] & 0x0f) | ((int)((qh >> j) & 1u) << 4);
            const int x1 = (x.qs[j] >> 4) | ((int)((qh >> (j + 16)) & 1u) << 4);
            sumi0 += x0 * y.qs[j];
            sumi1 += x1 * y.qs[j + LB_QK / 2];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (lb_f16_to_f32(x.d) * lb_f16_to_f32(y.d)) * (float)sumi + lb_f16_to_f32(x.m) * lb_f16_to_f32(y.s);
    }
    *s = sumf;
}

void lb_vec_dot_q8_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_q8_0 x, y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        int sumi = 0;
        for (int j = 0; j < LB_QK; j++) sumi += x.qs[j] * y.qs[j];
        sumf += (float)sumi * (lb_f16_to_f32(x.d) * lb_f16_to_f32(y.d));
    }
    *s = sumf;
}

void lb_vec_dot_iq4_nl_q8_0_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++) {
        lb_block_iq4_nl x;
        lb_block_q8_0 y;
        LOAD(x, vx, ib);
        LOAD(y, vy, ib);
        const float d = lb_f16_to_f32(y.d) * lb_f16_to_f32(x.d);
        int sumi1 = 0, sumi2 = 0;
        for (int j = 0; j < LB_QK / 2; j++) {
            sumi1 += y.qs[j] * lb_kvalues_iq4nl[x.qs[j] & 0x0f];
            sumi2 += y.qs[j + LB_QK / 2] * lb_kvalues_iq4nl[x.qs[j] >> 4];
        }
        sumf += d * (float)(sumi1 + sumi2);
    }
    *s = sumf;
}

// ---- k-quants x Q8_K ----

/* ggml's k-quant fallbacks accumulate in 8 float lanes: lane l gets d * (integer sum over the
 * super-block of scale * q * a at positions = l mod 8), and the lanes are added last. a[] holds
 * the 256 decoded weight quants, sc16[g] the integer scale of group g of 16 elements (both
 * 8-element halves of a group share it). */
static void lanes_add(float sums[8], float d, const int8_t a[LB_QK_K], const int8_t q8[LB_QK_K], const int sc16[16])
{
    int32_t aux32[8] = {0};
    for (int g = 0; g < LB_QK_K / 8; g++) {
        const int scale = sc16[g / 2];
        for (int l = 0; l < 8; l++) aux32[l] += scale * (int16_t)(q8[8 * g + l] * a[8 * g + l]);
    }
    for (int l = 0; l < 8; l++) sums[l] += d * (float)aux32[l];
}

void lb_vec_dot_q2_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q2_k x;
        lb_block_q8_k y;
        LOAD(x, vx, i);
        LOAD(y, vy, i);
        int summs = 0; /* minimums times the 16-element activation sums */
        for (int j = 0; j < 16; j++) summs += y.bsums[j] * (x.scales[j] >> 4);
        const float dall = y.d * lb_f16_to_f32(x.d);
        const float dmin = y.d * lb_f16_to_f32(x.dmin);
        /* 2 x 128 elements; each 32-byte run of qs holds 4 planes (shifts 0, 2, 4, 6) of 32
         * elements, each plane two sub-blocks of 16 with their own 4-bit scale */
        int isum = 0, is = 0;
        const int8_t *q8 = y.qs;
        for (int k = 0; k < LB_QK_K / 128; k++) {
            const uint8_t *q2 = x.qs + 32 * k;
            for (int shift = 0; shift < 8; shift += 2) {
                int d = x.scales[is++] & 0xf, isuml = 0;
                for (int l = 0; l < 16; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
                d = x.scales[is++] & 0xf;
                isuml = 0;
                for (int l = 16; l < 32; l++) isuml += q8[l] * ((q2[l] >> shift) & 3);
                isum += d * isuml;
                q8 += 32;
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void lb_vec_dot_q3_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint32_t kmask1 = 0x03030303u, kmask2 = 0x0f0f0f0fu;
    float sums[8] = {0};
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q3_k x;
        lb_block_q8_k y;
        LOAD(x, vx, i);
        LOAD(y, vy, i);
        /* quants: 2 low bits from qs (4 planes per 32 bytes), minus 4 where the hmask bit is clear */
        int8_t a[LB_QK_K];
        uint8_t m = 1;
        for (int j = 0, o = 0; j < LB_QK_K; j += 128) {
            const uint8_t *q3 = x.qs + j / 4;
            for (int shift = 0; shift < 8; shift += 2, o += 32, m <<= 1)
                for (int l = 0; l < 32; l++) a[o + l] = (int8_t)(((q3[l] >> shift) & 3) - (x.hmask[l] & m ? 0 : 4));
        }
        /* 16 6-bit scales: low 4 bits in bytes 0..7 (two per byte), high 2 bits in bytes 8..11 */
        uint32_t aux[4];
        memcpy(aux, x.scales, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        memcpy(scales, aux, 16);
        int sc16[16];
        for (int j = 0; j < 16; j++) sc16[j] = scales[j] - 32;
        lanes_add(sums, lb_f16_to_f32(x.d) * y.d, a, y.qs, sc16);
    }
    float sumf = 0.0f;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* Q4_K / Q5_K 6-bit scales and mins (8 each) from 12 bytes, ggml's utmp shuffle. */
static void k4_scales_mins(const uint8_t packed[LB_K_SCALE_SIZE], uint8_t scales[8], uint8_t mins[8])
{
    const uint32_t kmask1 = 0x3f3f3f3fu, kmask2 = 0x0f0f0f0fu, kmask3 = 0x03030303u;
    uint32_t utmp[4];
    memcpy(utmp, packed, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
    memcpy(scales, utmp, 8);
    memcpy(mins, utmp + 2, 8);
}

/* Shared tail of Q4_K and Q5_K: a[] decoded, scales and mins unpacked. */
static void k45_block(float sums[8], float *sumf, float d, float dmin, const int8_t a[LB_QK_K],
                      const lb_block_q8_k *y, const uint8_t scales[8], const uint8_t mins[8])
{
    int sumi = 0;
    for (int j = 0; j < LB_QK_K / 16; j++) sumi += y->bsums[j] * mins[j / 2];
    int sc16[16];
    for (int j = 0; j < 16; j++) sc16[j] = scales[j / 2]; /* 8 sub-blocks of 32 */
    lanes_add(sums, d * y->d, a, y->qs, sc16);
    *sumf -= dmin * y->d * (float)sumi;
}

void lb_vec_dot_q4_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sums[8] = {0}, sumf = 0.0f;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q4_k x;
        lb_block_q8_k y;
        LOAD(x, vx, i);
        LOAD(y, vy, i);
        int8_t a[LB_QK_K];
        for (int j = 0; j < LB_QK_K / 64; j++) {
            const uint8_t *q4 = x.qs + 32 * j;
            for (int l = 0; l < 32; l++) a[64 * j + l] = (int8_t)(q4[l] & 0xf);
            for (int l = 0; l < 32; l++) a[64 * j + 32 + l] = (int8_t)(q4[l] >> 4);
        }
        uint8_t scales[8], mins[8];
        k4_scales_mins(x.scales, scales, mins);
        k45_block(sums, &sumf, lb_f16_to_f32(x.d), lb_f16_to_f32(x.dmin), a, &y, scales, mins);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

void lb_vec_dot_q5_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sums[8] = {0}, sumf = 0.0f;
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q5_k x;
        lb_block_q8_k y;
        LOAD(x, vx, i);
        LOAD(y, vy, i);
        int8_t a[LB_QK_K];
        uint8_t m = 1;
        for (int j = 0; j < LB_QK_K / 64; j++, m <<= 2) {
            const uint8_t *q4 = x.qs + 32 * j;
            for (int l = 0; l < 32; l++) a[64 * j + l] = (int8_t)((q4[l] & 0xf) + (x.qh[l] & m ? 16 : 0));
            for (int l = 0; l < 32; l++)
                a[64 * j + 32 + l] = (int8_t)((q4[l] >> 4) + (x.qh[l] & (uint8_t)(m << 1) ? 16 : 0));
        }
        uint8_t scales[8], mins[8];
        k4_scales_mins(x.scales, scales, mins);
        k45_block(sums, &sumf, lb_f16_to_f32(x.d), lb_f16_to_f32(x.dmin), a, &y, scales, mins);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

void lb_vec_dot_q6_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sums[8] = {0};
    for (int64_t i = 0; i < n / LB_QK_K; i++) {
        lb_block_q6_k x;
        lb_block_q8_k y;
        LOAD(x, vx, i);
        LOAD(y, vy, i);
        /* q - 32 from 4 low bits (ql) and 2 high bits (qh), 128 elements per 64 ql + 32 qh bytes */
        int8_t a[LB_QK_K];
        for (int j = 0; j < LB_QK_K / 128; j++) {
            const uint8_t *ql = x.ql + 64 * j, *qh = x.qh + 32 * j;
            int8_t *o = a + 128 * j;
            for (int l = 0; l < 32; l++) {
                o[l + 0] = (int8_t)(((ql[l + 0] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int sc16[16];
        for (int j = 0; j < 16; j++) sc16[j] = x.scales[j];
        lanes_add(sums, lb_f16_to_f32(x.d) * y.d, a, y.qs, sc16);
    }
    float sumf = 0.0f;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

void lb_vec_dot_iq4_xs_q8_k_ref(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    float sumf = 0.0f;
    for (int64_t ibl = 0; ibl < n / LB_QK_K; ibl++) {
        lb_block_iq4_xs x;
        lb_block_q8_k y;
        LOAD(x, vx, ibl);
        LOAD(y, vy, ibl);
        const float d4d8 = lb_f16_to_f32(x.d) * y.d;
        uint16_t h = x.scales_h;
        const uint8_t *qs = x.qs;
        const int8_t *q8 = y.qs;
        /* 8 sub-blocks of 32, two per scales_l byte; 6-bit scale ls, weight = (ls - 32) * grid */
        for (int ib = 0; ib < LB_QK_K / 32; ib += 2) {
            const int ls[2] = {(x.scales_l[ib / 2] & 0xf) | ((h << 4) & 0x30),
                               (x.scales_l[ib / 2] >> 4) | ((h << 2) & 0x30)};
            h >>= 4;
            for (int half = 0; half < 2; half++) {
                const float dl = d4d8 * (float)(ls[half] - 32);
                int sumi1 = 0, sumi2 = 0;
                for (int j = 0; j < 16; j++) {
                    sumi1 += q8[j] * lb_kvalues_iq4nl[qs[j] & 0xf];
                    sumi2 += q8[j + 16] * lb_kvalues_iq4nl[qs[j] >> 4];
                }
                sumf += dl * (float)(sumi1 + sumi2);
                qs += 16;
                q8 += 32;
            }
        }
    }
    *s = sumf;
}
