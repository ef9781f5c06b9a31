/* Dot products of a stored F16 or BF16 weight row with f32 activations, for token generation on
 * models kept in their 16-bit form: one pass over the 2-byte weights instead of decoding them to
 * f32 first (which writes and reads back twice their bytes). Accumulation is in f32.
 *   ref  (ref/dot_half_ref.c)   sequential sum, the spec
 *   avx2 (x86/dot_half_avx2.c)  F16C/AVX2 widening, 4 x 8 FMA lanes; differs from ref only in
 *                               the summation order (tests/kernels/test_dot_half.c bounds it)
 * lb_dot_half_of picks once by cpuid (LOWBIT_FORCE_REF=1 pins ref). */
#ifndef LB_KERNELS_DOT_HALF_H
#define LB_KERNELS_DOT_HALF_H

#include "core/dtype.h"

#include <stdint.h>

/* sum_i w[i] * x[i] over n elements; w is n F16 or BF16 codes at any byte offset. */
typedef float (*lb_dot_half_fn)(const void *restrict w, const float *restrict x, int64_t n);

float lb_dot_f16_f32_ref(const void *restrict w, const float *restrict x, int64_t n);
float lb_dot_bf16_f32_ref(const void *restrict w, const float *restrict x, int64_t n);
float lb_dot_f16_f32_avx2(const void *restrict w, const float *restrict x, int64_t n);
float lb_dot_bf16_f32_avx2(const void *restrict w, const float *restrict x, int64_t n);

/* The kernel for stored type t (F16 or BF16), else NULL. */
lb_dot_half_fn lb_dot_half_of(lb_type t);

#endif
