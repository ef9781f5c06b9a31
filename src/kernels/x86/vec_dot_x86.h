/* The x86 SIMD twins of the reference dot products (src/kernels/ref/vec_dot.h): same signature,
 * same math, block by block; only the float summation order differs (vector lanes, FMA), which
 * the tolerance of tests/kernels/test_vec_dot_simd.c bounds. Each .c file is compiled with its
 * own -m flags (CMakeLists.txt), so call these only after the matching cpuid check: matmul.c's
 * dispatch does that once. Not here: the selection itself (matmul.c), the reference (ref/). */
#ifndef LB_KERNELS_X86_VEC_DOT_X86_H
#define LB_KERNELS_X86_VEC_DOT_X86_H

#include <stdint.h>

// ---- vec_dot_avx2.c: AVX2 + FMA + F16C ----

void lb_vec_dot_q4_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_1_q8_1_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q8_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q6_k_q8_k_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

// ---- vec_dot_avx512.c: AVX-512 F/BW/VL + VNNI (vpdpbusd) ----

void lb_vec_dot_q4_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_1_q8_1_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q8_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

#endif
