/* Per-position rounding into GGUF block types under scales already stored in the block (the
 * contract in grid_internal.h), for GPTQ's column walk: the type's own quantizer has fitted the
 * block's header; each weight is then rounded, one at a time, to the nearest value its position
 * can decode to, and only that position's code bits are written.
 *
 * Every position of every supported type decodes as y(k) = s * t(k) + c: s the element's
 * scale exactly as the decoder forms it (d, d*sc, d*(sc - 32)), t(k) the code's integer
 * (k - 8, k - 16, k - 32, k - 4, k, or the IQ4 grid value kvalues_iq4nl[k]) and c the added
 * term (+m for Q4_1/Q5_1, -(dmin*m) for Q2_K/Q4_K/Q5_K, -0.0f otherwise: x + -0 == x for every
 * float x, signed zeros included, so the symmetric types need no second expression). Whatever
 * rounding the decoder's float operations do (Q6_K's product, the "- dmin*m"), it is monotone,
 * so y(k) is monotone in k (non-strictly): the two codes around w come from the real inverse
 * (linear grids; kept only if the decoded values confirm them) or a bisection, the nearer wins
 * (ties: the lower code), and codes with equal values (a huge m swallowing small steps) resolve
 * to the lowest. Distances are compared in double, where |w - y| of two floats is exact
 * unless their exponents lie ~29 binades apart.
 *
 * Codes offered are those the type's quantizer produces: every bit pattern, except Q8_0 whose
 * quantizer never writes -128 (roundf of at most 127). When s is zero every code decodes to the
 * same value; the code taken is then the one the quantizer stores for an all-zero block (Q4_0: 8,
 * Q5_0: 16, Q8_0: 0, IQ4_*: 8 = nearest grid value to 0, else the lowest code), so a zero block
 * comes out byte-identical (the ref path's bytes: on the imatrix path llama.cpp leaves a zero
 * Q4_0/Q5_0 block at code 0, the same zeros). Where a header's f16 scale underflowed to zero from a non-zero
 * unrounded scale, the quantizer's own codes came from that lost scale and cannot be repeated;
 * they decode to the same values as ours. Not here: fitting the scales (quantize_*.c), the
 * column walk (grid.c, src/algo/gptq). */
#include "quant/grid_internal.h"
#include "quant/blocks.h"
#include "core/core.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

// ---- one position's grid: y(k) = s * t(k) + c ----

typedef struct pos_grid {
    float s;           /* the element's scale, formed as the decoder forms it */
    float c;           /* added after the product (-0.0f when the decoder adds nothing) */
    int n;             /* codes 0..n-1, "lower code" in this order */
    int off;           /* t(k) = k + off ... */
    const int8_t *tab; /* ... or t(k) = tab[k] (IQ4 grid, increasing) */
    int zero;          /* the code the quantizer stores when s == 0 */
} pos_grid;

static inline float grid_value(const pos_grid *g, int k)
{
    const float t = g->tab ? (float)g->tab[k] : (float)(k + g->off);
    return g->s * t + g->c;
}

static inline double dist(float w, float y) { return fabs((double)w - (double)y); }

/* The lowest of the codes whose value is nearest to w. */
static int grid_nearest(const pos_grid *g, float w)
{
    /* s == 0: all codes decode alike; s inf/NaN (a hostile header): any code decodes to inf/NaN */
    if (g->s == 0 || !isfinite(g->s)) return g->zero;
    /* y is non-decreasing in k when s > 0, non-increasing when s < 0. Bisect so that codes
     * <= lo lie on one side of w and codes >= hi on the other (for s > 0: y(lo) <= w < y(hi);
     * for s < 0: y(lo) > w >= y(hi)); -1 and n stand for "no such code". */
    const bool rising = g->s > 0;
    int lo = -1, hi = g->n;
    if (!g->tab) {
        /* linear grids: guess the bracket from the real solution of s*(k + off) + c = w and
         * keep it if the decoded values confirm it (they almost always do); else bisect */
        const double u = ((double)w - (double)g->c) / (double)g->s - g->off;
        const double l = rising ? floor(u) : ceil(u) - 1;
        const int k0 = !(l >= -1) ? -1 : l >= g->n - 1 ? g->n - 1 : (int)l;
        if ((k0 < 0 || (grid_value(g, k0) <= w) == rising) &&
            (k0 + 1 >= g->n || (grid_value(g, k0 + 1) <= w) != rising)) {
            lo = k0;
            hi = k0 + 1;
        }
    }
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if ((grid_value(g, mid) <= w) == rising) lo = mid;
        else hi = mid;
    }
    int k;
    if (lo < 0) k = hi;
    else if (hi >= g->n) k = lo;
    else k = dist(w, grid_value(g, lo)) <= dist(w, grid_value(g, hi)) ? lo : hi;
    /* a lower code with the same value is as near (only possible below lo: y(lo) != y(hi)) */
    while (k > 0 && grid_value(g, k - 1) == grid_value(g, k)) k--;
    return k;
}

// ---- reading headers, writing code bits ----

static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return lb_f16_to_f32(h);
}

