/* The INT-N quantization grid (src/quant/grid.c) as GPTQ walks it: fits are AutoGPTQ's
 * find_params (the same scale and zero as src/quant/intn.c, then the scale rounded to f16),
 * rounding is quantizer.py's clamp(round(w / scale) + zero) under that f16 scale, and what
 * lb_grid_round returns is bit-identical to lb_grid_dequantize of the stored codes. Also: a
 * worked example where the f16 scale changes a code, the g_idx group map (act-order groups of
 * scattered columns), scales that underflow/overflow f16, and the argument errors. */
#include "core/dtype.h"
#include "quant/grid.h"
#include "quant/intn.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float f16(float x) { return lb_f16_to_f32(lb_f32_to_f16(x)); }

static lb_grid *make(int bits, int64_t group, bool sym, int64_t rows, int64_t cols)
{
    lb_grid_spec spec = {.intn = {bits, group, sym}};
    lb_grid *g = NULL;
    lb_status st = lb_grid_create(&spec, rows, cols, &g);
    CHECKF(st == LB_OK, "create INT%d g%lld: %s", bits, (long long)group, lb_errmsg());
    return g;
}

static void test_hand(void)
{
    /* asym 4-bit: range [-1, 2] -> scale 0.2, f16 0.199951171875; zero round(5) = 5.
     * 0.5 / 0.19995 = 2.5006 -> 3 (with the f32 scale 0.2 it is the tie 2.5 -> 2): code 8 */
    lb_grid *g = make(4, -1, false, 1, 4);
    float x[4] = {-1.0f, 2.0f, 0.5f, 0.3f};
    lb_grid_fit(g, 0, 0, x, NULL);
    const uint8_t *codes, *zeros;
    const float *scales;
    lb_grid_intn(g, &codes, &scales, &zeros);
    CHECKF(scales[0] == 0.199951171875f && zeros[0] == 5, "scale %.12g zero %d", scales[0], zeros[0]);
    float y = lb_grid_round(g, 0, 2, 0.5f);
    CHECKF(codes[2] == 8 && y == 0.199951171875f * 3.0f, "round(0.5): code %d value %.9g", codes[2], y);
    y = lb_grid_round(g, 0, 1, 2.0f); /* 2 / 0.19995 = 10.0024 -> 10 + 5 = 15 */
    CHECKF(codes[1] == 15 && y == 0.199951171875f * 10.0f, "round(2): code %d value %.9g", codes[1], y);
    y = lb_grid_round(g, 0, 0, -5.0f); /* clamps to code 0 */
    CHECKF(codes[0] == 0 && y == 0.199951171875f * -5.0f, "round(-5): code %d value %.9g", codes[0], y);
    CHECK(lb_grid_group_size(g) == 4 && lb_grid_group_of(g, 3) == 0);
    size_t rb = 7;
    CHECK(lb_grid_bytes(g, &rb) == NULL && rb == 0);
    lb_grid_free(g);
}

/* Fit + round against intn.c's quantizer on random groups: the same zero, the f16 of its scale,
 * the codes of quantizer.py under that scale; lb_grid_dequantize gives back the returned values. */
