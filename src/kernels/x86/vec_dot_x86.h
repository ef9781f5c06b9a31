/* The x86 SIMD twins of the reference dot products (src/kernels/ref/vec_dot.h): same signature,
 * same math, block by block; only the float summation order differs (vector lanes, FMA), which
 * the tolerance of tests/kernels/test_vec_dot_simd.c bounds. Each .c file is compiled with its
 * own -m flags (CMakeLists.txt), so call these only after the matching cpuid check: matmul.c's
 * dispatch does that once. Not here: the selection itself (matmul.c), the reference (ref/). */
#ifndef LB_KERNELS_X86_VEC_DOT_X86_H
#define LB_KERNELS_X86_VEC_DOT_X86_H

#include <stdint.h>
#include <string.h>

// ---- vec_dot_avx2.c: AVX2 + FMA + F16C ----

void lb_vec_dot_q4_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_1_q8_1_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q8_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q5_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q6_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_iq4_xs_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

// ---- vec_dot_avx512.c: AVX-512 F/BW/VL + VNNI (vpdpbusd) ----

void lb_vec_dot_q4_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_1_q8_1_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q8_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q5_k_q8_k_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_iq4_xs_q8_k_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

// ---- plain C shared by both files ----

/* Q4_K / Q5_K 6-bit scales and mins from their 12 packed bytes, ggml's utmp shuffle (as the
 * reference's k4_scales_mins): bytes 0..7 of utmp are the 8 scales, bytes 8..15 the 8 mins. */
static inline void lb_k4_scales_mins_x86(const uint8_t packed[12], uint32_t utmp[4])
{
    const uint32_t kmask1 = 0x3f3f3f3fu, kmask2 = 0x0f0f0f0fu, kmask3 = 0x03030303u;
    memcpy(utmp, packed, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
}

#endif
