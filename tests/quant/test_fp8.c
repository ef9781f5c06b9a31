/* FP8 encoders and scaled fp8 matrices (src/quant/fp8.c): every code of both OCP formats
 * decodes and re-encodes to itself (NaNs to the canonical S.1111111); hand-picked midpoints tie
 * to even; saturation and overflow; agreement with torch's float8 casts on 6,024 inputs
 * (tests/golden/fp8, written by make_fp8_golden.py); per-tensor, per-channel and 128x128 block
 * scaling on an odd-sized matrix with a relative error bound. */
#include "core/dtype.h"
#include "quant/fp8.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static uint8_t enc(lb_type t, float x, bool sat)
{
    return t == LB_TYPE_F8_E4M3 ? lb_f32_to_fp8_e4m3(x, sat) : lb_f32_to_fp8_e5m2(x, sat);
}
static float dec(lb_type t, uint8_t c) { return t == LB_TYPE_F8_E4M3 ? lb_fp8_e4m3_to_f32(c) : lb_fp8_e5m2_to_f32(c); }

// ---- exhaustive round trip ----

static void test_round_trip(lb_type t, const char *name)
{
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        float v = dec(t, (uint8_t)c);
        uint8_t want = isnan(v) ? (uint8_t)((c & 0x80) | 0x7f) : (uint8_t)c;
        for (int sat = 0; sat < 2; sat++) {
            if (isinf(v) && sat) want = (uint8_t)((c & 0x80) | 0x7b);
            uint8_t got = enc(t, v, sat);
            if (got != want && bad++ < 5)
                fprintf(stderr, "  %s code 0x%02x (%g) sat=%d -> 0x%02x, want 0x%02x\n", name, c, v, sat, got, want);
        }
    }
    CHECKF(bad == 0, "%s: %d of 512 round trips wrong", name, bad);
}

// ---- ties, saturation, overflow ----

static void expect_code(lb_type t, float x, bool sat, uint8_t want)
{
    uint8_t got = enc(t, x, sat);
    CHECKF(got == want, "%s(%.9g, sat=%d) = 0x%02x, want 0x%02x", t == LB_TYPE_F8_E4M3 ? "e4m3" : "e5m2", x, sat,
           got, want);
}

static void test_corners(void)
{
    lb_type E4 = LB_TYPE_F8_E4M3, E5 = LB_TYPE_F8_E5M2;
    /* e4m3: 1.0 = 0x38, next 1.125 = 0x39; midpoint 1.0625 ties to even 0x38 */
    expect_code(E4, 1.0625f, false, 0x38);
    expect_code(E4, 1.1875f, false, 0x3a); /* between 0x39 (1.125) and 0x3a (1.25): to even */
    expect_code(E4, nextafterf(1.0625f, 2.0f), false, 0x39);
    /* subnormals: step 2^-9; 1.5 * 2^-9 ties to 2 * 2^-9 (0x02), 0.5 * 2^-9 ties to 0 */
    expect_code(E4, 0x1.8p-9f, false, 0x02);
    expect_code(E4, 0x1p-10f, false, 0x00);
    expect_code(E4, nextafterf(0x1p-10f, 1.0f), false, 0x01);
    expect_code(E4, -0x1p-10f, false, 0x80);
    expect_code(E4, 0x1.ep-7f, false, 0x08); /* 7.5 * 2^-9 ties up to 2^-6, the smallest normal */
    /* 464 = midpoint of 448 (0x7e, even) and the missing 480: ties down; past it overflows */
    expect_code(E4, 464.0f, false, 0x7e);
    expect_code(E4, 465.0f, false, 0x7f);
    expect_code(E4, 465.0f, true, 0x7e);
    expect_code(E4, -1e30f, true, 0xfe);
    expect_code(E4, INFINITY, false, 0x7f);
    expect_code(E4, -INFINITY, true, 0xfe);
    expect_code(E4, NAN, true, 0x7f);
    /* e5m2: 57344 = 0x7b (odd); the midpoint 61440 ties to even = inf */
    expect_code(E5, 61440.0f, false, 0x7c);
    expect_code(E5, 61439.0f, false, 0x7b);
    expect_code(E5, 61440.0f, true, 0x7b);
    expect_code(E5, -INFINITY, false, 0xfc);
    expect_code(E5, INFINITY, true, 0x7b);
    expect_code(E5, 1.125f, false, 0x3c); /* 1.0 = 0x3c, 1.25 = 0x3d: tie to even */
    expect_code(E5, 1.375f, false, 0x3e);
    expect_code(E5, 0x1p-17f, false, 0x00); /* half the smallest subnormal 2^-16 */
    expect_code(E5, 0x1.8p-16f, false, 0x02);
}

// ---- torch ----

