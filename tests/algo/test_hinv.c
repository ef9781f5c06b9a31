/* GPTQ's inverse Hessian factor (src/algo/hinv.c) and its fallback chain. Each step is run on
 * its own through first_method on a positive definite H, and the chain is driven to each step
 * by Hessians that need it:
 *   CHOLESKY  PD, and the singular-but-PSD ones GPTQ meets (fewer tokens than columns,
 *             duplicate columns, zero columns): 1% damping makes them PD;
 *   DAMPED    an indefinite H whose negative eigenvalue is -2x the mean diagonal: Cholesky fails
 *             at 1%, 10% and 100% and succeeds at 1000%;
 *   EIGEN     an indefinite H beyond any damping tried; the same mild H with damping growth
 *             switched off (LDL^T's inverse of a non-PD matrix is not PD either, so LDLT
 *             refuses it); H + lambda I exactly singular (LDL^T and LU both find a zero pivot).
 * Checks: U upper triangular (lower triangle zero), finite, positive diagonal; where the step
 * should reproduce (H + lambda I)^-1, U^T U (H + lambda I) = I to 1e-9 (computed here, not by
 * LAPACK); for EIGEN on an indefinite H built as V diag(e) V^T with V a known Householder
 * reflection, U^T U = V diag(1 / max(e + lambda, lambda)) V^T; NaN/Inf refused naming the
 * tensor. */
#include "algo/gptq.h"
#include "calib/hessian.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 5;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()); }

/* hinv's damping unit: mean |H_ii|, or 1 when that is 0 */
static double mean_diag(const double *H, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += fabs(H[i * n + i]);
    return s > 0.0 ? s / n : 1.0;
}

/* U upper, finite, positive diagonal */
static bool factor_shape_ok(const char *what, const double *U, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double u = U[i * n + j];
            bool ok = isfinite(u) && (j > i || (j == i ? u > 0.0 : u == 0.0));
            if (!ok && bad++ < 3) fprintf(stderr, "  %s: U[%d][%d] = %g\n", what, i, j, u);
        }
    return EXPECT(bad == 0, "%s: %d entries of U break upper/finite/positive diagonal", what, bad);
}

/* max |U^T U A - I| for A = H + lambda I */
static double inverse_residual(const double *U, const double *H, int n, double lambda)
{
    double *M = calloc((size_t)n * n, sizeof(double)), worst = 0.0;
    for (int i = 0; i < n; i++) /* M = U^T U */
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k <= (i < j ? i : j); k++) s += U[k * n + i] * U[k * n + j];
            M[i * n + j] = s;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < n; k++) s += M[i * n + k] * (H[k * n + j] + (k == j ? lambda : 0.0));
            double r = fabs(s - (i == j ? 1.0 : 0.0));
            if (r > worst) worst = r;
        }
    free(M);
    return worst;
}

/* Runs lb_gptq_hinv on a copy of H and checks method, damping and (when want_inverse) that U^T U
 * is the inverse of H + damp * mean|diag| I. */
static void run(const char *what, const double *H, int n, lb_gptq_params p, lb_hinv_method want, double want_damp,
                bool want_inverse)
{
    double *U = malloc(sizeof(double) * n * n);
    memcpy(U, H, sizeof(double) * n * n);
    lb_gptq_report rep = {0};
    lb_status st = lb_gptq_hinv(U, n, &p, what, &rep);
    CHECKF(st == LB_OK, "%s: status %d %s", what, st, lb_errmsg());
    CHECKF(rep.method == want && fabs(rep.damp - want_damp) <= 1e-12 * want_damp,
           "%s: method %d damp %g, want %d %g", what, rep.method, rep.damp, want, want_damp);
    factor_shape_ok(what, U, n);
    double res = want_inverse ? inverse_residual(U, H, n, rep.damp * mean_diag(H, n)) : 0.0;
    printf("  %-34s n=%3d method %d damp %-6g |U^T U (H + damp) - I| %.2g\n", what, n, rep.method, rep.damp, res);
    CHECKF(res <= 1e-9, "%s: residual %g", what, res);
    free(U);
}

