/* GPTQ's Hessian accumulation (src/calib/hessian.c) against a naive f64 triple loop, on awkward
 * sizes (n = 1, 7, 96, 129 columns; 1, 3, 513 rows: chunks of 256 with a remainder), added in
 * two batches onto a non-zero H, with and without caller scratch; the strict lower triangle is
 * left alone until lb_hessian_symmetrize copies the upper one into it. Each product of two
 * floats is exact in f64, so the only difference is summation order: tolerance 1e-12 relative
 * to sum |x_i x_j|. */
#include "calib/hessian.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng_state = 7;
static float frand(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 16777216.0f - 0.5f;
}

static void test_sizes(void)
{
    int ns[] = {1, 7, 96, 129}, rs[] = {1, 3, 513};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof rs / sizeof rs[0]; b++) {
            int n = ns[a], rows = rs[b];
            float *x = malloc(sizeof(float) * rows * n);
            for (int i = 0; i < rows * n; i++) x[i] = frand() * (i % n == 2 ? 50.0f : 1.0f); /* an outlier column */
            double *H = malloc(sizeof(double) * n * n), *want = malloc(sizeof(double) * n * n);
            double *mag = calloc((size_t)n * n, sizeof(double));
            for (int i = 0; i < n * n; i++) H[i] = want[i] = (i / n <= i % n) ? 0.25 * (i % 5) : -7.0; /* lower: sentinel */
            for (int i = 0; i < n; i++)
                for (int j = i; j < n; j++)
                    for (int t = 0; t < rows; t++) {
                        double p = (double)x[t * n + i] * (double)x[t * n + j];
                        want[i * n + j] += p;
                        mag[i * n + j] += fabs(p);
                    }
            /* two batches (the split at an odd row), internal scratch then caller scratch */
            int split = rows / 2;
            double *scratch = malloc(sizeof(double) * LB_HESSIAN_CHUNK * n);
            CHECK(lb_hessian_accumulate(H, x, split, n, NULL) == LB_OK);
            CHECK(lb_hessian_accumulate(H, x + (size_t)split * n, rows - split, n, scratch) == LB_OK);
            int bad = 0, lower = 0;
            double worst = 0.0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    if (j < i) {
                        lower += H[i * n + j] != -7.0;
                        continue;
                    }
                    double d = fabs(H[i * n + j] - want[i * n + j]), tol = 1e-12 * (mag[i * n + j] + 1.0);
                    worst = fmax(worst, d / (mag[i * n + j] + 1.0));
                    if (d > tol && bad++ < 3)
                        fprintf(stderr, "  n=%d rows=%d H[%d][%d] = %.17g want %.17g\n", n, rows, i, j, H[i * n + j],
                                want[i * n + j]);
                }
            CHECKF(bad == 0 && lower == 0, "n=%d rows=%d: %d entries off (worst rel %g), %d lower entries touched", n,
                   rows, bad, worst, lower);
            lb_hessian_symmetrize(H, n);
            int asym = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) asym += H[i * n + j] != H[j * n + i];
            CHECKF(asym == 0, "n=%d rows=%d: %d entries not symmetric", n, rows, asym);
            free(x), free(H), free(want), free(mag), free(scratch);
        }
}

static void test_edges(void)
{
    double H[4] = {1, 2, 3, 4};
    float x[2] = {1, 2};
    CHECK(lb_hessian_accumulate(H, x, 0, 2, NULL) == LB_OK && H[0] == 1 && H[3] == 4); /* no rows: no change */
    CHECK(lb_hessian_accumulate(H, x, -1, 2, NULL) == LB_ERR_ARG);
    CHECK(lb_hessian_accumulate(H, x, 1, 2, NULL) == LB_OK && H[0] == 2 && H[1] == 4 && H[2] == 3 && H[3] == 8);
}

int main(void)
{
    test_sizes();
    test_edges();
    return lb_test_finish();
}
