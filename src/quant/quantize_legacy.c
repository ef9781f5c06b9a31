/* Quantizers of the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL), bit-exact with
 * llama.cpp's ggml-quants.c as ggml_quantize_chunk drives it: without an imatrix each block is
 * quantize_row_<type>_ref (absmax or min/max scale, round by +0.5 and truncation), with one it is
 * quantize_<type>_impl (weights qw[j] * sqrt(sigma2 + x[j]^2), sigma2 the row's mean square,
 * then make_qx_quants / make_qkx3_quants). Q8_0 ignores the imatrix, as llama.cpp does. IQ4_NL
 * always takes the search path (quantize_iq4_nl with ntry 7, weights x^2 without an imatrix):
 * that is what ggml_quantize_chunk does, not quantize_row_iq4_nl_ref (ntry -1).
 *
 * Float operations are written in llama.cpp's order. Neither build contracts a*b+c into FMA:
 * llama-cpp-python's libggml-base.so is x86-64 baseline (SSE2, no vfmadd in it) and so is ours
 * (-O2, no -march); a build for an FMA target would need -ffp-contract=off to stay exact.
 * Casts such as (int8_t)(x + 8.5f) are kept as llama.cpp writes them. */
#include "quant/blocks.h"
#include "quant/quantize_internal.h"
#include "core/dtype.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* sigma2 of the impl paths: the mean square of the whole row, summed in order. */
static float row_sigma2(const float *x, int64_t n)
{
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
    return sum_x2 / n;
}

static void row_weights(const float *xb, const float *qw, float sigma2, float *w)
{
    for (int j = 0; j < LB_QK; ++j) w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
}

/* 32 five-bit levels into 16 nibble bytes and the 32 fifth bits (element j -> bit j). */
static void pack5(const uint8_t *L, uint8_t qs[16], uint8_t qh_out[4])
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xi0 = L[j], xi1 = L[j + 16];
        qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
        qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
        qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    memcpy(qh_out, &qh, sizeof qh);
}

// ---- Q8_0: d = absmax / 127, q = roundf(x / d) ----

void lb_quantize_row_q8_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    (void)qw;
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK; i++, x += LB_QK, out += sizeof(lb_block_q8_0)) {
        lb_block_q8_0 y;
        float amax = 0.0f;
        for (int j = 0; j < LB_QK; j++) amax = MAX(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y.d = lb_f32_to_f16(d);
        for (int j = 0; j < LB_QK; ++j) y.qs[j] = (int8_t)roundf(x[j] * id);
        memcpy(out, &y, sizeof y);
    }
}

// ---- Q4_0 / Q5_0: symmetric, d = (signed absmax) / -8 or -16 ----

static void q4_0_ref_block(const float *x, lb_block_q4_0 *y)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < LB_QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lb_f32_to_f16(d);
    for (int j = 0; j < LB_QK / 2; ++j) {
        const uint8_t xi0 = MIN(15, (int8_t)(x[j] * id + 8.5f));
        const uint8_t xi1 = MIN(15, (int8_t)(x[LB_QK / 2 + j] * id + 8.5f));
        y->qs[j] = (uint8_t)(xi0 | xi1 << 4);
    }
}

void lb_quantize_row_q4_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++, out += sizeof(lb_block_q4_0)) {
        const float *xb = x + LB_QK * ib;
        lb_block_q4_0 y;
        if (!qw) {
            q4_0_ref_block(xb, &y);
        } else {
            float w[LB_QK];
            int8_t L[LB_QK];
            row_weights(xb, qw + LB_QK * ib, sigma2, w);
            y.d = lb_f32_to_f16(lb_make_qx_quants(LB_QK, 8, xb, L, w));
            for (int j = 0; j < 16; ++j) y.qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
        memcpy(out, &y, sizeof y);
    }
}

