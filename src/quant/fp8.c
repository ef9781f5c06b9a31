/* OCP FP8 encoders and scaled fp8 matrices (see fp8.h). One generic round-to-nearest-even
 * narrowing from binary32 to a float with mbits mantissa bits and exponent bias `bias`, the
 * same bit manipulation as lb_f32_to_f16 in core/dtype.c; the two formats differ only in
 * their largest finite code and in what an overflow becomes. Not here: fp8 matmul kernels,
 * activation (dynamic per-token) scaling. */
#include "quant/fp8.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

// ---- scalar encoders ----

typedef struct fp8_format {
    int mbits;        /* mantissa bits */
    int bias;         /* exponent bias */
    int max_efield;   /* largest exponent field holding finite values */
    uint8_t max_code; /* largest finite magnitude code */
    uint8_t ovf_code; /* what a non-saturating overflow becomes */
} fp8_format;

static const fp8_format E4M3 = {3, 7, 15, 0x7e, 0x7f};
static const fp8_format E5M2 = {2, 15, 30, 0x7b, 0x7c};

static uint8_t encode(float x, const fp8_format *f, bool saturate)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80);
    uint32_t a = u & 0x7fffffffu;
    uint8_t overflow = sign | (saturate ? f->max_code : f->ovf_code);

    if (a > 0x7f800000u) return sign | 0x7f; /* NaN */
    int e = (int)(a >> 23) - 127;            /* unbiased exponent (-127 for zero/subnormal) */
    if (e + f->bias > f->max_efield) return overflow; /* includes inf */

    int drop = 23 - f->mbits; /* f32 mantissa bits below the fp8 lsb */
    uint32_t code, rest, half;
    if (e + f->bias >= 1) { /* normal in fp8 */
        code = (uint32_t)(e + f->bias) << f->mbits | ((a >> drop) & ((1u << f->mbits) - 1));
        rest = a & ((1u << drop) - 1);
        half = 1u << (drop - 1);
    } else {
        /* subnormal: |x| / 2^(1-bias-mbits) = m24 * 2^(e-23-(1-bias-mbits)), m24 = 1.mant */
        int shift = 24 - f->bias - f->mbits - e;
        if (shift > 25) return sign; /* below half the smallest subnormal (also +-0) */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        code = m >> shift;
        rest = m & ((1u << shift) - 1);
        half = 1u << (shift - 1);
    }
    if (rest > half || (rest == half && (code & 1))) code++; /* may carry into the exponent */
    if (code > f->max_code) return overflow;
    return (uint8_t)(sign | code);
}

uint8_t lb_f32_to_fp8_e4m3(float x, bool saturate) { return encode(x, &E4M3, saturate); }
uint8_t lb_f32_to_fp8_e5m2(float x, bool saturate) { return encode(x, &E5M2, saturate); }

// ---- scaled matrices ----

/* Scale regions are rectangles of br x bc elements tiling the matrix. */
static void region(lb_fp8_scaling s, int64_t rows, int64_t cols, int64_t *br, int64_t *bc)
{
    switch (s) {
    case LB_FP8_SCALE_TENSOR: *br = rows > 0 ? rows : 1, *bc = cols > 0 ? cols : 1; return;
    case LB_FP8_SCALE_CHANNEL: *br = 1, *bc = cols > 0 ? cols : 1; return;
    case LB_FP8_SCALE_BLOCK: *br = LB_FP8_BLOCK, *bc = LB_FP8_BLOCK; return;
    default: *br = *bc = 1; LB_ASSERT(!"bad lb_fp8_scaling");
    }
}

int64_t lb_fp8_n_scales(lb_fp8_scaling scaling, int64_t rows, int64_t cols)
{
    int64_t br, bc;
    region(scaling, rows, cols, &br, &bc);
    return ((rows + br - 1) / br) * ((cols + bc - 1) / bc);
}

static const fp8_format *format_of(lb_type type)
{
    LB_ASSERT(type == LB_TYPE_F8_E4M3 || type == LB_TYPE_F8_E5M2);
    return type == LB_TYPE_F8_E4M3 ? &E4M3 : &E5M2;
}

void lb_fp8_quantize(lb_type type, lb_fp8_scaling scaling, const float *restrict x, int64_t rows, int64_t cols,
                     uint8_t *restrict codes, float *restrict scales)
{
    const fp8_format *f = format_of(type);
    float fmax = type == LB_TYPE_F8_E4M3 ? LB_FP8_E4M3_MAX : LB_FP8_E5M2_MAX;
    int64_t br, bc;
    region(scaling, rows, cols, &br, &bc);
    int64_t nbc = (cols + bc - 1) / bc;
    for (int64_t r0 = 0; r0 < rows; r0 += br) {
        int64_t r1 = r0 + br < rows ? r0 + br : rows;
        for (int64_t c0 = 0; c0 < cols; c0 += bc) {
            int64_t c1 = c0 + bc < cols ? c0 + bc : cols;
            float amax = 0.0f;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(x[r * cols + c]));
            float scale = amax / fmax;
            if (!(scale > 0.0f)) scale = 1.0f; /* all-zero region (or amax underflowed) */
            scales[(r0 / br) * nbc + c0 / bc] = scale;
            /* divide, as torch recipes do ((w / scale).clamp(-max, max).to(fp8)), not * 1/scale */
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) codes[r * cols + c] = encode(x[r * cols + c] / scale, f, true);
        }
    }
}

void lb_fp8_dequantize(lb_type type, lb_fp8_scaling scaling, const uint8_t *restrict codes,
                       const float *restrict scales, int64_t rows, int64_t cols, float *restrict y)
{
    format_of(type);
    float (*dec)(uint8_t) = type == LB_TYPE_F8_E4M3 ? lb_fp8_e4m3_to_f32 : lb_fp8_e5m2_to_f32;
    int64_t br, bc;
    region(scaling, rows, cols, &br, &bc);
    int64_t nbc = (cols + bc - 1) / bc;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            y[r * cols + c] = dec(codes[r * cols + c]) * scales[(r / br) * nbc + c / bc];
}
