/* F16 / BF16 weight-row dot products (src/kernels/dot_half.h): the AVX2 twins against the
 * reference on awkward lengths (around the 8- and 32-wide steps and their tails), from weight
 * rows 1-3 bytes off alignment, on random rows and on rows that are all zero, constant, or hold
 * one huge outlier. Only the summation order differs, so the bound is the classic one for
 * reordered f32 sums: |twin - ref| <= 2 n eps sum|w x| (plus a denormal floor). The reference
 * itself is checked against a double-precision sum of the exactly widened products. The
 * dispatcher must hand out one of the two. Skipped with a note without AVX2 + FMA + F16C. */
#include "core/dtype.h"
#include "kernels/dot_half.h"
#include "test_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static float uniform(uint64_t *s) { return (float)rng_next(s) / (float)(1ull << 31) * 2.0f - 1.0f; }

static uint16_t encode(lb_type t, float v) { return t == LB_TYPE_F16 ? lb_f32_to_f16(v) : lb_f32_to_bf16(v); }
static float decode(lb_type t, uint16_t c) { return t == LB_TYPE_F16 ? lb_f16_to_f32(c) : lb_bf16_to_f32(c); }

/* kind: 0 random, 1 zero, 2 constant, 3 one outlier */
static void check_case(lb_type t, lb_dot_half_fn ref, lb_dot_half_fn simd, int64_t n, int offset, int kind, uint64_t *rng)
{
    uint8_t *raw = malloc((size_t)(2 * n + 8));
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *w = raw + offset;
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = kind == 1 ? 0.0f : kind == 2 ? 0.375f : uniform(rng);
        if (kind == 3 && i == n / 2) v = 6.0e4f;
        uint16_t c = encode(t, v);
        memcpy(w + 2 * i, &c, 2);
        x[i] = uniform(rng);
        double p = (double)decode(t, c) * (double)x[i];
        exact += p;
        mag += fabs(p);
    }
    float r = ref(w, x, n), s = simd(w, x, n);
    double tol = 2.0 * (double)n * FLT_EPSILON * mag + 1e-30;
    CHECKF(fabs((double)r - exact) <= tol, "%s ref n=%lld off=%d kind=%d: %.9g vs exact %.9g (tol %.3g)",
           t == LB_TYPE_F16 ? "f16" : "bf16", (long long)n, offset, kind, r, exact, tol);
    CHECKF(fabs((double)s - (double)r) <= tol, "%s avx2 n=%lld off=%d kind=%d: %.9g vs ref %.9g (tol %.3g)",
           t == LB_TYPE_F16 ? "f16" : "bf16", (long long)n, offset, kind, s, r, tol);
    free(raw);
    free(x);
}

int main(void)
{
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) {
        printf("skipped: no AVX2 + FMA + F16C\n");
        return lb_test_finish();
    }
    static const int64_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 127, 129, 255, 257, 1023, 4099};
    uint64_t rng = 42;
    struct {
        lb_type t;
        lb_dot_half_fn ref, simd;
    } kinds[] = {{LB_TYPE_F16, lb_dot_f16_f32_ref, lb_dot_f16_f32_avx2},
                 {LB_TYPE_BF16, lb_dot_bf16_f32_ref, lb_dot_bf16_f32_avx2}};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int off = 0; off < 4; off++)
                for (int kind = 0; kind < 4; kind++) check_case(kinds[k].t, kinds[k].ref, kinds[k].simd, sizes[i], off, kind, &rng);
        lb_dot_half_fn d = lb_dot_half_of(kinds[k].t);
        CHECK(d == kinds[k].ref || d == kinds[k].simd);
    }
    CHECK(lb_dot_half_of(LB_TYPE_F32) == NULL && lb_dot_half_of(LB_TYPE_Q4_0) == NULL);
    return lb_test_finish();
}
