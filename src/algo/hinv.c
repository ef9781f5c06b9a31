/* GPTQ's inverse Hessian factor (see gptq.h): U upper triangular with U^T U = (H + lambda I)^-1,
 * the "Cholesky of the inverse" of Frantar et al. 2022 section 3 (step 3): the factor the
 * reference gptq.py gets from cholesky, cholesky_inverse, cholesky(upper), here from one LAPACK
 * dpotrf and one dtrtri on the reversed matrix (half the flops; see step_cholesky), lambda = damp * mean(diag H) (damp 0.01: the paper's 1%; mean |H_ii| for
 * the indefinite inputs the chain is for, 1 when the diagonal is all zero).
 *
 * When that fails (H indefinite or too ill-conditioned for its rounding), a chain of fallbacks,
 * each tried in order from p->first_method, the step that succeeded reported in rep->method:
 *   DAMPED   lambda x10 per try, up to damp_tries times (GPTQModel's damp_auto_increment);
 *   LDLT     the inverse of H + lambda_0 I by Bunch-Kaufman LDL^T (dsytrf/dsytri), by LU
 *            (dgetrf/dgetri) when LDL^T finds it exactly singular; accepted only if that
 *            inverse has a Cholesky factor (a non-PD H has a non-PD inverse: this catches
 *            PD matrices whose Cholesky pivots went negative by rounding);
 *   EIGEN    H + lambda_0 I = V diag(e) V^T (dsyevd), e clamped from below to lambda_0 (so the
 *            matrix is the nearest PSD one to H plus the paper's damping), and U = R from the QR
 *            of (V diag(e^-1/2))^T: (H')^-1 = C C^T = R^T R with no second Cholesky to fail, so
 *            U is always finite.
 *
 * Storage: H is symmetric and row-major, which is its own column-major transpose, so LAPACK is
 * called column-major (no LAPACKE transposition copies). The upper triangle (row-major) is the
 * source of truth and stays intact while the factorizations work in the lower one (column-major
 * 'U'), so every retry starts from the original H: the Cholesky steps need only n extra
 * doubles (the diagonal); LDLT holds a second n^2 copy, EIGEN dsyevd's 2 n^2 workspace. */
#include "algo/gptq.h"

#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define TILE 32

// ---- triangles ----

/* Work triangle (row-major lower, diagonal included) = upper triangle of H with the diagonal
 * d + lambda. */
static void load_work(double *H, const double *d, int64_t n, double lambda)
{
    for (int64_t i0 = 0; i0 < n; i0 += TILE)
        for (int64_t j0 = 0; j0 <= i0; j0 += TILE)
            for (int64_t i = i0; i < i0 + TILE && i < n; i++)
                for (int64_t j = j0; j < j0 + TILE && j < i; j++) H[i * n + j] = H[j * n + i];
    for (int64_t i = 0; i < n; i++) H[i * n + i] = d[i] + lambda;
}

/* The column-major 'U' factor sits transposed in the row-major lower triangle: move it to the
 * row-major upper triangle (U[i][j], i <= j) and zero the strict lower one. */
static void lower_to_upper(double *H, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += TILE)
        for (int64_t j0 = i0; j0 < n; j0 += TILE)
            for (int64_t i = i0; i < i0 + TILE && i < n; i++)
                for (int64_t j = j0 > i + 1 ? j0 : i + 1; j < j0 + TILE && j < n; j++) {
                    H[i * n + j] = H[j * n + i];
                    H[j * n + i] = 0.0;
                }
}

/* The factor still in the work triangle (row-major lower) is finite with a positive diagonal. */
static bool work_ok(const double *H, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(H[i * n + i] > 0.0) || !isfinite(H[i * n + i])) return false;
        for (int64_t j = 0; j < i; j++)
            if (!isfinite(H[i * n + j])) return false;
    }
    return true;
}

// ---- the steps ----

/* The lower triangle (row-major) mirrored about the anti-diagonal: M[i][j] <-> M[n-1-j][n-1-i],
 * which is J M J (J the reversal) for a symmetric or lower-triangular M's lower part. */
