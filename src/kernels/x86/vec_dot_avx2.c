/* AVX2 twins of the reference dot products (ref/vec_dot_ref.c), compiled with -mavx2 -mfma
 * -mf16c and called only when cpuid reports those (matmul.c). The structure is llama.cpp's
 * ggml-cpu x86 quants.c: per 32-element block, integer products with vpmaddubsw (u8 x s8 ->
 * pairs of i16) and vpmaddwd (-> 8 i32 lanes), exact; then one float scale per block, FMA'd
 * into 8 float lanes (two accumulators, so consecutive blocks do not wait on each other).
 * Differences from the reference: only the float summation order (lanes, FMA; IQ4_XS also
 * multiplies its sub-block scales in integers), bounded by the tolerance of
 * tests/kernels/test_vec_dot_simd.c. Integer sums are the same exact integers.
 * Operand ranges that keep vpmaddubsw from saturating (|pair| <= 32767): 4-bit quants <= 15,
 * 5-bit <= 31, 6-bit <= 63, activations in [-127, 127] as every lowbit quantizer makes them;
 * Q8_0 weights may hold -128 and IQ4 codebook values -127 (|.| is taken as u8, the sign moves
 * to the activation).
 * Not here: the AVX-512 VNNI twins (vec_dot_avx512.c), activation quantizers (ref only). */
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

/* 16 bytes of nibbles -> 32 bytes: element j (low nibble of byte j) in byte j, element j+16
 * (high nibble of byte j) in byte j+16, the legacy blocks' order. */
static inline __m256i nibbles32(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* 8 i32 lanes, each the sum of 4 consecutive products ux_j * sy_j (ux unsigned bytes). */
static inline __m256i dot_us(__m256i ux, __m256i sy)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1));
}

// ---- legacy 32-element blocks ----

/* sum (q - 8) a = sum q a - 8 sum a, both halves through vpmaddubsw with unsigned q. */
static inline __m256 q4_0_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = nibbles32(x + 2), qy = _mm256_loadu_si256((const __m256i *)(y + 2));
    const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(qx, qy), _mm256_maddubs_epi16(_mm256_set1_epi8(8), qy));
    const __m256i p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_cvtepi32_ps(p);
}

void lb_vec_dot_q4_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK;
    enum { XS = sizeof(lb_block_q4_0), YS = sizeof(lb_block_q8_0) };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0) * f16(y0)), q4_0_block(x0, y0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0 + XS) * f16(y0 + YS)), q4_0_block(x0 + XS, y0 + YS), acc1);
    }
    if (ib < nb) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0) * f16(y0)), q4_0_block(x0, y0), acc0);
    }
    *s = hsum8(_mm256_add_ps(acc0, acc1));
}

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

/* d_x d_y sum q a + m_x s_y: the minimum part is one product per block, summed apart. */
static inline __m256 q4_1_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = nibbles32(x + 4), qy = _mm256_loadu_si256((const __m256i *)(y + 4));
    return _mm256_cvtepi32_ps(dot_us(qx, qy));
}

void lb_vec_dot_q4_1_q8_1_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
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

/* signed x signed: |x| as unsigned bytes, x's sign moved onto a (vpsignb). */
static inline __m256 q8_0_block(const uint8_t *x, const uint8_t *y)
{
    const __m256i qx = _mm256_loadu_si256((const __m256i *)(x + 2)), qy = _mm256_loadu_si256((const __m256i *)(y + 2));
    return _mm256_cvtepi32_ps(dot_us(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)));
}

void lb_vec_dot_q8_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK;
    enum { XS = sizeof(lb_block_q8_0), YS = sizeof(lb_block_q8_0) };
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0) * f16(y0)), q8_0_block(x0, y0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0 + XS) * f16(y0 + YS)), q8_0_block(x0 + XS, y0 + YS), acc1);
    }
    if (ib < nb) {
        const uint8_t *x0 = x + ib * XS, *y0 = y + ib * YS;
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x0) * f16(y0)), q8_0_block(x0, y0), acc0);
    }
    *s = hsum8(_mm256_add_ps(acc0, acc1));
}

// ---- k-quants x Q8_K ----