/* A 4-bit field: low nibble of p[0] (hi false) or high nibble. */
static inline void put_nibble(uint8_t *p, bool hi, int v)
{
    *p = hi ? (uint8_t)((*p & 0x0f) | (v << 4)) : (uint8_t)((*p & 0xf0) | v);
}

/* Bit i of the byte array p set to v (0 or 1). */
static inline void put_bit(uint8_t *p, int i, int v)
{
    p[i / 8] = (uint8_t)((p[i / 8] & ~(1u << (i % 8))) | ((unsigned)v << (i % 8)));
}

/* A 2-bit field at bit shift (0, 2, 4, 6) of *p. */
static inline void put_crumb(uint8_t *p, int shift, int v)
{
    *p = (uint8_t)((*p & ~(3u << shift)) | ((unsigned)v << shift));
}

/* Legacy 32-element nibble layout: element j in the low nibble of qs[j], j + 16 in the high. */
static inline void put_nibble32(uint8_t *qs, int pos, int v) { put_nibble(qs + pos % 16, pos >= 16, v & 0x0f); }

/* Q2_K/Q3_K 2-bit layout: halves of 128, in each four planes of 32 bytes-worth (shift 2*plane). */
static inline void put_crumb_k(uint8_t *qs, int pos, int v)
{
    put_crumb(qs + 32 * (pos / 128) + pos % 32, 2 * (pos % 128 / 32), v & 3);
}

/* Q4_K/Q5_K/IQ4_XS-style nibble in a 64-element chunk of 32 bytes: low nibbles the first 32. */
static inline void put_nibble_k(uint8_t *qs, int pos, int v)
{
    put_nibble(qs + 32 * (pos / 64) + pos % 32, pos % 64 >= 32, v & 0x0f);
}

// ---- legacy 32-element types ----

static float round_q4_0(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_q4_0, d)), .c = -0.0f, .n = 16, .off = -8, .zero = 8};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_q4_0, qs), (int)pos, k);
    return grid_value(&g, k);
}

static float round_q4_1(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_q4_1, d)), .c = f16_at(b + offsetof(lb_block_q4_1, m)),
                        .n = 16, .off = 0, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_q4_1, qs), (int)pos, k);
    return grid_value(&g, k);
}

static float round_q5_0(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_q5_0, d)), .c = -0.0f, .n = 32, .off = -16, .zero = 16};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_q5_0, qs), (int)pos, k);
    put_bit(b + offsetof(lb_block_q5_0, qh), (int)pos, k >> 4);
    return grid_value(&g, k);
}

static float round_q5_1(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_q5_1, d)), .c = f16_at(b + offsetof(lb_block_q5_1, m)),
                        .n = 32, .off = 0, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_q5_1, qs), (int)pos, k);
    put_bit(b + offsetof(lb_block_q5_1, qh), (int)pos, k >> 4);
    return grid_value(&g, k);
}

/* Codes k = 0..254 stand for q = k - 127: -128 is not among the quantizer's codes. */
static float round_q8_0(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_q8_0, d)), .c = -0.0f, .n = 255, .off = -127, .zero = 127};
    const int k = grid_nearest(&g, w);
    const int8_t q = (int8_t)(k - 127);
    memcpy(b + offsetof(lb_block_q8_0, qs) + pos, &q, 1);
    return grid_value(&g, k);
}

static float round_iq4_nl(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK);
    uint8_t *b = blk;
    const pos_grid g = {.s = f16_at(b + offsetof(lb_block_iq4_nl, d)), .c = -0.0f, .n = 16, .tab = lb_kvalues_iq4nl,
                        .zero = 8};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_iq4_nl, qs), (int)pos, k);
    return grid_value(&g, k);
}

// ---- k-quant super-blocks ----

/* Q4_K/Q5_K: scale and min codes of sub-block j (ggml's get_scale_min_k4). */
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

