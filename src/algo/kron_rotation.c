/* R = D (H_p (x) Q_m) and its fast row transform (see kron_rotation.h). */
#include "algo/kron_rotation.h"
#include "algo/rotate.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define PAR_MIN_WORK 200000

/* splitmix64 (Steele, Lea, Flood 2014), for the signs. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void lb_kron_rotation_free(lb_kron_rotation *r)
{
    if (!r) return;
    free(r->q);
    free(r->sign);
    memset(r, 0, sizeof *r);
}

static int64_t pow2_part(int64_t n) { return n & -n; }

lb_status lb_kron_rotation_make(int64_t n, uint64_t seed, lb_kron_rotation *r)
{
    memset(r, 0, sizeof *r);
    if (n < 1) return lb_fail(LB_ERR_ARG, "online rotation of size %lld", (long long)n);
    r->n = n, r->p = pow2_part(n), r->m = n / r->p;
    double *Q = NULL;
    lb_rotation_kind used;
    /* seed + 1 for Q_m: the signs take seed itself */
    lb_status st = lb_rotation_make(LB_ROTATE_ORTHOGONAL, r->m, seed + 1, &Q, &used);
    if (st) return st;
    r->q = lb_malloc((size_t)(r->m * r->m) * sizeof *r->q, "online rotation");
    r->sign = lb_malloc((size_t)n * sizeof *r->sign, "online rotation signs");
    if (!r->q || !r->sign) {
        free(Q);
        lb_kron_rotation_free(r);
        return LB_ERR_NOMEM;
    }
    for (int64_t i = 0; i < r->m * r->m; i++) r->q[i] = (float)Q[i];
    free(Q);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) r->sign[i] = (splitmix64(&s) >> 63) ? -1.0f : 1.0f;
    return LB_OK;
}

lb_status lb_kron_rotation_from(int64_t n, int64_t m, const float *q, const float *sign, const char *what,
                                lb_kron_rotation *r)
{
    memset(r, 0, sizeof *r);
    if (m < 1 || n < 1 || n % m != 0 || (n / m & (n / m - 1)) != 0)
        return lb_fail(LB_ERR_FORMAT, "%s: online rotation factor m = %lld does not split n_ff = %lld into m x 2^k", what,
                       (long long)m, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (sign[i] != 1.0f && sign[i] != -1.0f)
            return lb_fail(LB_ERR_FORMAT, "%s: online rotation sign %lld is %g, not +-1", what, (long long)i, sign[i]);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < m; j++) {
            double d = 0;
            for (int64_t k = 0; k < m; k++) d += (double)q[k * m + i] * q[k * m + j];
            if (!(fabs(d - (i == j)) < 1e-4))
                return lb_fail(LB_ERR_FORMAT, "%s: online rotation Q_m is not orthogonal ((Q^T Q)[%lld][%lld] = %g)", what,
                               (long long)i, (long long)j, d);
        }
    r->n = n, r->m = m, r->p = n / m;
    r->q = lb_malloc((size_t)(m * m) * sizeof *r->q, "online rotation");
    r->sign = lb_malloc((size_t)n * sizeof *r->sign, "online rotation signs");
    if (!r->q || !r->sign) {
        lb_kron_rotation_free(r);
        return LB_ERR_NOMEM;
    }
    memcpy(r->q, q, (size_t)(m * m) * sizeof *q);
    memcpy(r->sign, sign, (size_t)n * sizeof *sign);
    return LB_OK;
}

void lb_kron_rotate_rows_ref(const lb_kron_rotation *r, float *restrict x, int64_t n_rows, float *restrict tmp)
{
    const int64_t n = r->n, p = r->p, m = r->m;
    const float norm = (float)(1.0 / sqrt((double)p));
    for (int64_t row = 0; row < n_rows; row++) {
        float *v = x + row * n;
        for (int64_t i = 0; i < n; i++) v[i] *= r->sign[i];
        /* each block of m: v[a, :] <- v[a, :] Q_m (accumulated in double; m = 1 too: Q_1 = +-1) */
        for (int64_t a = 0; a < p; a++) {
            float *blk = v + a * m;
            for (int64_t j = 0; j < m; j++) {
                double d = 0;
                for (int64_t b = 0; b < m; b++) d += (double)blk[b] * r->q[b * m + j];
                tmp[j] = (float)d;
            }
            memcpy(blk, tmp, (size_t)m * sizeof *blk);
        }
        /* Walsh-Hadamard over a for every b (Sylvester butterflies; H is symmetric, x H = H x) */
        for (int64_t h = 1; h < p; h *= 2)
            for (int64_t i = 0; i < p; i += 2 * h)
                for (int64_t j = i; j < i + h; j++) {
                    float *u = v + j * m, *w = v + (j + h) * m;
                    for (int64_t b = 0; b < m; b++) {
                        float s = u[b], t = w[b];
                        u[b] = s + t;
                        w[b] = s - t;
                    }
                }
        if (p > 1)
            for (int64_t i = 0; i < n; i++) v[i] *= norm;
    }
}

void lb_kron_rotate_rows(const lb_kron_rotation *r, float *x, int64_t n_rows, float *tmp, int n_threads)
{
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * r->n * (r->m + 8) >= PAR_MIN_WORK)
    for (int64_t row = 0; row < n_rows; row++)
        lb_kron_rotate_rows_ref(r, x + row * r->n, 1, tmp + (int64_t)omp_get_thread_num() * r->m);
}

void lb_kron_rotation_dense(const lb_kron_rotation *r, double *R)
{
    const int64_t n = r->n, m = r->m;
    const double norm = 1.0 / sqrt((double)r->p);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t a = i / m, b = i % m, a2 = j / m, b2 = j % m;
            double h = (__builtin_popcountll((uint64_t)(a & a2)) & 1) ? -norm : norm;
            R[i * n + j] = r->sign[i] * h * r->q[b * m + b2];
        }
}