/* vpshufb masks that broadcast 16-bit element i (bytes 2i, 2i+1) to every 16-bit lane. */
static inline __m256i bcast16_mask(int i)
{
    return _mm256_set1_epi16((short)((2 * i) | ((2 * i + 1) << 8)));
}

/* vpshufb masks (128-bit) that put byte 2i in bytes 0..7 and byte 2i+1 in bytes 8..15. */
static inline __m128i pair_mask(int i)
{
    return _mm_set_epi64x(0x0101010101010101ll * (2 * i + 1), 0x0101010101010101ll * (2 * i));
}

/* The part Q4_K and Q5_K share per super-block: the minimum term -dmin_x d_y sum_sub m bsum
 * (sub-block sums of the activations are pairs of Q8_K's 16-element bsums) FMA'd into acc_m
 * (dmin here is -dmin_x d_y), and the 8 sub-block scales as u16, in both 128-bit halves. */
static inline __m256i k45_scales_mins(const uint8_t *xb, const uint8_t *yb, float dmin, __m128 *acc_m)
{
    uint32_t utmp[4];
    lb_k4_scales_mins_x86(xb + offsetof(lb_block_q4_k, scales), utmp);
    /* 8 scales then 8 mins, widened to u16 */
    const __m256i mins_scales = _mm256_cvtepu8_epi16(_mm_set_epi32((int)utmp[3], (int)utmp[2], (int)utmp[1], (int)utmp[0]));
    const uint8_t *bs = yb + offsetof(lb_block_q8_k, bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bs), _mm_loadu_si128((const __m128i *)(bs + 16)));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_scales, 1), q8s);
    *acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), *acc_m);
    const __m128i sc128 = _mm256_castsi256_si128(mins_scales);
    return _mm256_set_m128i(sc128, sc128);
}

/* d_x d_y sum_sub sc sum q a - dmin_x d_y sum_sub m (bsum pairs): the 8 sub-blocks of 32
 * take 4 iterations of 32 nibble bytes (low nibbles sub-block 2j, high 2j+1). */
void lb_vec_dot_q4_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_q4_k), YS = sizeof(lb_block_q8_k) };
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        float yd;
        memcpy(&yd, yb, 4);
        const float d = yd * f16(xb), dmin = -yd * f16(xb + 2);
        const __m256i scales = k45_scales_mins(xb, yb, dmin, &acc_m);
        const uint8_t *q4 = xb + 16, *q8 = yb + 4;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < LB_QK_K / 64; j++, q4 += 32, q8 += 64) {
            const __m256i scale_l = _mm256_shuffle_epi8(scales, bcast16_mask(2 * j));
            const __m256i scale_h = _mm256_shuffle_epi8(scales, bcast16_mask(2 * j + 1));
            const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i q4l = _mm256_and_si256(q4bits, m4), q4h = _mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4);
            const __m256i pl = _mm256_maddubs_epi16(q4l, _mm256_loadu_si256((const __m256i *)q8));
            const __m256i ph = _mm256_maddubs_epi16(q4h, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(scale_l, pl), _mm256_madd_epi16(scale_h, ph)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    *s = hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* Q4_K plus a fifth bit: q = nibble + 16 * (qh bit), bit 2j of qh byte l for element l of
 * sub-block 2j (low nibbles), bit 2j+1 for sub-block 2j+1 (high nibbles). hb is qh shifted
 * right by 2j (16-bit shifts: bits 0 and 1 of each byte still come from that byte), and
 * shifting it left by 4 (or 3) then masking 0x10 lands bit 0 (or 1) on bit 4 of its byte.
 * q <= 31, so vpmaddubsw pairs stay <= 2 * 31 * 127. */
void lb_vec_dot_q5_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_q5_k), YS = sizeof(lb_block_q8_k) };
    const __m256i m4 = _mm256_set1_epi8(0x0f), m16 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        float yd;
        memcpy(&yd, yb, 4);
        const float d = yd * f16(xb), dmin = -yd * f16(xb + 2);
        const __m256i scales = k45_scales_mins(xb, yb, dmin, &acc_m);
        const uint8_t *q4 = xb + offsetof(lb_block_q5_k, qs), *q8 = yb + offsetof(lb_block_q8_k, qs);
        __m256i hb = _mm256_loadu_si256((const __m256i *)(xb + offsetof(lb_block_q5_k, qh)));
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < LB_QK_K / 64; j++, q4 += 32, q8 += 64, hb = _mm256_srli_epi16(hb, 2)) {
            const __m256i scale_l = _mm256_shuffle_epi8(scales, bcast16_mask(2 * j));
            const __m256i scale_h = _mm256_shuffle_epi8(scales, bcast16_mask(2 * j + 1));
            const __m256i q4bits = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i q5l = _mm256_or_si256(_mm256_and_si256(q4bits, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m16));
            const __m256i q5h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4bits, 4), m4),
                                                _mm256_and_si256(_mm256_slli_epi16(hb, 3), m16));
            const __m256i pl = _mm256_maddubs_epi16(q5l, _mm256_loadu_si256((const __m256i *)q8));
            const __m256i ph = _mm256_maddubs_epi16(q5h, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(scale_l, pl), _mm256_madd_epi16(scale_h, ph)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    *s = hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* d_x d_y sum_g sc_g sum (q - 32) a over 16 groups of 16: q in [0, 63] goes unsigned through
 * vpmaddubsw and the 32 a of the same pair is subtracted right there (as ggml does), so each
 * i32 lane holds a sum of (q - 32) a terms. Folding the -32 in later from Q8_K's bsums would be
 * fewer instructions but leaves lanes with large opposite-signed parts that cancel only after
 * the float conversion: on a row with one huge activation that loses most of the result. */
void lb_vec_dot_q6_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_q6_k), YS = sizeof(lb_block_q8_k) };
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        const uint8_t *ql = xb, *qh = xb + LB_QK_K / 2, *q8 = yb + 4;
        float yd;
        memcpy(&yd, yb, 4);
        const float d = yd * f16(xb + 208);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(xb + 192));
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < LB_QK_K / 128; j++, ql += 64, qh += 32, q8 += 128) {
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
            for (int k = 0; k < 4; k++) {
                const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pair_mask(4 * j + k)));
                const __m256i a = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a), _mm256_maddubs_epi16(m32, a));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, sc));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}

