/* AVX2 + F16C + FMA twins of ref/dot_half_ref.c (see kernels/dot_half.h): 32 elements per step
 * in four independent 8-lane FMA accumulators, a scalar tail, lanes summed at the end. Compiled
 * with -mavx2 -mfma -mf16c (CMakeLists.txt); called only after the cpuid check of
 * lb_dot_half_of. */
#include "kernels/dot_half.h"

#include <immintrin.h>
#include <string.h>

static inline float hsum8(__m256 v)
{
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline __m256 load_f16(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static inline __m256 load_bf16(const uint8_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

#define DOT_HALF(NAME, LOAD, SCALAR)                                                                                    \
    float NAME(const void *restrict w, const float *restrict x, int64_t n)                                             \
    {                                                                                                                  \
        const uint8_t *p = w;                                                                                          \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); \
        int64_t i = 0;                                                                                                 \
        for (; i + 32 <= n; i += 32) {                                                                                 \
            a0 = _mm256_fmadd_ps(LOAD(p + 2 * i), _mm256_loadu_ps(x + i), a0);                                         \
            a1 = _mm256_fmadd_ps(LOAD(p + 2 * i + 16), _mm256_loadu_ps(x + i + 8), a1);                                \
            a2 = _mm256_fmadd_ps(LOAD(p + 2 * i + 32), _mm256_loadu_ps(x + i + 16), a2);                               \
            a3 = _mm256_fmadd_ps(LOAD(p + 2 * i + 48), _mm256_loadu_ps(x + i + 24), a3);                               \
        }                                                                                                              \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LOAD(p + 2 * i), _mm256_loadu_ps(x + i), a0);                 \
        float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                               \
        for (; i < n; i++) {                                                                                           \
            uint16_t h;                                                                                                \
            memcpy(&h, p + 2 * i, 2);                                                                                  \
            sum += SCALAR(h) * x[i];                                                                                   \
        }                                                                                                              \
        return sum;                                                                                                    \
    }

static inline float f16_1(uint16_t h) { return _cvtsh_ss(h); }

static inline float bf16_1(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

DOT_HALF(lb_dot_f16_f32_avx2, load_f16, f16_1)
DOT_HALF(lb_dot_bf16_f32_avx2, load_bf16, bf16_1)
