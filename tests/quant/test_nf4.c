/* NF4 blockwise quantization (src/quant/nf4.c): the table against bitsandbytes' constants and
 * the encoder against nearest-value search, a hand-computed block (codes, nibble order,
 * dequantized values), a round-trip bound over random blocks, and double quantization of the
 * absmax values reconstructing within half a dynamic-map step. */
#include "quant/nf4.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

static void test_table(void)
{
    CHECK(lb_nf4_table[0] == -1.0f && lb_nf4_table[7] == 0.0f && lb_nf4_table[15] == 1.0f);
    CHECK(lb_nf4_table[8] == 0.07958029955625534f && lb_nf4_table[1] == -0.6961928009986877f);
    CHECK(lb_nf4_dynamic_map[127] == 0.0f && lb_nf4_dynamic_map[255] == 1.0f);
    int bad = 0;
    for (int i = 1; i < 16; i++) bad += !(lb_nf4_table[i] > lb_nf4_table[i - 1]);
    for (int i = 1; i < 256; i++) bad += !(lb_nf4_dynamic_map[i] > lb_nf4_dynamic_map[i - 1]);
    CHECKF(bad == 0, "%d tables out of order", bad);
    /* the decision tree is nearest-value (midpoint pivots) on a fine sweep */
    bad = 0;
    for (int k = -20000; k <= 20000; k++) {
        float x = (float)k / 20000.0f;
        int best = 0;
        for (int c = 1; c < 16; c++)
            if (fabsf(x - lb_nf4_table[c]) < fabsf(x - lb_nf4_table[best])) best = c;
        uint8_t got = lb_nf4_encode(x);
        if (got != best && fabsf(fabsf(x - lb_nf4_table[got]) - fabsf(x - lb_nf4_table[best])) > 1e-7f && bad++ < 5)
            fprintf(stderr, "  nf4(%g) = %d, nearest %d\n", x, got, best);
    }
    CHECKF(bad == 0, "nf4 encode: %d values not nearest", bad);
    for (int c = 0; c < 16; c++) CHECKF(lb_nf4_encode(lb_nf4_table[c]) == c, "table value %d re-encodes", c);
}

static void test_hand_block(void)
{
    /* absmax 2: x / 2 = {1, -1, 0, 0.3, -0.3, 0.05, 0.2, ...}; nearest codes by hand:
     * 1->15, -1->0, 0->7, 0.3->11 (0.3379), -0.3->3? no: -0.2844 (code 4) vs -0.3949 (3): 4,
     * 0.05 -> 8 (0.0796 vs 0: midpoint 0.0398), 0.2 -> 9 (0.1609 vs 0.2461: midpoint 0.2035) */
    float x[8] = {2.0f, -2.0f, 0.0f, 0.6f, -0.6f, 0.1f, 0.4f, 0.0f};
    uint8_t want_codes[8] = {15, 0, 7, 11, 4, 8, 9, 7};
    uint8_t packed[4];
    float absmax, y[8];
    lb_nf4_quantize(x, 8, packed, &absmax);
    CHECKF(absmax == 2.0f, "absmax %g", absmax);
    for (int i = 0; i < 4; i++)
        CHECKF(packed[i] == (uint8_t)(want_codes[2 * i] << 4 | want_codes[2 * i + 1]), "byte %d = 0x%02x, want 0x%02x",
               i, packed[i], want_codes[2 * i] << 4 | want_codes[2 * i + 1]);
    lb_nf4_dequantize(packed, &absmax, 8, y);
    float want[8];
    for (int i = 0; i < 8; i++) want[i] = lb_nf4_table[want_codes[i]] * 2.0f;
    lb_test_bits_equal("hand block dequant", y, want, 8);
    /* all-zero block */
    float z[3] = {0, 0, 0}, zy[3];
    lb_nf4_quantize(z, 3, packed, &absmax);
    lb_nf4_dequantize(packed, &absmax, 3, zy);
    lb_test_bits_equal("zero block", zy, z, 3);
}

static void test_round_trip_and_dq(void)
{
    enum { N = 64 * 600 + 33 };
    int64_t nb = (N + 63) / 64;
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    float *am = malloc(sizeof(float) * nb), *am2r = malloc(sizeof(float) * nb);
    uint8_t *p = malloc((N + 1) / 2), *dq = malloc(nb);
    uint32_t st = 7;
    for (int i = 0; i < N; i++) {
        st = st * 1664525u + 1013904223u;
        x[i] = ((float)(st >> 8) / 16777216.0f - 0.5f) * (float)(1 + (i / 64) % 13);
    }
    lb_nf4_quantize(x, N, p, am);
    lb_nf4_dequantize(p, am, N, y);
    /* bound: half the widest gap of the table (-1 .. -0.6962) */
    float gap = 0.0f;
    for (int c = 1; c < 16; c++) gap = fmaxf(gap, lb_nf4_table[c] - lb_nf4_table[c - 1]);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float tol = am[i / 64] * gap / 2.0f * 1.0001f;
        if (!(fabsf(y[i] - x[i]) <= tol) && bad++ < 5) fprintf(stderr, "  [%d] x=%g y=%g\n", i, x[i], y[i]);
    }
    CHECKF(bad == 0, "nf4 round trip: %d elements past the half-gap bound", bad);

    float am2[(600 / 256) + 2], offset;
    lb_nf4_dq_quantize(am, nb, dq, am2, &offset);
    lb_nf4_dq_dequantize(dq, am2, offset, nb, am2r);
    bad = 0;
    for (int64_t i = 0; i < nb; i++) {
        /* half the gap between the map values around the code, scaled */
        int c = dq[i];
        float lo = c > 0 ? lb_nf4_dynamic_map[c] - lb_nf4_dynamic_map[c - 1] : 0.0f;
        float hi = c < 255 ? lb_nf4_dynamic_map[c + 1] - lb_nf4_dynamic_map[c] : 0.0f;
        float tol = fmaxf(lo, hi) / 2.0f * am2[i / 256] * 1.001f + 1e-6f;
        if (!(fabsf(am2r[i] - am[i]) <= tol) && bad++ < 5)
            fprintf(stderr, "  absmax[%lld] %g -> %g (tol %g)\n", (long long)i, am[i], am2r[i], tol);
    }
    CHECKF(bad == 0, "double quant: %d absmax values past half a step", bad);
    free(x), free(y), free(am), free(am2r), free(p), free(dq);
}

int main(void)
{
    test_table();
    test_hand_block();
    test_round_trip_and_dq();
    return lb_test_finish();
}
