/* x86 SIMD twins of the F16 / BF16 row decoders (src/quant/dequant_float.c, whose _ref versions
 * are the spec). Both conversions are exact, so the twins equal the reference bit for bit on
 * every code (NaN included: F16C quiets a NaN and keeps its payload, as lb_f16_to_f32 does).
 * dequant_float_x86.c is compiled with -mavx2 -mfma -mf16c (CMakeLists.txt): call these only
 * after the matching cpuid check, which lb_dequant_f16 / lb_dequant_bf16 do once. Sources may
 * sit at any byte offset. Not here: the selection (dequant_float.c). */
#ifndef LB_KERNELS_X86_DEQUANT_X86_H
#define LB_KERNELS_X86_DEQUANT_X86_H

#include <stdint.h>

// ---- dequant_float_x86.c: AVX2 + F16C ----

void lb_dequant_f16_f16c(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_bf16_avx2(const void *restrict src, float *restrict dst, int64_t n);

#endif