/* d_x d_y sum_sub (ls - 32) sum kv[q] a over 8 sub-blocks of 32 (legacy nibble order: low
 * nibbles elements 0..15, high 16..31), kv the IQ4_NL codebook looked up with vpshufb. Both
 * factors are signed, so |kv| goes unsigned into vpmaddubsw and kv's sign moves onto a
 * (|pair| <= 2 * 127 * 127 < 32767); the signed 6-bit scale then multiplies in vpmaddwd.
 * The reference rounds d (ls - 32) and its product with each sub-block sum; here the scale
 * stays in the integer sum and d_x d_y multiplies once per super-block and lane. */
void lb_vec_dot_iq4_xs_q8_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / LB_QK_K;
    enum { XS = sizeof(lb_block_iq4_xs), YS = sizeof(lb_block_q8_k) };
    const __m128i kv128 = _mm_loadu_si128((const __m128i *)lb_kvalues_iq4nl);
    const __m256i kv = _mm256_set_m128i(kv128, kv128);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = x + i * XS, *yb = y + i * YS;
        float yd;
        memcpy(&yd, yb, 4);
        const float d4d8 = f16(xb) * yd;
        uint16_t h;
        memcpy(&h, xb + offsetof(lb_block_iq4_xs, scales_h), 2);
        const uint8_t *sl = xb + offsetof(lb_block_iq4_xs, scales_l);
        const uint8_t *qs = xb + offsetof(lb_block_iq4_xs, qs), *q8 = yb + offsetof(lb_block_q8_k, qs);
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < LB_QK_K / 32; ib += 2, qs += 32, q8 += 64, h >>= 4) {
            const int ls0 = (sl[ib / 2] & 0xf) | ((h << 4) & 0x30), ls1 = (sl[ib / 2] >> 4) | ((h << 2) & 0x30);
            const __m256i w0 = _mm256_shuffle_epi8(kv, nibbles32(qs)), w1 = _mm256_shuffle_epi8(kv, nibbles32(qs + 16));
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)q8), a1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            const __m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0));
            const __m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(a1, w1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_set1_epi16((short)(ls0 - 32))),
                                                           _mm256_madd_epi16(p1, _mm256_set1_epi16((short)(ls1 - 32)))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d4d8), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}
