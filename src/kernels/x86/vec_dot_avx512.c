/* AVX-512 VNNI twins of the reference dot products (ref/vec_dot_ref.c), compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni (plus AVX2/FMA/F16C) and called only when cpuid
 * reports all of them (matmul.c). Same scheme as vec_dot_avx2.c, but the integer dot of a
 * 32-element block is one vpdpbusd (u8 x s8, 4 products summed into each i32 lane, no i16
 * saturation step) on 256-bit registers: a block is exactly 32 bytes, and 256-bit VNNI
 * avoids the frequency and port-5 cost of stitching two blocks into one zmm. The k-quants
 * keep their AVX2 kernels (their per-16 scales want vpmaddwd anyway).
 * Differences from the reference: only the float summation order, bounded by the tolerance
 * of tests/kernels/test_vec_dot_simd.c. Not here: activation quantizers (ref only). */
#include "kernels/x86/vec_dot_x86.h"
#include "quant/blocks.h"

#include <immintrin.h>
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
