/* The online rotation of the down_proj input (QuaRot's R4, Ashkboos et al. 2024, section 4):
 * an orthogonal R [n_ff][n_ff] with ffn_down's weight stored as W R and the engine computing
 * x <- x R on every down input row, so x R (W R)^T = x W^T while x R has its outlier channels
 * spread over all of them (smaller activation kurtosis for 8-bit activations and GPTQ).
 *
 * n_ff is rarely a power of two (SmolLM2 1536 = 512 * 3, Llama 2 11008 = 256 * 43), so, as
 * QuaRot does with its Hadamard-of-size-m tables, R is a Kronecker product:
 *   R = D (H_p (x) Q_m),   n_ff = p * m, p = the largest power of two dividing n_ff,
 * H_p the normalized Walsh-Hadamard matrix (Sylvester order, entries +-1/sqrt(p)), Q_m a seeded
 * random orthogonal matrix (lb_rotation_make), D random signs. Index i = a * m + b
 * (a < p, b < m), so R[(a,b),(a',b')] = d_(a,b) H[a][a'] Q[b][b'], and x R costs one m x m
 * product per block of m plus a fast Walsh-Hadamard transform over a: O(n_ff (m + log p)). */
#ifndef LB_ALGO_KRON_ROTATION_H
#define LB_ALGO_KRON_ROTATION_H

#include "core/core.h"

typedef struct lb_kron_rotation {
    int64_t n, p, m; /* n = p * m */
    float *q;        /* [m][m] row-major, orthogonal */
    float *sign;     /* [n] +-1 */
} lb_kron_rotation;

/* Builds R for size n from seed (same seed, same R). Owned arrays: lb_kron_rotation_free. */
lb_status lb_kron_rotation_make(int64_t n, uint64_t seed, lb_kron_rotation *r);
/* Adopts stored parts (GGUF metadata): q [m][m] and sign [n] are copied; n must be p * m with p a
 * power of two, every sign +-1 and q orthogonal to 1e-4, else LB_ERR_FORMAT naming `what`. */
lb_status lb_kron_rotation_from(int64_t n, int64_t m, const float *q, const float *sign, const char *what,
                                lb_kron_rotation *r);
void lb_kron_rotation_free(lb_kron_rotation *r);

/* x [n_rows][n] <- x R, in place; tmp has room for m floats. The reference (spec). */
void lb_kron_rotate_rows_ref(const lb_kron_rotation *r, float *restrict x, int64_t n_rows, float *restrict tmp);
/* The same, rows split over n_threads (tmp: n_threads * m floats). Rows are independent, so the
 * result does not depend on the thread count. */
void lb_kron_rotate_rows(const lb_kron_rotation *r, float *x, int64_t n_rows, float *tmp, int n_threads);
/* R as a dense [n][n] matrix in double (tests, small n). */
void lb_kron_rotation_dense(const lb_kron_rotation *r, double *R);

#endif