static void test_against_intn(void)
{
    enum { R = 3, C = 192 };
    float *x = malloc(sizeof(float) * R * C), *y = malloc(sizeof(float) * R * C), *got = malloc(sizeof(float) * R * C);
    float *s = malloc(sizeof(float) * R * C);
    uint8_t *q = malloc(R * C), *z = malloc(R * C);
    uint32_t st = 3;
    for (int i = 0; i < R * C; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = ((float)(st >> 8) / 16777216.0f - 0.3f) * (float)(1 + i % 7) * 0.01f;
    }
    for (int k = 0; k < C; k += 24) x[k] = 0.0f; /* some zeros, an all-positive row below */
    for (int k = 0; k < C; k++) x[2 * C + k] = fabsf(x[2 * C + k]);
    int64_t groups[] = {-1, 8, 32, 64, 192};
    int bad = 0;
    for (int bits = 2; bits <= 8; bits++)
        for (int sym = 0; sym < 2; sym++)
            for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                lb_intn_params p = {bits, groups[gi], sym};
                int64_t ng = lb_intn_n_groups(&p, C), gs = C / ng;
                lb_intn_quantize(&p, x, R, C, q, s, z);
                lb_grid *g = make(bits, groups[gi], sym, R, C);
                const uint8_t *codes, *zeros;
                const float *scales;
                lb_grid_intn(g, &codes, &scales, &zeros);
                float maxq = (float)((1 << bits) - 1);
                for (int r = 0; r < R; r++)
                    for (int64_t k = 0; k < ng; k++) {
                        lb_grid_fit(g, r, k, x + r * C + k * gs, NULL);
                        if ((scales[r * ng + k] != f16(s[r * ng + k]) || zeros[r * ng + k] != z[r * ng + k]) && bad++ < 3)
                            fprintf(stderr, "  INT%d sym %d g%lld row %d group %lld: scale %g zero %d, intn %g %d\n",
                                    bits, sym, (long long)groups[gi], r, (long long)k, scales[r * ng + k],
                                    zeros[r * ng + k], s[r * ng + k], z[r * ng + k]);
                        for (int64_t c = k * gs; c < (k + 1) * gs; c++) {
                            float w = x[r * C + c], sc = scales[r * ng + k];
                            got[r * C + c] = lb_grid_round(g, r, c, w);
                            float want = fminf(fmaxf(rintf(w / sc) + (float)zeros[r * ng + k], 0.0f), maxq);
                            if (codes[r * C + c] != (uint8_t)want && bad++ < 3)
                                fprintf(stderr, "  INT%d [%d][%lld]: code %d want %g\n", bits, r, (long long)c,
                                        codes[r * C + c], want);
                        }
                    }
                lb_grid_dequantize(g, y);
                if (memcmp(y, got, sizeof(float) * R * C) != 0 && bad++ < 3)
                    fprintf(stderr, "  INT%d sym %d g%lld: dequantize != round's values\n", bits, sym,
                            (long long)groups[gi]);
                lb_grid_free(g);
            }
    CHECKF(bad == 0, "%d mismatches against intn.c / quantizer.py", bad);
    free(x), free(y), free(got), free(s), free(q), free(z);
}

/* g_idx: groups of scattered columns (act-order), fitted in increasing column order. */
static void test_group_map(void)
{
    enum { C = 12 };
    lb_grid *g = make(4, 4, false, 2, C);
    int32_t map[C] = {2, 0, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1}; /* group 0 = columns 1, 3, 6, 9 */
    CHECK(lb_grid_set_groups(g, map) == LB_OK);
    map[0] = 7; /* the copy is kept, not the caller's array */
    CHECK(lb_grid_group_of(g, 0) == 2 && lb_grid_group_of(g, 6) == 0 && lb_grid_group_of(g, 11) == 1);
    float w[C];
    for (int c = 0; c < C; c++) w[c] = (float)(c - 3) * 0.25f; /* -0.75 .. 2 */
    float y[2 * C], got[2 * C];
    for (int r = 0; r < 2; r++)
        for (int gi = 0; gi < 3; gi++) {
            float vals[4];
            int k = 0;
            for (int c = 0; c < C; c++)
                if (lb_grid_group_of(g, c) == gi) vals[k++] = w[c] * (float)(r + 1);
            lb_grid_fit(g, r, gi, vals, NULL);
        }
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < C; c++) got[r * C + c] = lb_grid_round(g, r, c, w[c] * (float)(r + 1));
    const float *scales;
    const uint8_t *zeros;
    lb_grid_intn(g, NULL, &scales, &zeros);
    /* group 0 (columns 1, 3, 6, 9 -> -0.5, 0, 0.75, 1.5): scale f16(2/15), zero round(0.5/scale) = 4 */
    CHECKF(scales[0] == f16(2.0f / 15.0f) && zeros[0] == 4, "group 0: scale %g zero %d", scales[0], zeros[0]);
    lb_grid_dequantize(g, y);
    lb_test_bits_equal("g_idx dequantize = round", y, got, 2 * C);
    float want[2 * C];
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < C; c++) want[r * C + c] = w[c] * (float)(r + 1);
    lb_test_close("g_idx within half a step", got, want, 2 * C, 0, 0.5 * 2 * 2.75 / 15 + 1e-6);
    int32_t bad1[C] = {0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2}; /* group 0 has 5 columns */
    int32_t bad2[C] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3}; /* group 3 does not exist */
    CHECK(lb_grid_set_groups(g, bad1) == LB_ERR_ARG && lb_grid_group_of(g, 0) == 2);
    CHECK(lb_grid_set_groups(g, bad2) == LB_ERR_ARG);
    CHECK(lb_grid_set_groups(g, NULL) == LB_OK && lb_grid_group_of(g, 0) == 0 && lb_grid_group_of(g, 11) == 2);
    lb_grid_free(g);
}

