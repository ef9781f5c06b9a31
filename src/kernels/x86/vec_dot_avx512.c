/* AVX-512 VNNI twins of the reference dot products (ref/vec_dot_ref.c), compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni (plus AVX2/FMA/F16C) and called only when cpuid
 * reports all of them (matmul.c). Same scheme as vec_dot_avx2.c, but the integer dot of a
 * 32-element block is one vpdpbusd (u8 x s8, 4 products summed into each i32 lane, no i16
 * saturation step) on 256-bit registers: a block is exactly 32 bytes, and 256-bit VNNI
 * avoids the frequency and port-5 cost of stitching two blocks into one zmm. Q5_K and IQ4_XS
 * (32-element sub-blocks, 64 of them in a row of a super-block) use full zmm registers and
 * VNNI's vpdpwssd for the sub-block scales; Q4_K and Q6_K keep their AVX2 kernels.
 * Differences from the reference: only the float summation order (IQ4_XS: also where its
 * sub-block scale is multiplied, as the AVX2 twin), bounded by the tolerance of
 * tests/kernels/test_vec_dot_simd.c. Not here: activation quantizers (ref only). */
#include "kernels/x86/vec_dot_x86.h"
#include "quant/blocks.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

// ---- helpers ----

static inline float f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h); /* exact widening, as lb_f16_to_f32 */
}

static inline float hsum8(__m256 v)
{
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* 16 bytes of nibbles -> 32 bytes in the legacy blocks' order (j low nibble, j+16 high). */
static inline __m256i nibbles32(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* One legacy vec_dot: block() gives the 8 i32 lanes of a block as floats, scale() its float
 * factor; two accumulators alternate so consecutive FMAs do not wait on each other. */
#define LEGACY_LOOP(XS, YS, SCALE, BLOCK)                                                                  \
    const uint8_t *x = vx, *y = vy;                                                                       \
    const int64_t nb = n / LB_QK;                                                                         \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                       \
    int64_t ib = 0;                                                                                       \
    for (; ib + 1 < nb; ib += 2) {                                                                        \
        const uint8_t *x0 = x + ib * (XS), *y0 = y + ib * (YS), *x1 = x0 + (XS), *y1 = y0 + (YS);         \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(SCALE(x0, y0)), BLOCK(x0, y0), acc0);                       \
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(SCALE(x1, y1)), BLOCK(x1, y1), acc1);                       \
    }                                                                                                     \
    if (ib < nb) {                                                                                        \
        const uint8_t *x0 = x + ib * (XS), *y0 = y + ib * (YS);                                           \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(SCALE(x0, y0)), BLOCK(x0, y0), acc0);                       \
    }

static inline float dd(const uint8_t *x, const uint8_t *y) { return f16(x) * f16(y); }

// ---- legacy 32-element blocks ----

/* Both f16 pairs of a Q4_1 x Q8_1 block pair in one conversion: [d_x, m_x, d_y, s_y] ->
 * lane 0 d_x d_y, lane 1 m_x s_y (the same float products as the reference). */
static inline __m128 q4_1_scales(const uint8_t *x, const uint8_t *y)
{
    int32_t hx, hy;
    memcpy(&hx, x, 4);
    memcpy(&hy, y, 4);
    const __m128 v = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(hx), hy, 1));
    return _mm_mul_ps(v, _mm_movehl_ps(v, v));
}

/* sum (q - 8) a = sum q a - sum 8 a: two vpdpbusd with unsigned q and the constant 8. */
static inline __m256 q4_0_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = nibbles32(x + 2), qy = _mm256_loadu_si256((const __m256i *)(y + 2));
    const __m256i z = _mm256_setzero_si256();
    const __m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(z, qx, qy), _mm256_dpbusd_epi32(z, _mm256_set1_epi8(8), qy));
    return _mm256_cvtepi32_ps(p);
}

void lb_vec_dot_q4_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    LEGACY_LOOP(sizeof(lb_block_q4_0), sizeof(lb_block_q8_0), dd, q4_0_block)
    *s = hsum8(_mm256_add_ps(acc0, acc1));
}

static inline __m256 q4_1_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = nibbles32(x + 4), qy = _mm256_loadu_si256((const __m256i *)(y + 4));
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), qx, qy));
}

