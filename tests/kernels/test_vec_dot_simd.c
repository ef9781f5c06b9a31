/* SIMD twins (src/kernels/x86) against their reference kernels (src/kernels/ref), through
 * lb_matmul_q_with: every kernel set this CPU runs, every weight type whose vec_dot the set
 * overrides (and at least the ones listed in k_expected: a twin missing from matmul.c's tables
 * fails), rows of n in {32, 64, 96, 256, 288, 512, 4096, 11008} (those that are whole blocks of
 * the type: the legacy 32-element types take all eight, the k-quants and IQ4_XS, 256-element
 * super-blocks, only 256, 512, 4096 and 11008), {1, 2, 3, 7, 17, 129} activation rows times
 * 9 weight rows, on random
 * activations and on rows that are all zero, constant, or hold one huge outlier; weights are
 * random blocks (every quant code, Q8_0's -128 included) with small f16 scales. Also: rows at
 * odd addresses give the same bits, 1 and 2 threads agree bit for bit, and the selected set
 * (lb_dot_traits_of) is the highest supported unless LOWBIT_FORCE_REF=1.
 *
 * Tolerance (as test_vec_dot.c derives it): both kernels sum the same exact integer block dots
 * and differ only in the order and fusing of the per-block float products and sums, so
 * |simd - ref| <= 2 * (n/32 + 8) * 2^-24 * M with M = sum_i (|w_i| + |o_i|) |a_i|: w_i the
 * dequantized weight, o_i its offset part (the weight with the block scale d zeroed: Q4_1's m,
 * Q4_K's -dmin*m; 0 for symmetric types), a_i the dequantized activation. We check
 * |simd - ref| <= (n/32 + 8) * 2^-22 * M (twice that, room for both sides' rounding). IQ4_XS
 * is the one twin that also moves a rounding: the reference rounds d (ls - 32) and its product
 * with each sub-block sum (3 roundings per 32 elements, still < 4 n/32), the twins keep ls - 32
 * in the exact integer sum. The twins do not equal the reference bit for bit: their 8 float
 * lanes hold other partial sums than ggml's generic lanes (ggml's own AVX2 kernels differ from
 * its generic ones the same way). A zero row has M = 0: both must give exactly 0. Kernels the
 * CPU lacks are skipped with a note. */
#include "kernels/ref/vec_dot.h"
#include "quant/blocks.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* byte offsets of a block's f16 scale d and of its second f16 field (m / dmin), -1 for none */
static void scale_offsets(lb_type t, int *d_off, int *m_off)
{
    *d_off = 0;
    *m_off = -1;
    if (t == LB_TYPE_Q4_1 || t == LB_TYPE_Q5_1 || t == LB_TYPE_Q4_K || t == LB_TYPE_Q5_K) *m_off = 2;
    if (t == LB_TYPE_Q2_K) *d_off = 80, *m_off = 82;
    if (t == LB_TYPE_Q3_K) *d_off = 108;
    if (t == LB_TYPE_Q6_K) *d_off = 208;
}

static void fill_weights(lb_type t, uint8_t *w, int64_t n_blocks, uint64_t *rng)
{
    const lb_type_traits *tt = lb_type_traits_of(t);
    int d_off, m_off;
    scale_offsets(t, &d_off, &m_off);
    for (int64_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = w + b * (int64_t)tt->type_size;
        for (size_t j = 0; j < tt->type_size; j++) blk[j] = (uint8_t)rng_next(rng);
        const int offs[2] = {d_off, m_off};
        for (int k = 0; k < 2; k++) {
            if (offs[k] < 0) continue;
            const float v = (float)(rng_next(rng) % 1000 + 1) * 1e-5f * (rng_next(rng) & 1 ? -1.0f : 1.0f);
            const uint16_t h = lb_f32_to_f16(v);
            memcpy(blk + offs[k], &h, 2);
        }
    }
}

enum { KIND_RANDOM, KIND_ZERO, KIND_CONST, KIND_OUTLIER, KIND_COUNT };
static const char *const k_kind_names[KIND_COUNT] = {"random", "zero", "constant", "outlier"};

static void fill_acts(int kind, float *x, int64_t n_rows, int64_t n, uint64_t *rng)
{
    for (int64_t i = 0; i < n_rows * n; i++) {
        const float r = (float)((int64_t)(rng_next(rng) % 2000001) - 1000000) * 1e-6f;
        x[i] = kind == KIND_ZERO ? 0.0f : kind == KIND_CONST ? 0.75f : kind == KIND_OUTLIER ? r * 1e-3f : r;
    }
    if (kind == KIND_OUTLIER)
        for (int64_t r = 0; r < n_rows; r++) x[r * n + (int64_t)(rng_next(rng) % (uint64_t)n)] = 3.0e4f;
}