/* Scales beyond f16: below its smallest subnormal they stay at 2^-24 (values go to the zero
 * point), above its range at 65504 (values clamp); all-zero groups get AutoGPTQ's [-1, 1]. */
static void test_f16_edges(void)
{
    lb_grid *g = make(4, 4, true, 3, 4);
    float tiny[4] = {1e-9f, -2e-9f, 0.0f, 3e-10f}, huge[4] = {1e7f, -3e6f, 0.0f, 5e6f}, zero[4] = {0};
    lb_grid_fit(g, 0, 0, tiny, NULL);
    lb_grid_fit(g, 1, 0, huge, NULL);
    lb_grid_fit(g, 2, 0, zero, NULL);
    const float *scales;
    const uint8_t *zeros;
    lb_grid_intn(g, NULL, &scales, &zeros);
    CHECKF(scales[0] == 0x1p-24f && scales[1] == 65504.0f && scales[2] == f16(2.0f / 15.0f),
           "scales %g %g %g", scales[0], scales[1], scales[2]);
    bool finite = true;
    for (int c = 0; c < 4; c++) {
        float a = lb_grid_round(g, 0, c, tiny[c]), b = lb_grid_round(g, 1, c, huge[c]), z = lb_grid_round(g, 2, c, 0.0f);
        finite &= isfinite(a) && isfinite(b) && a == 0.0f && z == 0.0f;
    }
    CHECK(finite);
    lb_grid_free(g);
}

static void test_args(void)
{
    lb_grid *g = (lb_grid *)1;
    lb_grid_spec s1 = {.intn = {4, 32, true}};
    CHECK(lb_grid_create(&s1, 4, 100, &g) == LB_ERR_ARG && g == NULL); /* 100 % 32 */
    lb_grid_spec s2 = {.intn = {9, 32, true}};
    CHECK(lb_grid_create(&s2, 4, 64, &g) == LB_ERR_ARG && g == NULL);
    lb_grid_spec s3 = {.type = LB_TYPE_F32};
    CHECK(lb_grid_create(&s3, 4, 64, &g) == LB_ERR_ARG && g == NULL); /* no quantizer */
    lb_grid_spec s4 = {.type = LB_TYPE_Q4_0};
    CHECK(lb_grid_create(&s4, 4, 48, &g) == LB_ERR_ARG && g == NULL); /* not whole blocks */
    CHECK(lb_grid_create(&s4, 4, 64, &g) == LB_OK && g != NULL);
    if (g) {
        CHECK(lb_grid_set_groups(g, NULL) == LB_ERR_ARG); /* block types have no map */
        size_t rb = 0;
        CHECK(lb_grid_bytes(g, &rb) != NULL && rb == 36 && lb_grid_group_size(g) == 32);
        const uint8_t *codes = (const uint8_t *)1;
        lb_grid_intn(g, &codes, NULL, NULL);
        CHECK(codes == NULL);
    }
    lb_grid_free(g);
    lb_grid_free(NULL);
}

int main(void)
{
    test_hand();
    test_against_intn();
    test_group_map();
    test_f16_edges();
    test_args();
    return lb_test_finish();
}