void lb_quantize_row_q5_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++, out += sizeof(lb_block_q5_0)) {
        const float *xb = x + LB_QK * ib;
        lb_block_q5_0 y;
        uint8_t L[LB_QK];
        if (!qw) {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < LB_QK; j++) {
                if (amax < fabsf(xb[j])) {
                    amax = fabsf(xb[j]);
                    max = xb[j];
                }
            }
            const float d = max / -16;
            const float id = d ? 1.0f / d : 0.0f;
            y.d = lb_f32_to_f16(d);
            for (int j = 0; j < LB_QK; ++j) L[j] = MIN(31, (int8_t)(xb[j] * id + 16.5f));
        } else {
            float w[LB_QK];
            int8_t Ls[LB_QK];
            row_weights(xb, qw + LB_QK * ib, sigma2, w);
            y.d = lb_f32_to_f16(lb_make_qx_quants(LB_QK, 16, xb, Ls, w));
            for (int j = 0; j < LB_QK; ++j) L[j] = (uint8_t)Ls[j];
        }
        pack5(L, y.qs, y.qh);
        memcpy(out, &y, sizeof y);
    }
}

// ---- Q4_1 / Q5_1: affine, d = (max - min) / 15 or 31, m = min ----

/* The ref path of both: levels (x - min) / d rounded by +0.5 and truncation. */
static void affine_ref_block(const float *x, int nmax, uint16_t *d16, uint16_t *m16, uint8_t *L)
{
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < LB_QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / nmax;
    const float id = d ? 1.0f / d : 0.0f;
    *d16 = lb_f32_to_f16(d);
    *m16 = lb_f32_to_f16(min);
    for (int j = 0; j < LB_QK; ++j) {
        const float v = (x[j] - min) * id;
        /* Q4_1 clamps through int8_t at 15; Q5_1 truncates to uint8_t (max - min maps to 31) */
        L[j] = nmax == 15 ? (uint8_t)MIN(15, (int8_t)(v + 0.5f)) : (uint8_t)(v + 0.5f);
    }
}

/* The impl path of both: make_qkx3_quants(32, nmax, ..., -0.9, 0.05, 36) on the row weights. */
static void affine_impl_block(const float *xb, const float *qwb, float sigma2, int nmax, uint16_t *d16,
                              uint16_t *m16, uint8_t *L)
{
    float w[LB_QK], min;
    uint8_t Laux[LB_QK];
    row_weights(xb, qwb, sigma2, w);
    const float d = lb_make_qkx_quants(LB_QK, nmax, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, false);
    *d16 = lb_f32_to_f16(d);
    *m16 = lb_f32_to_f16(-min);
}

void lb_quantize_row_q4_1(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++, out += sizeof(lb_block_q4_1)) {
        const float *xb = x + LB_QK * ib;
        lb_block_q4_1 y;
        uint8_t L[LB_QK];
        if (!qw) affine_ref_block(xb, 15, &y.d, &y.m, L);
        else affine_impl_block(xb, qw + LB_QK * ib, sigma2, 15, &y.d, &y.m, L);
        for (int j = 0; j < 16; ++j) y.qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        memcpy(out, &y, sizeof y);
    }
}

void lb_quantize_row_q5_1(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
    for (int64_t ib = 0; ib < n / LB_QK; ib++, out += sizeof(lb_block_q5_1)) {
        const float *xb = x + LB_QK * ib;
        lb_block_q5_1 y;
        uint8_t L[LB_QK];
        if (!qw) affine_ref_block(xb, 31, &y.d, &y.m, L);
        else affine_impl_block(xb, qw + LB_QK * ib, sigma2, 31, &y.d, &y.m, L);
        pack5(L, y.qs, y.qh);
        memcpy(out, &y, sizeof y);
    }
}

// ---- IQ4_NL: one 32-block per "super-block" of the iq4 search ----

void lb_quantize_row_iq4_nl(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t ib = 0; ib < n / LB_QK; ib++, out += sizeof(lb_block_iq4_nl)) {
        lb_block_iq4_nl y;
        uint8_t L[LB_QK];
        float weight[LB_QK], scale;
        uint16_t unused_h;
        lb_quantize_iq4_impl(LB_QK, 32, x + LB_QK * ib, &y.d, y.qs, &unused_h, NULL, &scale, weight, L,
                             qw ? qw + LB_QK * ib : NULL, 7);
        memcpy(out, &y, sizeof y);
    }
}