static void antitranspose_lower(double *H, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            int64_t a = n - 1 - j, b = n - 1 - i; /* its mirror, also in the lower triangle */
            if (a < i || (a == i && b <= j)) continue; /* each pair once */
            double t = H[i * n + j];
            H[i * n + j] = H[a * n + b];
            H[a * n + b] = t;
        }
}

/* H' = H + lambda I -> U, the upper Cholesky factor of H'^-1, in the work triangle. gptq.py
 * takes cholesky, cholesky_inverse, cholesky (4/3 n^3 flops); the same unique factor comes
 * from one factorization and one triangular inverse (2/3 n^3): with J the reversal and
 * J H' J = L L^T, H'^-1 = J L^-T L^-1 J = (J L^-1 J)^T (J L^-1 J), and J L^-1 J is upper
 * triangular with a positive diagonal. */
static bool step_cholesky(double *H, const double *d, int64_t n, double lambda)
{
    load_work(H, d, n, lambda);
    antitranspose_lower(H, n); /* J H' J */
    lapack_int N = (lapack_int)n;
    /* column-major 'U' on the row-major lower triangle: it then holds L, and after the
       inverse L^-1 */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', N, H, N) != 0) return false;
    if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', N, H, N) != 0) return false;
    antitranspose_lower(H, n); /* J L^-1 J, i.e. U^T, as the other steps leave it */
    return work_ok(H, n);
}

/* Inverse of H + lambda I by LDL^T (LU when singular), then its Cholesky in the work triangle. */
static lb_status step_ldlt(double *H, const double *d, int64_t n, double lambda, bool *ok)
{
    *ok = false;
    lapack_int N = (lapack_int)n;
    double *B = lb_malloc((size_t)n * (size_t)n * sizeof(double), "Hessian inverse (LDL^T)");
    lapack_int *ipiv = lb_malloc((size_t)n * sizeof(lapack_int), "Hessian pivots");
    if (!B || !ipiv) {
        free(B), free(ipiv);
        return LB_ERR_NOMEM;
    }
    load_work(H, d, n, lambda); /* full symmetric H + lambda I in B */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) B[i * n + j] = j <= i ? H[i * n + j] : H[j * n + i];
    bool have_inverse = false;
    lapack_int info = LAPACKE_dsytrf(LAPACK_COL_MAJOR, 'U', N, B, N, ipiv);
    if (info == 0 && LAPACKE_dsytri(LAPACK_COL_MAJOR, 'U', N, B, N, ipiv) == 0) {
        /* column-major upper = row-major lower */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= i; j++) H[i * n + j] = B[i * n + j];
        have_inverse = true;
    } else {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) B[i * n + j] = j <= i ? H[i * n + j] : H[j * n + i];
        if (LAPACKE_dgetrf(LAPACK_COL_MAJOR, N, N, B, N, ipiv) == 0 && LAPACKE_dgetri(LAPACK_COL_MAJOR, N, B, N, ipiv) == 0) {
            for (int64_t i = 0; i < n; i++) /* LU's inverse is symmetric only up to rounding */
                for (int64_t j = 0; j <= i; j++) H[i * n + j] = 0.5 * (B[i * n + j] + B[j * n + i]);
            have_inverse = true;
        }
    }
    free(B), free(ipiv);
    if (have_inverse) *ok = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', N, H, N) == 0 && work_ok(H, n);
    return LB_OK;
}

/* Eigen-clamp: U = R of QR((V diag(e^-1/2))^T), written to the row-major upper triangle. H is
 * consumed (the last step). When dsyevd does not converge (LAPACK info > 0), the diagonal of
 * H + lambda I alone: U = diag((max(d, 0) + lambda)^-1/2). */
