/* AWQ and SmoothQuant scale formulas (src/algo/scales.c) against values computed by hand:
 * AWQ's duo-scaled candidate normalised so that max(s) * min(s) = 1, AutoAWQ's group-normalised
 * weight means, SmoothQuant's eq. 4 with its dead-channel guard, and folding (columns times s,
 * producer divided by s leaves W x unchanged). */
#include "algo/scales.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>

int main(void)
{
    /* x_mean {1, 4}, w_mean {1, 1}, a = 1/2: raw s = {1, 2} / (1 + 1e-4); normalised by
       sqrt(2) / (1 + 1e-4): {1/sqrt2, sqrt2} */
    float s[3];
    lb_awq_scales((const float[]){1, 4}, (const float[]){1, 1}, 2, 0.5, s);
    CHECKF(fabsf(s[0] - 0.70710678f) < 1e-6f && fabsf(s[1] - 1.41421356f) < 1e-6f, "AWQ a=0.5: %.8f %.8f", s[0], s[1]);
    /* a = 0: s = 1 / (w_mean + 1e-4): {1/1.0001, 1/0.5001}, normalised: product of the two ends 1 */
    lb_awq_scales((const float[]){3, 7}, (const float[]){1, 0.5f}, 2, 0.0, s);
    double want0 = sqrt(0.5001 / 1.0001);
    CHECKF(fabs(s[0] - want0) < 1e-6 && fabs((double)s[0] * s[1] - 1.0) < 1e-6, "AWQ a=0: %.8f %.8f (want %.8f)", s[0],
           s[1], want0);
    /* a dead channel (x_mean 0) is clamped to 1e-4 before normalising, never NaN */
    lb_awq_scales((const float[]){0, 1, 1}, (const float[]){1, 1, 1}, 3, 0.5, s);
    CHECKF(isfinite(s[0]) && s[0] > 0 && fabs((double)s[0] * s[1] - 1.0) < 1e-5, "AWQ dead channel: %g %g %g", s[0],
           s[1], s[2]);

    /* w_mean: |w| / max|w| of its group, summed over rows: W = [[1, -2], [4, 0]], one group of 2 */
    double acc[4] = {0};
    lb_awq_w_mean_add((const float[]){1, -2, 4, 0}, 2, 2, 2, acc);
    CHECKF(acc[0] == 1.5 && acc[1] == 1.0, "w_mean sums %g %g (want 1.5 1)", acc[0], acc[1]);
    /* groups of 2 in a row of 4: [[1, -2, 0, 8]] -> 0.5, 1, 0, 1; an all-zero group adds nothing */
    double acc4[4] = {0};
    lb_awq_w_mean_add((const float[]){1, -2, 0, 8}, 1, 4, 2, acc4);
    CHECKF(acc4[0] == 0.5 && acc4[1] == 1 && acc4[2] == 0 && acc4[3] == 1, "grouped w_mean %g %g %g %g", acc4[0],
           acc4[1], acc4[2], acc4[3]);

    /* SmoothQuant a = 1/2: sqrt(x_max / w_max) = {sqrt(4/1), sqrt(9/4)} = {2, 1.5}; x_max 0 -> 1 */
    lb_smooth_scales((const float[]){4, 9, 0}, (const float[]){1, 4, 2}, 3, 0.5, s);
    CHECKF(fabsf(s[0] - 2) < 1e-6f && fabsf(s[1] - 1.5f) < 1e-6f && s[2] == 1, "SmoothQuant: %g %g %g", s[0], s[1], s[2]);
    /* a = 0.8: 4^0.8 / 1^0.2 */
    lb_smooth_scales((const float[]){4}, (const float[]){1}, 1, 0.8, s);
    CHECKF(fabs(s[0] - pow(4, 0.8)) < 1e-5, "SmoothQuant a=0.8: %g", s[0]);

    /* folding: y = W (g * x) with norm weight g; after g /= s and W's columns *= s, y is the same */
    float W[6] = {0.5f, -1, 2, 3, 0.25f, -4}, g[3] = {1, 2, 0.5f}, x[3] = {0.3f, -0.7f, 1.1f}, y0[2], y1[2];
    for (int r = 0; r < 2; r++) {
        y0[r] = 0;
        for (int c = 0; c < 3; c++) y0[r] += W[r * 3 + c] * g[c] * x[c];
    }
    const float sc[3] = {4, 0.5f, 2}; /* powers of two: the fold is exact */
    lb_scale_cols(W, 2, 3, sc);
    lb_unscale_rows(g, 3, 1, sc);
    for (int r = 0; r < 2; r++) {
        y1[r] = 0;
        for (int c = 0; c < 3; c++) y1[r] += W[r * 3 + c] * g[c] * x[c];
    }
    CHECKF(y0[0] == y1[0] && y0[1] == y1[1], "folding keeps W x: %g %g vs %g %g", y0[0], y0[1], y1[0], y1[1]);
    CHECKF(W[0] == 2 && W[1] == -0.5f && g[0] == 0.25f && g[2] == 0.25f, "folded values: W %g %g, g %g %g", W[0], W[1],
           g[0], g[2]);
    return lb_test_finish();
}
