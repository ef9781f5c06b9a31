/* Scalar conversions between f32 and the narrow float formats: IEEE 754 binary16, bfloat16,
 * and the two OCP 8-bit formats (OCP "8-bit Floating Point Specification (OFP8)" rev 1.0:
 * E4M3 as e4m3fn, E5M2). Plain integer bit manipulation, no intrinsics and no FPU mode
 * dependence, so results are the same on every host. Not here: whole-row decoders
 * (src/quant/dequant_float.c) and the type table (src/quant/types.c). */
#include "core/dtype.h"

#include <string.h>

// ---- bit casts ----

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// ---- IEEE binary16 ----

/* Widening is exact: normals rebias the exponent (15 -> 127), subnormals m * 2^-24 are
 * renormalized, inf stays inf, NaN keeps its payload shifted into the f32 mantissa. */
float lb_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;

    if (exp == 0x1f) /* inf, or NaN made quiet with its payload kept (as F16C and ggml do) */
        return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0));
    if (exp != 0) return bits_f32(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    if (mant == 0) return bits_f32(sign);

    /* subnormal: shift the leading one up to bit 10; each shift lowers the exponent */
    int e = -14;
    while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
    }
    return bits_f32(sign | ((uint32_t)(e + 127) << 23) | ((mant & 0x3ff) << 13));
}

/* Rounds to nearest, ties to even. The rounding increment may carry out of the mantissa into
 * the exponent, which is the correct result (including 65520 -> inf). NaN stays NaN: the
 * quiet bit is forced so a payload that truncates to zero cannot turn into inf, as F16C does. */
uint16_t lb_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;

    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 2^16 (or inf): overflow */

    if (a >= 0x38800000u) { /* >= 2^-14: normal in half */
        uint32_t h = ((a >> 23) - 127 + 15) << 10 | ((a >> 13) & 0x3ffu);
        uint32_t rest = a & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u) return sign; /* <= 2^-25, half the smallest subnormal: ties to 0 */

    /* subnormal in half: value / 2^-24 = m * 2^(E+1), E in [-25, -15], so shift m right */
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    int shift = -((int)(a >> 23) - 127 + 1); /* 14 .. 24 */
    uint32_t h = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h++; /* may become 0x400: smallest normal */
    return (uint16_t)(sign | h);
}

// ---- bfloat16 ----

float lb_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

/* Round to nearest even on the upper 16 bits (as ggml's ggml_compute_fp32_to_bf16 and
 * PyTorch do); NaN is truncated and forced quiet so it cannot collapse to inf. */
uint16_t lb_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

// ---- float8 (OCP OFP8) ----

/* E4M3 (e4m3fn): bias 7, no infinities; S.1111.111 is NaN, so the largest value is
 * S.1111.110 = 1.75 * 2^8 = 448; subnormals are m * 2^-9. */
float lb_fp8_e4m3_to_f32(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80) << 24;
    uint32_t exp = (v >> 3) & 0xf;
    uint32_t mant = v & 0x7;
    if (exp == 0xf && mant == 0x7) return bits_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        float x = (float)mant * 0x1p-9f; /* exact: at most 3 significant bits */
        return sign ? -x : x;
    }
    return bits_f32(sign | ((exp + 127 - 7) << 23) | (mant << 20));
}

/* E5M2: bias 15 with IEEE inf/NaN, i.e. exactly the upper byte of a binary16. */
float lb_fp8_e5m2_to_f32(uint8_t v) { return lb_f16_to_f32((uint16_t)(v << 8)); }