static void test_torch(void)
{
    size_t len;
    char *buf = lb_test_read_file(lb_test_source("tests/golden/fp8/torch_casts.bin"), &len);
    if (!EXPECT(buf && len >= 12 && memcmp(buf, "LBFP8G01", 8) == 0, "tests/golden/fp8/torch_casts.bin unreadable")) {
        free(buf);
        return;
    }
    uint32_t n;
    memcpy(&n, buf + 8, 4);
    if (!EXPECT(len == 12 + (size_t)n * 6, "torch_casts.bin: %zu bytes for n=%u", len, n)) {
        free(buf);
        return;
    }
    const uint8_t *e4 = (const uint8_t *)buf + 12 + (size_t)n * 4, *e5 = e4 + n;
    int bad4 = 0, bad5 = 0;
    for (uint32_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, buf + 12 + (size_t)i * 4, 4);
        /* torch 2.15's CPU e4m3fn cast saturates (inf and overflow -> +-448); e5m2 does not */
        uint8_t g4 = lb_f32_to_fp8_e4m3(x, true), g5 = lb_f32_to_fp8_e5m2(x, false);
        if (g4 != e4[i] && bad4++ < 5) fprintf(stderr, "  e4m3(%.9g) = 0x%02x, torch 0x%02x\n", x, g4, e4[i]);
        if (g5 != e5[i] && bad5++ < 5) fprintf(stderr, "  e5m2(%.9g) = 0x%02x, torch 0x%02x\n", x, g5, e5[i]);
    }
    CHECKF(bad4 == 0, "e4m3 vs torch: %d of %u differ", bad4, n);
    CHECKF(bad5 == 0, "e5m2 vs torch: %d of %u differ", bad5, n);
    free(buf);
}

// ---- scaled matrices ----

static void test_scaled(lb_type t, lb_fp8_scaling s, int64_t rows, int64_t cols)
{
    int64_t n = rows * cols, ns = lb_fp8_n_scales(s, rows, cols);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *sc = malloc(sizeof(float) * ns);
    uint8_t *q = malloc(n);
    uint32_t st = 12345;
    for (int64_t i = 0; i < n; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = ((float)(st >> 8) / 16777216.0f - 0.5f) * (float)(1 + (i / cols) % 7); /* rows differ in range */
    }
    for (int64_t c = 0; c < cols; c++) x[c] = 0.0f; /* an all-zero row */
    if (rows > 200) x[200 * cols + 3] = 1000.0f;  /* an outlier in one block */
    lb_fp8_quantize(t, s, x, rows, cols, q, sc);
    lb_fp8_dequantize(t, s, q, sc, rows, cols, y);
    /* per element: the relative step of the format (2^-mbits, halved by rounding) times the
     * scale region's amax covers the subnormal floor too */
    float fmax = t == LB_TYPE_F8_E4M3 ? LB_FP8_E4M3_MAX : LB_FP8_E5M2_MAX;
    float rel = t == LB_TYPE_F8_E4M3 ? 0x1p-4f : 0x1p-3f;
    int bad = 0;
    int64_t br = s == LB_FP8_SCALE_BLOCK ? LB_FP8_BLOCK : s == LB_FP8_SCALE_CHANNEL ? 1 : rows;
    int64_t bc = s == LB_FP8_SCALE_TENSOR || s == LB_FP8_SCALE_CHANNEL ? cols : LB_FP8_BLOCK;
    int64_t nbc = (cols + bc - 1) / bc;
    for (int64_t i = 0; i < n; i++) {
        float scale = sc[(i / cols / br) * nbc + (i % cols) / bc];
        float tol = rel * fabsf(x[i]) + scale * 0x1p-9f * (t == LB_TYPE_F8_E4M3 ? 1.0f : 128.0f) + 1e-30f;
        if (!(fabsf(y[i] - x[i]) <= tol) && bad++ < 5)
            fprintf(stderr, "  [%lld] x=%g y=%g scale=%g\n", (long long)i, x[i], y[i], scale);
    }
    CHECKF(bad == 0, "scaled %s scaling=%d %lldx%lld: %d elements off", t == LB_TYPE_F8_E4M3 ? "e4m3" : "e5m2", s,
           (long long)rows, (long long)cols, bad);
    CHECKF(sc[0] == (s == LB_FP8_SCALE_CHANNEL ? 1.0f : sc[0]), "all-zero row's channel scale %g", sc[0]);
    if (s == LB_FP8_SCALE_BLOCK && rows > 200)
        CHECKF(ns == ((rows + 127) / 128) * ((cols + 127) / 128) && sc[nbc] == 1000.0f / fmax,
               "block scales: n=%lld, outlier block scale %g", (long long)ns, sc[nbc]);
    free(x), free(y), free(sc), free(q);
}

int main(void)
{
    test_round_trip(LB_TYPE_F8_E4M3, "e4m3");
    test_round_trip(LB_TYPE_F8_E5M2, "e5m2");
    test_corners();
    test_torch();
    for (int s = 0; s < LB_FP8_SCALING_COUNT; s++) {
        test_scaled(LB_TYPE_F8_E4M3, (lb_fp8_scaling)s, 257, 300);
        test_scaled(LB_TYPE_F8_E5M2, (lb_fp8_scaling)s, 257, 300);
        test_scaled(LB_TYPE_F8_E4M3, (lb_fp8_scaling)s, 1, 1);
    }
    return lb_test_finish();
}
