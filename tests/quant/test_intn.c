/* Group-wise INT-N (src/quant/intn.c) against AutoGPTQ's quantizer worked by hand: 4-bit
 * symmetric and asymmetric groups, the all-zero and constant corners, the all-positive
 * symmetric quirk, and a round trip <= scale/2 for every bit width 2..8 and group size. */
#include "quant/intn.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

static void test_hand(void)
{
    /* asym 4-bit, one group: xmin -1, xmax 2 -> scale 3/15 = 0.2, zero = round(5) = 5;
     * q(0.5) = round(2.5)=2 (even) + 5 = 7; q(2) = 10+5 = 15; q(-1) = -5+5 = 0; q(0.3)=round(1.5)=2+5=7 */
    lb_intn_params a = {4, -1, false};
    float x[4] = {-1.0f, 2.0f, 0.5f, 0.3f}, y[4], s;
    uint8_t q[4], z;
    lb_intn_quantize(&a, x, 1, 4, q, &s, &z);
    CHECKF(s == 3.0f / 15.0f && z == 5, "asym scale %g zero %d", s, z);
    CHECKF(q[0] == 0 && q[1] == 15 && q[2] == 7 && q[3] == 7, "asym q = %d %d %d %d", q[0], q[1], q[2], q[3]);
    /* sym 4-bit: xmax = max(|-1|, 2) = 2, xmin = -2 -> scale 4/15, zero 8;
     * q(2) = round(7.5)=8 + 8 = 16 -> clamp 15; q(-1) = round(-3.75) = -4 + 8 = 4 */
    lb_intn_params sy = {4, -1, true};
    lb_intn_quantize(&sy, x, 1, 4, q, &s, &z);
    CHECKF(s == 4.0f / 15.0f && z == 8, "sym scale %g zero %d", s, z);
    CHECKF(q[0] == 4 && q[1] == 15, "sym q = %d %d", q[0], q[1]);
    lb_intn_dequantize(&sy, q, &s, &z, 1, 4, y);
    CHECKF(y[1] == (4.0f / 15.0f) * 7.0f, "sym dequant of the clamped max %g", y[1]);
    /* all-zero group: range [-1, 1] -> scale 2/15 (rounded up in f32), so 1/scale = 7.4999995
     * and zero = 7, as torch float32 gives; values stay 0 */
    float zero4[4] = {0}, y0[4];
    lb_intn_quantize(&a, zero4, 1, 4, q, &s, &z);
    lb_intn_dequantize(&a, q, &s, &z, 1, 4, y0);
    CHECKF(s == 2.0f / 15.0f && z == 7, "zero group scale %g zero %d", s, z);
    lb_test_bits_equal("zero group", y0, zero4, 4);
    /* constant 3: range [0, 3] -> scale 0.2, zero 0, q = 15, exact */
    float c[4] = {3, 3, 3, 3}, yc[4];
    lb_intn_quantize(&a, c, 1, 4, q, &s, &z);
    lb_intn_dequantize(&a, q, &s, &z, 1, 4, yc);
    CHECKF(z == 0 && q[0] == 15, "constant group zero %d q %d", z, q[0]);
    lb_test_close("constant group", yc, c, 4, 1e-6, 0);
    /* sym, all positive: xmin stays 0 so scale = 3/15 with zero 8: 3 clamps to 7 * 0.2 (GPTQ) */
    lb_intn_quantize(&sy, c, 1, 4, q, &s, &z);
    CHECKF(s == 3.0f / 15.0f && z == 8 && q[0] == 15, "sym positive: scale %g zero %d q %d", s, z, q[0]);
}

static void test_round_trip(void)
{
    enum { R = 5, C = 384 };
    float *x = malloc(sizeof(float) * R * C), *y = malloc(sizeof(float) * R * C);
    float *s = malloc(sizeof(float) * R * C);
    uint8_t *q = malloc(R * C), *z = malloc(R * C);
    uint32_t st = 99;
    for (int i = 0; i < R * C; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = ((float)(st >> 8) / 16777216.0f - 0.4f) * (float)(1 + i % 5);
    }
    int64_t groups[] = {-1, 1, 3, 32, 128, 384};
    for (int bits = 2; bits <= 8; bits++)
        for (int sym = 0; sym < 2; sym++)
            for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
                lb_intn_params p = {bits, groups[g], sym};
                int64_t ng = lb_intn_n_groups(&p, C);
                lb_intn_quantize(&p, x, R, C, q, s, z);
                lb_intn_dequantize(&p, q, s, z, R, C, y);
                int bad = 0;
                for (int i = 0; i < R * C; i++) {
                    int64_t gi = (i / C) * ng + (i % C) / (C / ng);
                    /* a sym group with no negative value keeps xmin = 0 and clamps (GPTQ) */
                    int64_t gs = C / ng, g0 = i - (i % C) % gs;
                    float gmin = 0.0f;
                    for (int64_t k = g0; k < g0 + gs; k++) gmin = fminf(gmin, x[k]);
                    if (sym && gmin == 0.0f) continue;
                    if (!(fabsf(y[i] - x[i]) <= s[gi] * 0.5f * 1.0001f) && bad++ < 3)
                        fprintf(stderr, "  bits %d sym %d g %lld [%d] x=%g y=%g scale=%g\n", bits, sym,
                                (long long)groups[g], i, x[i], y[i], s[gi]);
                }
                CHECKF(bad == 0, "round trip bits=%d sym=%d group=%lld: %d elements > scale/2", bits, sym,
                       (long long)groups[g], bad);
            }
    lb_intn_params badp = {4, 100, false};
    CHECK(lb_intn_n_groups(&badp, C) == -1);
    free(x), free(y), free(s), free(q), free(z);
}

int main(void)
{
    test_hand();
    test_round_trip();
    return lb_test_finish();
}
