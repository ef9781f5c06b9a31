/* F16 and BF16 rows to f32 with 256-bit vectors, 16 elements per step, the tail one by one.
 * F16: F16C's vcvtph2ps widens IEEE half to single exactly (subnormals normalised, Inf kept,
 * NaN quieted with its payload), the same map as lb_f16_to_f32. BF16: a bfloat16 is the upper
 * half of an f32, so zero-extend each 16-bit code to 32 bits and shift it left by 16 (integer
 * ops only: no rounding, no NaN handling, every bit kept, as lb_bf16_to_f32). Loads and stores
 * are unaligned: tensors sit at any offset of a mapped file. Not here: the reference
 * (dequant_float.c), the cpuid selection. */
#include "kernels/x86/dequant_x86.h"

#include <immintrin.h>
#include <string.h>

// ---- F16 (F16C) ----

void lb_dequant_f16_f16c(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i h0 = _mm_loadu_si128((const __m128i *)(p + 2 * i));
        const __m128i h1 = _mm_loadu_si128((const __m128i *)(p + 2 * i + 16));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h0));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(h1));
    }
    if (i + 8 <= n) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
        i += 8;
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = _cvtsh_ss(h);
    }
}

// ---- BF16 (AVX2) ----

static inline __m256 bf16x8_to_f32(const uint8_t *p)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

void lb_dequant_bf16_avx2(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(dst + i, bf16x8_to_f32(p + 2 * i));
        _mm256_storeu_ps(dst + i + 8, bf16x8_to_f32(p + 2 * i + 16));
    }
    if (i + 8 <= n) {
        _mm256_storeu_ps(dst + i, bf16x8_to_f32(p + 2 * i));
        i += 8;
    }
    for (; i < n; i++) {
        uint16_t b;
        memcpy(&b, p + 2 * i, 2);
        const uint32_t u = (uint32_t)b << 16;
        memcpy(dst + i, &u, 4);
    }
}