static lb_status step_eigen(double *H, const double *d, int64_t n, double lambda)
{
    lapack_int N = (lapack_int)n;
    double *e = lb_malloc((size_t)n * sizeof(double), "Hessian eigenvalues");
    double *tau = lb_malloc((size_t)n * sizeof(double), "Hessian QR");
    if (!e || !tau) {
        free(e), free(tau);
        return LB_ERR_NOMEM;
    }
    load_work(H, d, n, lambda);
    bool ok = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', N, H, N, e) == 0;
    if (ok) {
        /* column j of V (column-major: H[j * n ...]) times (max(e_j, lambda))^-1/2 = column j
         * of C; then C^T, column-major, is C's storage transposed */
        for (int64_t j = 0; j < n; j++) {
            double s = 1.0 / sqrt(e[j] > lambda ? e[j] : lambda);
            for (int64_t i = 0; i < n; i++) H[j * n + i] *= s;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                double t = H[i * n + j];
                H[i * n + j] = H[j * n + i], H[j * n + i] = t;
            }
        ok = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, N, N, H, N, tau) == 0;
    }
    if (ok) {
        lower_to_upper(H, n); /* R(i,j), i <= j, sat at column-major H[i + j n] */
        for (int64_t i = 0; i < n && ok; i++) {
            double sign = H[i * n + i] < 0.0 ? -1.0 : 1.0; /* rows of R are unique up to sign */
            for (int64_t j = i; j < n; j++) H[i * n + j] *= sign;
            ok = H[i * n + i] > 0.0 && isfinite(H[i * n + i]);
            for (int64_t j = i + 1; j < n && ok; j++) ok = isfinite(H[i * n + j]);
        }
    }
    if (!ok) {
        memset(H, 0, (size_t)n * (size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) H[i * n + i] = 1.0 / sqrt((d[i] > 0.0 ? d[i] : 0.0) + lambda);
    }
    free(e), free(tau);
    return LB_OK;
}

// ---- the chain ----

lb_status lb_gptq_hinv(double *H, int64_t n, const lb_gptq_params *p, const char *name, lb_gptq_report *rep)
{
    static const lb_gptq_params defaults = {0};
    lb_gptq_report local;
    if (!p) p = &defaults;
    if (!rep) rep = &local;
    if (!name) name = "tensor";
    if (n <= 0 || n > INT_MAX) return lb_fail(LB_ERR_ARG, "%s: Hessian of size %lld", name, (long long)n);
    if (p->damp < 0.0 || !isfinite(p->damp) || (int)p->first_method < 0 || p->first_method > LB_HINV_EIGEN)
        return lb_fail(LB_ERR_ARG, "%s: GPTQ damping %g / first method %d", name, p->damp, (int)p->first_method);
    for (int64_t i = 0; i < n * n; i++)
        if (!isfinite(H[i]))
            return lb_fail(LB_ERR_NUMERIC, "%s: Hessian entry [%lld][%lld] is %g", name, (long long)(i / n),
                           (long long)(i % n), H[i]);

    double damp = p->damp > 0.0 ? p->damp : 0.01;
    int tries = p->damp_tries < 0 ? 0 : p->damp_tries == 0 ? 3 : p->damp_tries;
    double *d = lb_malloc((size_t)n * sizeof(double), "Hessian diagonal");
    if (!d) return LB_ERR_NOMEM;
    double scale = 0.0;
    for (int64_t i = 0; i < n; i++) d[i] = H[i * n + i], scale += fabs(d[i]);
    scale /= (double)n;
    if (!(scale > 0.0) || !isfinite(scale)) scale = 1.0; /* all-zero diagonal: damping of 1% of 1 */

    lb_status st = LB_OK;
    bool done = false;
    if (p->first_method <= LB_HINV_DAMPED) {
        int k = p->first_method == LB_HINV_CHOLESKY ? 0 : 1;
        for (double f = k == 0 ? 1.0 : 10.0; k <= tries && !done; k++, f *= 10.0) {
            done = step_cholesky(H, d, n, damp * f * scale);
            rep->method = k == 0 ? LB_HINV_CHOLESKY : LB_HINV_DAMPED;
            rep->damp = damp * f;
        }
    }
    if (!done && p->first_method <= LB_HINV_LDLT) {
        st = step_ldlt(H, d, n, damp * scale, &done);
        rep->method = LB_HINV_LDLT;
        rep->damp = damp;
    }
    if (done) {
        lower_to_upper(H, n);
    } else if (!st) {
        st = step_eigen(H, d, n, damp * scale);
        rep->method = LB_HINV_EIGEN;
        rep->damp = damp;
    }
    free(d);
    return st;
}