/* Q2_K: sub-block of 16 with a 4-bit scale (low) and min (high); y = (d*sc)*q - dmin*m. */
static float round_q2_k(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    const uint8_t sc = b[offsetof(lb_block_q2_k, scales) + pos / 16];
    const float d = f16_at(b + offsetof(lb_block_q2_k, d)), dmin = f16_at(b + offsetof(lb_block_q2_k, dmin));
    const pos_grid g = {.s = d * (float)(sc & 0x0f), .c = -(dmin * (float)(sc >> 4)), .n = 4, .off = 0, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_crumb_k(b + offsetof(lb_block_q2_k, qs), (int)pos, k);
    return grid_value(&g, k);
}

/* Q3_K: code k = hmask bit << 2 | 2 low bits, q = k - 4; y = (d*(sc - 32))*q. The quantizer's
 * all-zero sub-block is code 0 (q = -4, hmask clear), the lowest. */
static float round_q3_k(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    const uint8_t *s = b + offsetof(lb_block_q3_k, scales);
    const int is = (int)pos / 16;
    const int lo = is < 8 ? s[is] & 0x0f : s[is - 8] >> 4;
    const int hi = (s[8 + is % 4] >> (2 * (is / 4))) & 3;
    const float d = f16_at(b + offsetof(lb_block_q3_k, d));
    const pos_grid g = {.s = d * (float)((lo | (hi << 4)) - 32), .c = -0.0f, .n = 8, .off = -4, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_crumb_k(b + offsetof(lb_block_q3_k, qs), (int)pos, k);
    put_bit(b + offsetof(lb_block_q3_k, hmask), (int)(pos % 32) * 8 + (int)pos / 32, k >> 2);
    return grid_value(&g, k);
}

static float round_q4_k(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    int sc, m;
    scale_min_k4((int)pos / 32, b + offsetof(lb_block_q4_k, scales), &sc, &m);
    const float d = f16_at(b + offsetof(lb_block_q4_k, d)), dmin = f16_at(b + offsetof(lb_block_q4_k, dmin));
    const pos_grid g = {.s = d * (float)sc, .c = -(dmin * (float)m), .n = 16, .off = 0, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_nibble_k(b + offsetof(lb_block_q4_k, qs), (int)pos, k);
    return grid_value(&g, k);
}

/* Q5_K: Q4_K's nibble plus bit pos/32 of qh[pos % 32]. */
static float round_q5_k(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    int sc, m;
    scale_min_k4((int)pos / 32, b + offsetof(lb_block_q5_k, scales), &sc, &m);
    const float d = f16_at(b + offsetof(lb_block_q5_k, d)), dmin = f16_at(b + offsetof(lb_block_q5_k, dmin));
    const pos_grid g = {.s = d * (float)sc, .c = -(dmin * (float)m), .n = 32, .off = 0, .zero = 0};
    const int k = grid_nearest(&g, w);
    put_nibble_k(b + offsetof(lb_block_q5_k, qs), (int)pos, k);
    put_bit(b + offsetof(lb_block_q5_k, qh), (int)(pos % 32) * 8 + (int)pos / 32, k >> 4);
    return grid_value(&g, k);
}

/* Q6_K: element l + 32g of half h (g = 0..3) is the low (g < 2) or high nibble of
 * ql[64h + l + 32(g % 2)] with bits 2g, 2g+1 of qh[32h + l] on top; y = (d*sc)*(q - 32). */
static float round_q6_k(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    int8_t sc;
    memcpy(&sc, b + offsetof(lb_block_q6_k, scales) + pos / 16, 1);
    const float d = f16_at(b + offsetof(lb_block_q6_k, d));
    const pos_grid g = {.s = d * (float)sc, .c = -0.0f, .n = 64, .off = -32, .zero = 0};
    const int k = grid_nearest(&g, w);
    const int h = (int)pos / 128, r = (int)pos % 128, l = r % 32, gq = r / 32;
    put_nibble(b + offsetof(lb_block_q6_k, ql) + 64 * h + l + 32 * (gq % 2), gq >= 2, k & 0x0f);
    put_crumb(b + offsetof(lb_block_q6_k, qh) + 32 * h + l, 2 * gq, k >> 4);
    return grid_value(&g, k);
}

/* IQ4_XS: sub-block ib of 32 with a 6-bit scale ls; y = (d*(ls - 32)) * kvalues_iq4nl[k]. */
static float round_iq4_xs(void *blk, int64_t pos, float w)
{
    LB_ASSERT(pos >= 0 && pos < LB_QK_K);
    uint8_t *b = blk;
    const int ib = (int)pos / 32;
    uint16_t scales_h;
    memcpy(&scales_h, b + offsetof(lb_block_iq4_xs, scales_h), sizeof scales_h);
    const int ls = ((b[offsetof(lb_block_iq4_xs, scales_l) + ib / 2] >> (4 * (ib % 2))) & 0x0f) |
                   (((scales_h >> (2 * ib)) & 3) << 4);
    const float d = f16_at(b + offsetof(lb_block_iq4_xs, d));
    const pos_grid g = {.s = d * (float)(ls - 32), .c = -0.0f, .n = 16, .tab = lb_kvalues_iq4nl, .zero = 8};
    const int k = grid_nearest(&g, w);
    put_nibble32(b + offsetof(lb_block_iq4_xs, qs) + 16 * ib, (int)pos % 32, k);
    return grid_value(&g, k);
}

// ---- the table ----

static const lb_block_round_fn g_rounders[LB_TYPE_COUNT] = {
    [LB_TYPE_Q4_0] = round_q4_0, [LB_TYPE_Q4_1] = round_q4_1,   [LB_TYPE_Q5_0] = round_q5_0,
    [LB_TYPE_Q5_1] = round_q5_1, [LB_TYPE_Q8_0] = round_q8_0,   [LB_TYPE_IQ4_NL] = round_iq4_nl,
    [LB_TYPE_Q2_K] = round_q2_k, [LB_TYPE_Q3_K] = round_q3_k,   [LB_TYPE_Q4_K] = round_q4_k,
    [LB_TYPE_Q5_K] = round_q5_k, [LB_TYPE_Q6_K] = round_q6_k,   [LB_TYPE_IQ4_XS] = round_iq4_xs,
};

lb_block_round_fn lb_block_rounder_of(lb_type t)
{
    if ((int)t < 0 || t >= LB_TYPE_COUNT) return NULL;
    return g_rounders[t];
}