/* One type, one kernel set, one n: all row counts and activation kinds. Returns the worst
 * |simd - ref| / (2^-22 (n/32 + 8) M) seen (<= 1 passes). */
static double check_shape(lb_type t, const lb_dot_traits *simd, const lb_dot_traits *ref, int64_t n, uint64_t *rng,
                          const char *set)
{
    const lb_type_traits *tt = lb_type_traits_of(t);
    const int64_t n_out = 9, rows_list[] = {1, 2, 3, 7, 17, 129};
    uint64_t wrow = 0, arow = 0;
    lb_type_nbytes(t, (uint64_t)n, &wrow);
    lb_type_nbytes(simd->vec_dot_type, (uint64_t)n, &arow);
    uint8_t *W = malloc(wrow * n_out), *W0 = malloc(wrow * n_out);
    fill_weights(t, W, n_out * n / tt->block_size, rng);
    /* the offset part: the same blocks with d = 0 */
    int d_off, m_off;
    scale_offsets(t, &d_off, &m_off);
    memcpy(W0, W, wrow * n_out);
    for (int64_t b = 0; b < n_out * n / tt->block_size; b++) memset(W0 + b * (int64_t)tt->type_size + d_off, 0, 2);
    float *wf = malloc(sizeof(float) * n_out * n), *w0f = malloc(sizeof(float) * n_out * n);
    for (int64_t o = 0; o < n_out; o++) {
        tt->to_f32(W + o * wrow, wf + o * n, n);
        if (m_off >= 0) tt->to_f32(W0 + o * wrow, w0f + o * n, n);
        else memset(w0f + o * n, 0, sizeof(float) * n);
    }
    double worst = 0;
    for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
        const int64_t n_rows = rows_list[ri];
        float *x = malloc(sizeof(float) * n_rows * n), *af = malloc(sizeof(float) * n);
        float *want = malloc(sizeof(float) * n_rows * n_out), *got = malloc(sizeof(float) * n_rows * n_out),
              *got2 = malloc(sizeof(float) * n_rows * n_out);
        uint8_t *act = malloc(arow * n_rows);
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            fill_acts(kind, x, n_rows, n, rng);
            const lb_status s0 = lb_matmul_q_path(ref, t, W, n_out, n, x, n_rows, want, act, 1, LB_MATMUL_DOT);
            const lb_status s1 = lb_matmul_q_path(simd, t, W, n_out, n, x, n_rows, got, act, 1, LB_MATMUL_DOT);
            const lb_status s2 = lb_matmul_q_path(simd, t, W, n_out, n, x, n_rows, got2, act, 2, LB_MATMUL_DOT);
            if (!EXPECT(s0 == LB_OK && s1 == LB_OK && s2 == LB_OK, "%s %s: status %d %d %d", set, tt->name, s0, s1, s2))
                continue;
            char what[128];
            snprintf(what, sizeof what, "%s %s n=%lld rows=%lld %s, 2 threads vs 1", set, tt->name, (long long)n,
                     (long long)n_rows, k_kind_names[kind]);
            CHECKF(lb_test_bits_equal(what, got2, got, n_rows * n_out), "%s", what);
            int n_bad = 0;
            for (int64_t r = 0; r < n_rows; r++) {
                lb_matmul_act_to_f32(simd->vec_dot_type, act + r * arow, af, n);
                for (int64_t o = 0; o < n_out; o++) {
                    double M = 0;
                    for (int64_t i = 0; i < n; i++)
                        M += (fabs((double)wf[o * n + i]) + fabs((double)w0f[o * n + i])) * fabs((double)af[i]);
                    const double tol = ((double)n / 32.0 + 8.0) * ldexp(1.0, -22) * M;
                    const double g = got[r * n_out + o], w = want[r * n_out + o], d = fabs(g - w);
                    if (tol > 0) worst = fmax(worst, d / tol);
                    if (!(d <= tol) && n_bad++ < 3)
                        printf("  %s %s n=%lld rows=%lld %s: y[%lld][%lld] simd %.9g ref %.9g diff %.3g > tol %.3g "
                               "(M %.3g)\n",
                               set, tt->name, (long long)n, (long long)n_rows, k_kind_names[kind], (long long)r,
                               (long long)o, g, w, d, tol, M);
                }
            }
            CHECKF(n_bad == 0, "%s %s n=%lld rows=%lld %s: %d outputs off the reference", set, tt->name, (long long)n,
                   (long long)n_rows, k_kind_names[kind], n_bad);
        }
        /* rows at odd addresses: same bits */
        {
            uint8_t *wm = malloc(wrow + 8), *am = malloc(arow + 8);
            memcpy(wm + 1, W, wrow);
            memcpy(am + 3, act, arow);
            float a1 = NAN, a2 = NAN;
            simd->vec_dot(n, &a1, W, act);
            simd->vec_dot(n, &a2, wm + 1, am + 3);
            CHECKF(memcmp(&a1, &a2, 4) == 0, "%s %s n=%lld: misaligned %.9g aligned %.9g", set, tt->name, (long long)n,
                   a2, a1);
            free(wm);
            free(am);
        }
        free(x);
        free(af);
        free(want);
        free(got);
        free(got2);
        free(act);
    }
    free(W);
    free(W0);
    free(wf);
    free(w0f);
    return worst;
}

