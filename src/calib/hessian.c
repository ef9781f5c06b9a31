/* GPTQ's Hessian accumulation (see hessian.h): H += X^T X with BLAS dsyrk on f64 copies of
 * LB_HESSIAN_CHUNK rows at a time. The rank-k update is O(n^2 k) against the O(n k) conversion,
 * so the copy costs nothing measurable; f32 dsyrk would lose GPTQ's small eigenvalues. Threads
 * are BLAS's own (openblas_set_num_threads). Not here: activation capture, other statistics. */
#include "calib/hessian.h"

#include <cblas.h>
#include <limits.h>

lb_status lb_hessian_accumulate(double *H, const float *x, int64_t rows, int64_t n, double *scratch)
{
    if (rows < 0 || n < 0 || n > INT_MAX)
        return lb_fail(LB_ERR_ARG, "hessian: bad shape [%lld][%lld]", (long long)rows, (long long)n);
    if (rows == 0 || n == 0) return LB_OK;
    double *buf = scratch ? scratch : lb_malloc((size_t)LB_HESSIAN_CHUNK * (size_t)n * sizeof(double), "hessian rows");
    if (!buf) return LB_ERR_NOMEM;
    for (int64_t r0 = 0; r0 < rows; r0 += LB_HESSIAN_CHUNK) {
        int64_t k = rows - r0 < LB_HESSIAN_CHUNK ? rows - r0 : LB_HESSIAN_CHUNK;
        const float *src = x + r0 * n;
        for (int64_t i = 0; i < k * n; i++) buf[i] = (double)src[i];
        /* row-major: C[n][n] (upper) += A^T A, A = buf[k][n] */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)k, 1.0, buf, (int)n, 1.0, H, (int)n);
    }
    if (!scratch) free(buf);
    return LB_OK;
}

void lb_hessian_symmetrize(double *H, int64_t n)
{
    enum { TILE = 32 }; /* tiles, so the column-wise writes stay in cache */
    for (int64_t i0 = 0; i0 < n; i0 += TILE)
        for (int64_t j0 = i0; j0 < n; j0 += TILE)
            for (int64_t i = i0; i < i0 + TILE && i < n; i++)
                for (int64_t j = j0 > i + 1 ? j0 : i + 1; j < j0 + TILE && j < n; j++) H[j * n + i] = H[i * n + j];
}