/* d_x d_y sum q a + m_x s_y; the minimum parts summed apart (lane 1 of summs), as the AVX2 twin. */
void lb_vec_dot_q4_1_q8_1_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK;
    enum { XS = sizeof(lb_block_q4_1), YS = sizeof(lb_block_q8_1) };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m128 summs = _mm_setzero_ps(); /* lane 1: sum of m_x s_y */
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS, *x1 = x0 + XS, *y1 = y0 + YS;
        const __m128 s0 = q4_1_scales(x0, y0), s1 = q4_1_scales(x1, y1);
        summs = _mm_add_ps(summs, _mm_add_ps(s0, s1));
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s0), q4_1_block(x0, y0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s1), q4_1_block(x1, y1), acc1);
    }
    if (ib < nb) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS;
        const __m128 s0 = q4_1_scales(x0, y0);
        summs = _mm_add_ps(summs, s0);
        acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s0), q4_1_block(x0, y0), acc0);
    }
    *s = hsum8(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_movehdup_ps(summs));
}

/* signed x signed: |x| as unsigned bytes (|-128| = 128 fits u8), x's sign moved onto a. */
static inline __m256 q8_0_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = _mm256_loadu_si256((const __m256i *)(x + 2)), qy = _mm256_loadu_si256((const __m256i *)(y + 2));
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(qx), _mm256_sign_epi8(qy, qx));
    return _mm256_cvtepi32_ps(p);
}

void lb_vec_dot_q8_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    LEGACY_LOOP(sizeof(lb_block_q8_0), sizeof(lb_block_q8_0), dd, q8_0_block)
    *s = hsum8(_mm256_add_ps(acc0, acc1));
}

// ---- k-quants x Q8_K: 64 elements (two sub-blocks of 32) per zmm ----

/* Sub-blocks 2m and 2m+1 of a super-block are 64 consecutive Q8_K activations, so one zmm of
 * weights (sub-block 2m in the low 256 bits, 2m+1 in the high) meets one 64-byte load of a.
 * vpmaddubsw makes exact i16 pairs and vpdpwssd (VNNI) multiplies them by the i16 sub-block
 * scale and adds into 16 i32 lanes in one instruction (AVX2: vpmaddwd + vpaddd); the halves
 * are added (integers, exact) to 8 lanes before the one float FMA per super-block. */

/* vpshufb mask for a zmm that holds 8 u16/i16 scales in each 128-bit lane: scale 2m to every
 * 16-bit element of the low 256 bits, scale 2m+1 to the high 256 bits. */
