/* Rotation matrices and their application to weights (see rotate.h). */
#include "algo/rotate.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#define CHUNK 256 /* rows (or columns) converted to double at a time */

/* splitmix64 (Steele, Lea, Flood 2014), as the calibration windows use. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A standard normal draw (Box-Muller on two uniforms in (0, 1)). */
static double gaussian(uint64_t *s)
{
    double u1 = ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Sylvester's H_n (n = 2^k): H[i][j] = (-1)^popcount(i & j), scaled by 1/sqrt(n), columns
 * multiplied by random signs (the "randomized" Hadamard of QuaRot). */
static void hadamard(double *Q, int64_t n, uint64_t *s)
{
    double scale = 1.0 / sqrt((double)n);
    for (int64_t j = 0; j < n; j++) Q[j] = (splitmix64(s) & 1) ? -scale : scale; /* row 0 = the signs */
    for (int64_t i = n - 1; i >= 0; i--) /* row 0 last: it holds the signs until then */
        for (int64_t j = 0; j < n; j++)
            Q[i * n + j] = (__builtin_popcountll((unsigned long long)(i & j)) & 1) ? -Q[j] : Q[j];
}

/* Haar-random orthogonal: Q of the QR of a Gaussian matrix, each column's sign made that of
 * R's diagonal (Mezzadri 2007), so the distribution is uniform. */
static lb_status orthogonal(double *Q, int64_t n, uint64_t *s)
{
    for (int64_t i = 0; i < n * n; i++) Q[i] = gaussian(s);
    double *tau = lb_malloc((size_t)n * sizeof *tau, "rotation QR");
    double *diag = lb_malloc((size_t)n * sizeof *diag, "rotation QR");
    if (!tau || !diag) {
        free(tau);
        free(diag);
        return LB_ERR_NOMEM;
    }
    lapack_int N = (lapack_int)n;
    lb_status st = LB_OK;
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, N, N, Q, N, tau) != 0) {
        st = lb_fail(LB_ERR_NUMERIC, "rotation: QR of the %lld x %lld Gaussian matrix failed", (long long)n, (long long)n);
    } else {
        for (int64_t j = 0; j < n; j++) diag[j] = Q[j * n + j];
        if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, N, N, N, Q, N, tau) != 0)
            st = lb_fail(LB_ERR_NUMERIC, "rotation: forming Q of the QR failed");
        else
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++)
                    if (diag[j] < 0) Q[i * n + j] = -Q[i * n + j];
    }
    free(tau);
    free(diag);
    return st;
}

lb_status lb_rotation_make(lb_rotation_kind kind, int64_t n, uint64_t seed, double **Q, lb_rotation_kind *used)
{
    *Q = NULL;
    if (n < 1 || kind <= LB_ROTATE_NONE || kind >= LB_ROTATE_COUNT)
        return lb_fail(LB_ERR_ARG, "rotation: bad kind %d or size %lld", (int)kind, (long long)n);
    double *q = lb_malloc((size_t)(n * n) * sizeof *q, "rotation matrix");
    if (!q) return LB_ERR_NOMEM;
    uint64_t s = seed ^ 0x5eed0f0a7a7e5ull;
    bool pow2 = (n & (n - 1)) == 0;
    lb_status st = LB_OK;
    if (kind == LB_ROTATE_HADAMARD && pow2) {
        hadamard(q, n, &s);
        *used = LB_ROTATE_HADAMARD;
    } else {
        st = orthogonal(q, n, &s);
        *used = LB_ROTATE_ORTHOGONAL;
    }
    if (st) {
        free(q);
        return st;
    }
    *Q = q;
    return LB_OK;
}

lb_status lb_rotate_inputs(float *x, int64_t n_rows, int64_t n, const float *g, const double *Q)
{
    double *a = lb_malloc((size_t)(CHUNK * n) * sizeof *a, "rotation rows");
    double *b = lb_malloc((size_t)(CHUNK * n) * sizeof *b, "rotation rows");
    if (!a || !b) {
        free(a);
        free(b);
        return LB_ERR_NOMEM;
    }
    for (int64_t r0 = 0; r0 < n_rows; r0 += CHUNK) {
        int64_t nr = n_rows - r0 < CHUNK ? n_rows - r0 : CHUNK;
        for (int64_t r = 0; r < nr; r++)
            for (int64_t i = 0; i < n; i++) a[r * n + i] = (double)x[(r0 + r) * n + i] * (g ? (double)g[i] : 1.0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)n, (int)n, 1.0, a, (int)n, Q, (int)n, 0.0, b,
                    (int)n);
        for (int64_t i = 0; i < nr * n; i++) x[r0 * n + i] = (float)b[i];
    }
    free(a);
    free(b);
    return LB_OK;
}

lb_status lb_rotate_outputs(float *x, int64_t n, int64_t n_cols, const double *Q)
{
    double *a = lb_malloc((size_t)(CHUNK * n) * sizeof *a, "rotation columns");
    double *b = lb_malloc((size_t)(CHUNK * n) * sizeof *b, "rotation columns");
    if (!a || !b) {
        free(a);
        free(b);
        return LB_ERR_NOMEM;
    }
    for (int64_t c0 = 0; c0 < n_cols; c0 += CHUNK) {
        int64_t nc = n_cols - c0 < CHUNK ? n_cols - c0 : CHUNK;
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < nc; c++) a[i * nc + c] = (double)x[i * n_cols + c0 + c];
        /* b [n][nc] = Q^T a */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)nc, (int)n, 1.0, Q, (int)n, a, (int)nc, 0.0, b,
                    (int)nc);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < nc; c++) x[i * n_cols + c0 + c] = (float)b[i * nc + c];
    }
    free(a);
    free(b);
    return LB_OK;
}
