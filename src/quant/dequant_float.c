/* Row decoders for the scalar float types: F32, F16, BF16, F64 and the two float8 formats.
 * Each element goes through the scalar conversions of src/core/dtype.c; F64 narrows with
 * C's default rounding (to nearest even). Sources may sit at any byte offset in a mapped
 * file, so elements are read with memcpy, never through a cast pointer.
 * F16 and BF16 are streamed every token for f16 models, so lb_dequant_f16 / _bf16 dispatch
 * (BLIS cntx_init style, as kernels/matmul.c): the _ref loops here are the spec; the x86
 * twins (kernels/x86/dequant_float_x86.c), bit-identical since both conversions are exact,
 * follow the kernel set chosen at start (lb_kernel_isa_best: cpuid, LOWBIT_FORCE_REF). Not here: the block
 * types (dequant_legacy.c, dequant_kquants.c). */
#include "quant/dequant.h"
#include "core/dtype.h"
#include "kernels/ref/vec_dot.h"
#include "kernels/x86/dequant_x86.h"

#include <string.h>

void lb_dequant_f32(const void *restrict src, float *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void lb_dequant_f16_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lb_f16_to_f32(h);
    }
}

void lb_dequant_bf16_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, p + 2 * i, 2);
        dst[i] = lb_bf16_to_f32(b);
    }
}

// ---- F16 / BF16 dispatch ----

/* The x86 twins when the kernel set chosen at start (lb_kernel_isa_best: cpuid,
 * LOWBIT_FORCE_REF) includes AVX2 = AVX2 + FMA + F16C, every ISA dequant_float_x86.c is
 * compiled for. */
void lb_dequant_f16(const void *restrict src, float *restrict dst, int64_t n)
{
    (lb_kernel_isa_best() >= LB_KERNEL_AVX2 ? lb_dequant_f16_f16c : lb_dequant_f16_ref)(src, dst, n);
}

void lb_dequant_bf16(const void *restrict src, float *restrict dst, int64_t n)
{
    (lb_kernel_isa_best() >= LB_KERNEL_AVX2 ? lb_dequant_bf16_avx2 : lb_dequant_bf16_ref)(src, dst, n);
}

void lb_dequant_f64(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        dst[i] = (float)v;
    }
}

void lb_dequant_f8_e4m3(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lb_fp8_e4m3_to_f32(p[i]);
}

void lb_dequant_f8_e5m2(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = lb_fp8_e5m2_to_f32(p[i]);
}