static inline __m512i scale_pair_mask(int m)
{
    const __m256i lo = _mm256_set1_epi16((short)((4 * m) | ((4 * m + 1) << 8)));
    const __m256i hi = _mm256_set1_epi16((short)((4 * m + 2) | ((4 * m + 3) << 8)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline __m256i add_halves(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* As the AVX2 twin: d_x d_y sum_sub sc sum q a - dmin_x d_y sum_sub m (bsum pairs), q = nibble
 * + 16 * (qh bit 2m for sub-block 2m, 2m+1 for 2m+1, in qh byte l for element l). The fifth bit
 * is a byte mask (vptestmb of [qh, qh] against bit 2m low / 2m+1 high) and a masked add of 16. */
void lb_vec_dot_q5_k_q8_k_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_q5_k), YS = sizeof(lb_block_q8_k) };
    const __m512i m4 = _mm512_set1_epi8(0x0f), m16 = _mm512_set1_epi8(0x10);
    __m512i smask[LB_QK_K / 64], hsel[LB_QK_K / 64];
    for (int m = 0; m < LB_QK_K / 64; m++) {
        smask[m] = scale_pair_mask(m);
        hsel[m] = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << 2 * m)), _mm256_set1_epi8((char)(1 << (2 * m + 1))), 1);
    }
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        float yd;
        memcpy(&yd, yb, 4);
        const float d = yd * f16(xb), dmin = -yd * f16(xb + 2);
        uint32_t utmp[4];
        lb_k4_scales_mins_x86(xb + offsetof(lb_block_q5_k, scales), utmp);
        /* minimums times sub-block activation sums (pairs of 16-element bsums), 4 float lanes */
        const __m128i mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)utmp[3], (int)utmp[2]));
        const uint8_t *bs = yb + offsetof(lb_block_q8_k, bsums);
        const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bs), _mm_loadu_si128((const __m128i *)(bs + 16)));
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s)), acc_m);

        const __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)utmp[1], (int)utmp[0])));
        const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(xb + offsetof(lb_block_q5_k, qh))));
        const uint8_t *q4 = xb + offsetof(lb_block_q5_k, qs), *q8 = yb + offsetof(lb_block_q8_k, qs);
        __m512i sumi = _mm512_setzero_si512();
        for (int m = 0; m < LB_QK_K / 64; m++, q4 += 32, q8 += 64) {
            const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4);
            __m512i q = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q4bits), _mm256_srli_epi16(q4bits, 4), 1), m4);
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hb, hsel[m]), q, m16);
            const __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512((const void *)q8));
            sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_shuffle_epi8(scales, smask[m]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(add_halves(sumi)), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    *s = hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* As the AVX2 twin: d_x d_y sum_sub (ls - 32) sum kv[q] a, |kv| unsigned into vpmaddubsw and
 * kv's sign on a. AVX-512 has no vpsignb: the codebook is sorted with kv < 0 exactly for codes
 * 0..7, so a is negated under the mask of codes without bit 3 (vptestnmb, masked vpsubb).
 * 64 qs bytes hold 4 sub-blocks of 16 bytes, one per 128-bit lane; low and high nibbles are
 * interleaved by lane (vpermt2q) into [lo s, hi s, lo s+1, hi s+1], the order of a. The 8
 * 6-bit scales come out of scales_l / scales_h with variable shifts, 8 at once. */
void lb_vec_dot_iq4_xs_q8_k_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_iq4_xs), YS = sizeof(lb_block_q8_k) };
    const __m512i kabs = _mm512_broadcast_i32x4(_mm_abs_epi8(_mm_loadu_si128((const __m128i *)lb_kvalues_iq4nl)));
    const __m512i m4 = _mm512_set1_epi8(0x0f), m8 = _mm512_set1_epi8(8), zero = _mm512_setzero_si512();
    /* qword indices: [lo lane 0, hi lane 0, lo lane 1, hi lane 1] and lanes 2, 3 alike */
    const __m512i idx01 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), idx23 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    const __m256i sl_shift = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), sh_shift = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    __m512i smask[LB_QK_K / 64];
    for (int m = 0; m < LB_QK_K / 64; m++) smask[m] = scale_pair_mask(m);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        float yd;
        memcpy(&yd, yb, 4);
        const float d4d8 = f16(xb) * yd;
        uint16_t h;
        uint32_t l;
        memcpy(&h, xb + offsetof(lb_block_iq4_xs, scales_h), 2);
        memcpy(&l, xb + offsetof(lb_block_iq4_xs, scales_l), 4);
        /* ls_k - 32, ls_k = (l >> 4k) & 15 | ((h >> 2k) & 3) << 4 */
        const __m256i ls = _mm256_or_si256(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)l), sl_shift), _mm256_set1_epi32(0xf)),
                                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(h), sh_shift), _mm256_set1_epi32(3)), 4));
        const __m512i scales = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(_mm256_sub_epi32(ls, _mm256_set1_epi32(32))));
        const uint8_t *qs = xb + offsetof(lb_block_iq4_xs, qs), *q8 = yb + offsetof(lb_block_q8_k, qs);
        __m512i sumi = _mm512_setzero_si512();
        for (int half = 0; half < 2; half++, qs += 64) {
            const __m512i z = _mm512_loadu_si512((const void *)qs);
            const __m512i lo = _mm512_and_si512(z, m4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
            const __m512i w[2] = {_mm512_permutex2var_epi64(lo, idx01, hi), _mm512_permutex2var_epi64(lo, idx23, hi)};
            for (int k = 0; k < 2; k++, q8 += 64) {
                const __m512i a = _mm512_loadu_si512((const void *)q8);
                const __m512i sa = _mm512_mask_sub_epi8(a, _mm512_testn_epi8_mask(w[k], m8), zero, a);
                const __m512i p = _mm512_maddubs_epi16(_mm512_shuffle_epi8(kabs, w[k]), sa);
                sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_shuffle_epi8(scales, smask[2 * half + k]));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d4d8), _mm256_cvtepi32_ps(add_halves(sumi)), acc);
    }
    *s = hsum8(acc);
}
