/* Row decoders for the scalar float types: F32, F16, BF16, F64 and the two float8 formats.
 * Each element goes through the scalar conversions of src/core/dtype.c; F64 narrows with
 * C's default rounding (to nearest even). Sources may sit at any byte offset in a mapped
 * file, so elements are read with memcpy, never through a cast pointer. Not here: the
 * block types (dequant_legacy.c, dequant_kquants.c). */
#include "quant/dequant.h"
#include "core/dtype.h"

#include <string.h>

void lb_dequant_f32(const void *restrict src, float *restrict dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void lb_dequant_f16(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = lb_f16_to_f32(h);
    }
}

void lb_dequant_bf16(const void *restrict src, float *restrict dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, p + 2 * i, 2);
        dst[i] = lb_bf16_to_f32(b);
    }
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