/* The twins each set must have (matmul.c's k_twins_*); LB_TYPE_COUNT ends a list. */
static const lb_type k_expected[LB_KERNEL_ISA_COUNT][8] = {
    [LB_KERNEL_REF] = {LB_TYPE_COUNT},
    [LB_KERNEL_AVX2] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q8_0, LB_TYPE_Q4_K, LB_TYPE_Q5_K, LB_TYPE_Q6_K,
                        LB_TYPE_IQ4_XS, LB_TYPE_COUNT},
    [LB_KERNEL_AVX512] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q8_0, LB_TYPE_Q5_K, LB_TYPE_IQ4_XS, LB_TYPE_COUNT},
};

int main(void)
{
    static const int64_t k_ns[] = {32, 64, 96, 256, 288, 512, 4096, 11008};
    uint64_t rng = 0x5eed;
    int n_pairs = 0;
    for (int isa = LB_KERNEL_REF + 1; isa < LB_KERNEL_ISA_COUNT; isa++) {
        const char *set = lb_kernel_isa_name((lb_kernel_isa)isa);
        if (!lb_kernel_isa_supported((lb_kernel_isa)isa)) {
            printf("note: this CPU lacks %s: its kernels are not tested here\n", set);
            continue;
        }
        for (int e = 0; k_expected[isa][e] != LB_TYPE_COUNT; e++) {
            const lb_type t = k_expected[isa][e];
            CHECKF(lb_dot_traits_isa_of(t, (lb_kernel_isa)isa)->vec_dot !=
                       lb_dot_traits_isa_of(t, (lb_kernel_isa)(isa - 1))->vec_dot,
                   "%s has no %s twin of its own (matmul.c k_twins_%s)", set, lb_type_traits_of(t)->name, set);
        }
        for (int t = 0; t < LB_TYPE_COUNT; t++) {
            const lb_dot_traits *simd = lb_dot_traits_isa_of((lb_type)t, (lb_kernel_isa)isa);
            const lb_dot_traits *ref = lb_dot_traits_ref_of((lb_type)t);
            const lb_dot_traits *lower = lb_dot_traits_isa_of((lb_type)t, (lb_kernel_isa)(isa - 1));
            if (!simd || simd->vec_dot == lower->vec_dot) continue; /* not this set's own kernel */
            CHECK(simd->vec_dot_type == ref->vec_dot_type && simd->quantize_act == ref->quantize_act);
            const lb_type_traits *tt = lb_type_traits_of(t);
            double worst = 0;
            char ns[96] = "";
            for (size_t ni = 0; ni < sizeof k_ns / sizeof k_ns[0]; ni++)
                if (k_ns[ni] % tt->block_size == 0) {
                    worst = fmax(worst, check_shape((lb_type)t, simd, ref, k_ns[ni], &rng, set));
                    snprintf(ns + strlen(ns), sizeof ns - strlen(ns), "%s%lld", ns[0] ? "," : "", (long long)k_ns[ni]);
                }
            printf("%-6s %-6s vs ref: worst |simd - ref| / tol = %.3f (n = %s)\n", set, tt->name, worst, ns);
            n_pairs++;
        }
    }
    /* the selection: highest supported set, or ref when LOWBIT_FORCE_REF=1 (read at first use) */
    const char *force = getenv("LOWBIT_FORCE_REF");
    lb_kernel_isa want = LB_KERNEL_REF;
    if (!(force && strcmp(force, "1") == 0))
        for (int isa = LB_KERNEL_ISA_COUNT - 1; isa > LB_KERNEL_REF; isa--)
            if (lb_kernel_isa_supported((lb_kernel_isa)isa)) {
                want = (lb_kernel_isa)isa;
                break;
            }
    for (int t = 0; t < LB_TYPE_COUNT; t++)
        if (lb_dot_traits_of((lb_type)t))
            CHECKF(lb_dot_traits_of((lb_type)t) == lb_dot_traits_isa_of((lb_type)t, want),
                   "type %d: lb_dot_traits_of is not the %s set", t, lb_kernel_isa_name(want));
    printf("selected kernel set: %s; %d SIMD kernels checked against ref\n", lb_kernel_isa_name(want), n_pairs);
    return lb_test_finish();
}