/* X^T X for n_tokens random rows, columns mixed so they correlate */
static double *gram(int n_tokens, int n)
{
    float *x = malloc(sizeof(float) * n_tokens * n);
    for (int t = 0; t < n_tokens; t++) {
        double prev = 0.0;
        for (int j = 0; j < n; j++) x[t * n + j] = (float)(prev = 0.6 * prev + nrand());
    }
    double *H = calloc((size_t)n * n, sizeof(double));
    lb_hessian_accumulate(H, x, n_tokens, n, NULL);
    lb_hessian_symmetrize(H, n);
    free(x);
    return H;
}

static void test_steps_on_pd(void)
{
    enum { N = 60 };
    double *H = gram(400, N);
    run("PD, Cholesky", H, N, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    run("PD, first DAMPED", H, N, (lb_gptq_params){.first_method = LB_HINV_DAMPED}, LB_HINV_DAMPED, 0.1, true);
    run("PD, first LDLT", H, N, (lb_gptq_params){.first_method = LB_HINV_LDLT}, LB_HINV_LDLT, 0.01, true);
    run("PD, first EIGEN", H, N, (lb_gptq_params){.first_method = LB_HINV_EIGEN}, LB_HINV_EIGEN, 0.01, true);
    run("PD, damp 0.05", H, N, (lb_gptq_params){.damp = 0.05}, LB_HINV_CHOLESKY, 0.05, true);
    double one = 4.0;
    run("n = 1", &one, 1, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    free(H);
}

static void test_singular_psd(void)
{
    enum { N = 96 };
    double *H = gram(40, N); /* 40 tokens, 96 columns: rank 40 */
    run("fewer tokens than columns", H, N, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    run("  same, first LDLT", H, N, (lb_gptq_params){.first_method = LB_HINV_LDLT}, LB_HINV_LDLT, 0.01, true);
    run("  same, first EIGEN", H, N, (lb_gptq_params){.first_method = LB_HINV_EIGEN}, LB_HINV_EIGEN, 0.01, true);
    free(H);
    /* duplicate columns: column j = column j % 12 */
    float *x = malloc(sizeof(float) * 200 * N);
    for (int t = 0; t < 200; t++)
        for (int j = 0; j < N; j++) x[t * N + j] = j < 12 ? (float)nrand() : x[t * N + j % 12];
    H = calloc((size_t)N * N, sizeof(double));
    lb_hessian_accumulate(H, x, 200, N, NULL);
    lb_hessian_symmetrize(H, N);
    run("duplicate columns (rank 12)", H, N, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    /* zero columns (not turned into dead ones: hinv sees them raw) */
    for (int t = 0; t < 200; t++)
        for (int j = 0; j < N; j++) x[t * N + j] = j % 5 == 0 ? 0.0f : (float)nrand();
    memset(H, 0, sizeof(double) * N * N);
    lb_hessian_accumulate(H, x, 200, N, NULL);
    lb_hessian_symmetrize(H, N);
    run("zero columns", H, N, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    memset(H, 0, sizeof(double) * N * N);
    run("all zero", H, N, (lb_gptq_params){0}, LB_HINV_CHOLESKY, 0.01, true);
    free(H), free(x);
}

/* H = I - (3/n) 1 1^T: eigenvalues 1 (n-1 times) and -2; mean diagonal ~0.95 */
static double *mild_indefinite(int n)
{
    double *H = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) H[i * n + j] = (i == j ? 1.0 : 0.0) - 3.0 / n;
    return H;
}

/* H = V diag(e) V^T with V rotations by 45 degrees of the column pairs (i, i + n/2) and the
 * pair's eigenvalues (m + delta_i, -m): H's diagonal is delta_i / 2, small, while -m = -100 is
 * far below anything 10 x mean|diag| of damping reaches. *want = V diag(1 / max(e + lambda,
 * lambda)) V^T for lambda = 0.01 mean|diag H|. */
static double *indefinite(int n, double **want)
{
    int h = n / 2;
    double *e = malloc(sizeof(double) * n), *V = calloc((size_t)n * n, sizeof(double));
    double *H = calloc((size_t)n * n, sizeof(double)), c = sqrt(0.5);
    *want = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < h; i++) {
        e[i] = 100.0 + 1.0 + i % 5, e[i + h] = -100.0;
        V[i * n + i] = c, V[i * n + i + h] = -c, V[(i + h) * n + i] = c, V[(i + h) * n + i + h] = c;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) H[i * n + j] += V[i * n + k] * e[k] * V[j * n + k];
    double lambda = 0.01 * mean_diag(H, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) {
                double ek = e[k] + lambda > lambda ? e[k] + lambda : lambda;
                (*want)[i * n + j] += V[i * n + k] * V[j * n + k] / ek;
            }
    free(e), free(V);
    return H;
}

static void test_indefinite(void)
{
    enum { N = 40 };
    double *H = mild_indefinite(N);
    run("indefinite (-2x mean diag)", H, N, (lb_gptq_params){0}, LB_HINV_DAMPED, 10.0, true);
    run("  same, damp_tries 2", H, N, (lb_gptq_params){.damp_tries = 2}, LB_HINV_EIGEN, 0.01, false);
    run("  same, no damping tries", H, N, (lb_gptq_params){.damp_tries = -1}, LB_HINV_EIGEN, 0.01, false);
    run("  same, first LDLT", H, N, (lb_gptq_params){.first_method = LB_HINV_LDLT}, LB_HINV_EIGEN, 0.01, false);
    free(H);

    double *want;
    H = indefinite(N, &want);
    run("indefinite beyond damping", H, N, (lb_gptq_params){0}, LB_HINV_EIGEN, 0.01, false);
    double *U = malloc(sizeof(double) * N * N);
    memcpy(U, H, sizeof(double) * N * N);
    lb_gptq_report rep;
    CHECK(lb_gptq_hinv(U, N, NULL, "indefinite", &rep) == LB_OK && rep.method == LB_HINV_EIGEN);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k <= (i < j ? i : j); k++) s += U[k * N + i] * U[k * N + j];
            worst = fmax(worst, fabs(s - want[i * N + j]));
            scale = fmax(scale, fabs(want[i * N + j]));
        }
    printf("  eigen-clamp: |U^T U - V diag(1/max(e+l, l)) V^T| %.2g (of %.2g)\n", worst, scale);
    CHECKF(worst <= 1e-10 * scale, "eigen-clamp inverse off by %g (scale %g)", worst, scale);
    free(H), free(want);

    /* H + lambda I exactly singular: diag(199, -1), mean|diag| 100, lambda 1 -> diag(200, 0) */
    double S[4] = {199.0, 0.0, 0.0, -1.0};
    run("H + damp singular, first LDLT", S, 2, (lb_gptq_params){.first_method = LB_HINV_LDLT}, LB_HINV_EIGEN, 0.01,
        false);
    memcpy(U, S, sizeof S);
    CHECK(lb_gptq_hinv(U, 2, &(lb_gptq_params){.first_method = LB_HINV_LDLT}, "s", &rep) == LB_OK);
    /* eigenvalues 200 and 0 -> clamped to 1: U = diag(200^-1/2, 1) */
    CHECKF(fabs(U[0] - 1.0 / sqrt(200.0)) < 1e-15 && U[1] == 0.0 && U[2] == 0.0 && fabs(U[3] - 1.0) < 1e-15,
           "singular: U = [%g %g; %g %g]", U[0], U[1], U[2], U[3]);
    free(U);
}

static void test_bad(void)
{
    double H[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    H[5] = INFINITY;
    lb_status st = lb_gptq_hinv(H, 3, NULL, "blk.0.attn_v.weight", NULL);
    CHECKF(st == LB_ERR_NUMERIC && strstr(lb_errmsg(), "blk.0.attn_v.weight"), "Inf: %d '%s'", st, lb_errmsg());
    H[5] = NAN;
    st = lb_gptq_hinv(H, 3, NULL, "blk.1.attn_k.weight", NULL);
    CHECKF(st == LB_ERR_NUMERIC && strstr(lb_errmsg(), "blk.1.attn_k.weight"), "NaN: %d '%s'", st, lb_errmsg());
    H[5] = 0.0;
    CHECK(lb_gptq_hinv(H, 3, &(lb_gptq_params){.damp = -1.0}, "x", NULL) == LB_ERR_ARG);
    CHECK(lb_gptq_hinv(H, 0, NULL, "x", NULL) == LB_ERR_ARG);
}

int main(void)
{
    test_steps_on_pd();
    test_singular_psd();
    test_indefinite();
    test_bad();
    return lb_test_finish();
}
