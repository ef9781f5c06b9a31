/* Reference dot-product kernels (src/kernels/ref) against llama.cpp, from the golden files of
 * tests/golden/make_vec_dot_golden.py:
 *  - activation quantizers Q8_0 / Q8_1 / Q8_K byte for byte equal to llama.cpp's
 *    quantize_row_q8_*_ref on random, tie, zero, tiny, outlier and f16-overflow rows;
 *  - every weight x activation pair on rows of 32 .. 11008 (whole blocks), weights quantized by
 *    llama.cpp: equal to the exact dot of the dequantized rows, to llama.cpp's scalar
 *    fallback (_generic) and to its SIMD vec_dot, within the float-summation bound below;
 *  - lb_matmul_q on awkward shapes equals a loop of vec_dot bit for bit, for 1 and 2 threads.
 *
 * Tolerance. Each kernel sums integer block dots exactly and then does k float operations in
 * sequence (per block: a scale product or two and one add; k-quants: 8 lanes, one add per
 * super-block each, then 8 adds), so the standard recursive-summation bound gives
 * |computed - true| <= (k + 2) u M, u = 2^-24, M = sum |w_i a_i| (for types with a minimum,
 * M counts the scale and minimum parts of each weight separately: cancellation between them
 * is where the rounding error lives). The dequantized weights carry up to 3 roundings each
 * (<= 3 u M more). k <= n/32 + 8 for every type, so tol = (n/32 + 8) * 2^-23 * M covers both
 * with room to spare, and any reordering of the same sum (llama.cpp's SIMD lanes, FMAs) obeys
 * the same bound. Q8_1 pairs use the block sum s stored in f16 rather than sum(d q): the
 * golden "corr" adds that difference exactly, so it is not charged to the tolerance. */
#include "kernels/ref/vec_dot.h"
#include "quant/types.h"
#include "test_util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

typedef struct act_row {
    char label[25];
    uint32_t n, flags;
    const float *x;
    const uint8_t *q8_0, *q8_1, *q8_k; /* llama.cpp's quantizations (q8_k NULL when n % 256) */
} act_row;

typedef struct acts {
    uint8_t *buf;
    uint32_t n_rows;
    act_row *rows;
} acts;

static bool acts_load(acts *a)
{
    memset(a, 0, sizeof *a);
    size_t len = 0;
    const char *path = lb_test_source("tests/golden/vec_dot/acts.bin");
    a->buf = (uint8_t *)lb_test_read_file(path, &len);
    if (!EXPECT(a->buf && len >= 128 && memcmp(a->buf, "LBVDACT1", 8) == 0,
                "%s unreadable (run tests/golden/make_vec_dot_golden.py)", path))
        return false;
    a->n_rows = rd32(a->buf + 8);
    a->rows = calloc(a->n_rows, sizeof *a->rows);
    uint64_t off = 128 + 32ull * a->n_rows;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        act_row *r = &a->rows[i];
        const uint8_t *rec = a->buf + 128 + 32 * i;
        memcpy(r->label, rec, 24);
        r->n = rd32(rec + 24);
        r->flags = rd32(rec + 28);
        const uint64_t nb32 = r->n / 32, nb256 = r->n % 256 ? 0 : r->n / 256;
        const uint64_t need = 4ull * r->n + 34 * nb32 + 36 * nb32 + 292 * nb256;
        if (!EXPECT(r->n % 32 == 0 && off + need <= len, "acts.bin row %u truncated", i)) return false;
        r->x = (const float *)(a->buf + off); /* 4-aligned: header, records and f32 rows keep it */
        r->q8_0 = a->buf + off + 4ull * r->n;
        r->q8_1 = r->q8_0 + 34 * nb32;
        r->q8_k = nb256 ? r->q8_1 + 36 * nb32 : NULL;
        off += need;
    }
    return EXPECT(off == len, "acts.bin: %llu bytes parsed of %zu", (unsigned long long)off, len);
}

static bool bytes_equal(const char *what, const uint8_t *got, const uint8_t *want, size_t n, size_t block)
{
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            printf("  %s: first difference at byte %zu (block %zu, offset %zu): got 0x%02x want 0x%02x\n", what, i,
                   i / block, i % block, got[i], want[i]);
            return false;
        }
    }
    return true;
}

// ---- activation quantizers ----

static void test_act_quant(const acts *a)
{
    int n_checked = 0;
    for (uint32_t i = 0; i < a->n_rows; i++) {
        const act_row *r = &a->rows[i];
        uint8_t *buf = malloc(40 * (r->n / 32) + 300); /* Q8_K: 292 per 256 > 36 per 32 */
        char what[64];
        snprintf(what, sizeof what, "Q8_0 %s", r->label);
        lb_quantize_row_q8_0_ref(r->x, buf, r->n);
        CHECKF(bytes_equal(what, buf, r->q8_0, 34 * (r->n / 32), 34), "%s", what);
        snprintf(what, sizeof what, "Q8_1 %s", r->label);
        lb_quantize_row_q8_1_ref(r->x, buf, r->n);
        CHECKF(bytes_equal(what, buf, r->q8_1, 36 * (r->n / 32), 36), "%s", what);
        n_checked += 2;
        if (r->q8_k) {
            snprintf(what, sizeof what, "Q8_K %s", r->label);
            lb_quantize_row_q8_k_ref(r->x, buf, r->n);
            CHECKF(bytes_equal(what, buf, r->q8_k, 292 * (r->n / 256), 292), "%s", what);
            n_checked++;
        }
        free(buf);
    }
    printf("activation quantizers: %d rows x types compared byte for byte with llama.cpp\n", n_checked);
}

// ---- vec_dot against llama.cpp ----

static const lb_type k_wtypes[] = {LB_TYPE_F32,  LB_TYPE_F16,  LB_TYPE_BF16, LB_TYPE_Q4_0,   LB_TYPE_Q4_1,
                                   LB_TYPE_Q5_0, LB_TYPE_Q5_1, LB_TYPE_Q8_0, LB_TYPE_Q2_K,   LB_TYPE_Q3_K,
                                   LB_TYPE_Q4_K, LB_TYPE_Q5_K, LB_TYPE_Q6_K, LB_TYPE_IQ4_NL, LB_TYPE_IQ4_XS};

static double tol_of(int64_t n, double mag) { return ((double)n / 32.0 + 8.0) * ldexp(1.0, -23) * mag; }

static void test_vec_dot_type(const acts *a, lb_type wt, const lb_dot_traits *dt, const char *kernels)
{
    const lb_type_traits *tt = lb_type_traits_of(wt);
    if (!EXPECT(tt && dt, "no dot traits for type %d", (int)wt)) return;
    char rel[128];
    snprintf(rel, sizeof rel, "tests/golden/vec_dot/%s.bin", tt->name);
    size_t len = 0;
    uint8_t *buf = (uint8_t *)lb_test_read_file(lb_test_source(rel), &len);
    if (!EXPECT(buf && len >= 128 && memcmp(buf, "LBVDGLD1", 8) == 0, "%s unreadable", rel)) {
        free(buf);
        return;
    }
    const uint32_t n_cases = rd32(buf + 16), generic_is_ggml = rd32(buf + 20);
    CHECKF(rd32(buf + 8) == (uint32_t)wt && rd32(buf + 12) == (uint32_t)dt->vec_dot_type,
           "%s: golden pairs %u with %u, lowbit with %d", tt->name, rd32(buf + 8), rd32(buf + 12),
           (int)dt->vec_dot_type);
    const lb_type_traits *at = lb_type_traits_of(dt->vec_dot_type);
    const uint8_t *w = buf + 128 + 40ull * n_cases;
    double worst_exact = 0, worst_generic = 0, worst_simd = 0;
    int same_generic = 0, generic_broken = 0;
    for (uint32_t c = 0; c < n_cases; c++) {
        const uint8_t *rec = buf + 128 + 40 * c;
        const uint32_t n = rd32(rec), ri = rd32(rec + 4);
        float generic, simd;
        double exact, corr, mag;
        memcpy(&generic, rec + 8, 4);
        memcpy(&simd, rec + 12, 4);
        memcpy(&exact, rec + 16, 8);
        memcpy(&corr, rec + 24, 8);
        memcpy(&mag, rec + 32, 8);
        uint64_t wbytes = 0, abytes = 0;
        if (!EXPECT(ri < a->n_rows && a->rows[ri].n == n && lb_type_nbytes(wt, n, &wbytes) &&
                        lb_type_nbytes(dt->vec_dot_type, n, &abytes) && (uint64_t)(w - buf) + wbytes <= len,
                    "%s case %u: bad record", tt->name, c))
            break;
        const act_row *r = &a->rows[ri];
        uint8_t *act = malloc(abytes + 8), *wmis = malloc(wbytes + 8), *amis = malloc(abytes + 8);
        dt->quantize_act(r->x, act, n);
        const uint8_t *want_act = dt->vec_dot_type == LB_TYPE_Q8_0   ? r->q8_0
                                  : dt->vec_dot_type == LB_TYPE_Q8_1 ? r->q8_1
                                  : dt->vec_dot_type == LB_TYPE_Q8_K ? r->q8_k
                                                                     : NULL;
        if (want_act)
            CHECKF(bytes_equal(at->name, act, want_act, abytes, at->type_size), "%s n=%u: activations", tt->name, n);
        float got = NAN;
        dt->vec_dot(n, &got, w, act);

        const double want = exact + corr, tol = tol_of(n, mag);
        const double d_exact = fabs((double)got - want), d_generic = fabs((double)got - generic),
                     d_simd = fabs((double)got - simd);
        CHECKF(d_exact <= tol, "%s n=%u: got %.9g, exact %.9g (+corr %.3g), diff %.3g > tol %.3g", tt->name, n, got,
               exact, corr, d_exact, tol);
        CHECKF(d_simd <= tol, "%s n=%u: got %.9g, llama.cpp SIMD %.9g, diff %.3g > tol %.3g", tt->name, n, got, simd,
               d_simd, tol);
        if (!generic_is_ggml) {
            /* F32/F16/BF16: a numpy transcription of vec.cpp's scalar loop, no FMA involved */
            CHECKF(memcmp(&got, &generic, 4) == 0, "%s n=%u: got %.9g, scalar transcription %.9g (must be bit-equal)",
                   tt->name, n, got, generic);
        } else if (fabs((double)generic - want) > tol) {
            generic_broken++; /* llama.cpp's own fallback misses the exact value: its bug, reported below */
        } else {
            CHECKF(d_generic <= tol, "%s n=%u: got %.9g, llama.cpp generic %.9g, diff %.3g > tol %.3g", tt->name, n,
                   got, generic, d_generic, tol);
        }
        same_generic += memcmp(&got, &generic, 4) == 0;
        if (mag > 0) {
            worst_exact = fmax(worst_exact, d_exact / mag);
            worst_simd = fmax(worst_simd, d_simd / mag);
            if (fabs((double)generic - want) <= tol) worst_generic = fmax(worst_generic, d_generic / mag);
        }
        /* rows at odd addresses give the same bits */
        memcpy(wmis + 1, w, wbytes);
        memcpy(amis + 3, act, abytes);
        float got_mis = NAN;
        dt->vec_dot(n, &got_mis, wmis + 1, amis + 3);
        CHECKF(memcmp(&got, &got_mis, 4) == 0, "%s n=%u: misaligned rows give %.9g, aligned %.9g", tt->name, n,
               got_mis, got);
        free(act);
        free(wmis);
        free(amis);
        w += wbytes;
    }
    printf("%-6s x %-4s %-8s %2u rows: max |d|/M vs exact %.2e, vs llama.cpp SIMD %.2e, vs %s %.2e; bit-equal to it %d/%u",
           tt->name, at->name, kernels, n_cases, worst_exact, worst_simd, generic_is_ggml ? "generic" : "scalar", worst_generic,
           same_generic, n_cases);
    if (generic_broken) printf("; llama.cpp's _generic itself off the exact value in %d rows (its bug)", generic_broken);
    printf("\n");
    free(buf);
}

// ---- matmul ----

/* Offsets of the f16 scale fields in a block (the rest of a random block is any bits). */
static void sane_scales(lb_type t, uint8_t *blk, uint64_t *rng)
{
    static const struct {
        lb_type t;
        int off[2];
    } k_offs[] = {{LB_TYPE_Q4_0, {0, -1}}, {LB_TYPE_Q4_1, {0, 2}},  {LB_TYPE_Q5_0, {0, -1}},   {LB_TYPE_Q5_1, {0, 2}},
                  {LB_TYPE_Q8_0, {0, -1}}, {LB_TYPE_Q2_K, {80, 82}}, {LB_TYPE_Q3_K, {108, -1}}, {LB_TYPE_Q4_K, {0, 2}},
                  {LB_TYPE_Q5_K, {0, 2}},  {LB_TYPE_Q6_K, {208, -1}}, {LB_TYPE_IQ4_NL, {0, -1}}, {LB_TYPE_IQ4_XS, {0, -1}}};
    for (size_t i = 0; i < sizeof k_offs / sizeof k_offs[0]; i++) {
        if (k_offs[i].t != t) continue;
        for (int k = 0; k < 2; k++) {
            if (k_offs[i].off[k] < 0) continue;
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            const uint16_t h = lb_f32_to_f16((float)((*rng >> 40) % 1000 + 1) * 1e-5f);
            memcpy(blk + k_offs[i].off[k], &h, 2);
        }
    }
}

static void fill_weights(lb_type t, uint8_t *wbuf, int64_t n_out, int64_t n_in, uint64_t *rng)
{
    const lb_type_traits *tt = lb_type_traits_of(t);
    const int64_t n_blocks = n_out * n_in / tt->block_size;
    if (tt->block_size == 1) { /* float types: small random values */
        for (int64_t i = 0; i < n_out * n_in; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            const float v = ((float)(*rng >> 40) / 16777216.0f - 0.5f) * 0.1f;
            if (t == LB_TYPE_F32) memcpy(wbuf + 4 * i, &v, 4);
            else {
                const uint16_t h = t == LB_TYPE_F16 ? lb_f32_to_f16(v) : lb_f32_to_bf16(v);
                memcpy(wbuf + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (int64_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = wbuf + b * (int64_t)tt->type_size;
        for (size_t j = 0; j < tt->type_size; j++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            blk[j] = (uint8_t)(*rng >> 56);
        }
        sane_scales(t, blk, rng);
    }
}

static void test_matmul(void)
{
    const int64_t rows_list[] = {1, 2, 3, 7, 17}, outs[] = {1, 3, 17, 129};
    uint64_t rng = 0x1234567;
    int n_shapes = 0;
    for (size_t ti = 0; ti < sizeof k_wtypes / sizeof k_wtypes[0]; ti++) {
        const lb_type wt = k_wtypes[ti];
        const lb_type_traits *tt = lb_type_traits_of(wt);
        const lb_dot_traits *dt = lb_dot_traits_of(wt);
        const int64_t bs = tt->block_size > 32 ? tt->block_size : 32;
        const int64_t ins[] = {bs, 3 * bs, (tt->block_size > 32 ? 11 : 43) * bs};
        for (size_t ii = 0; ii < 3; ii++) {
            const int64_t n_in = ins[ii];
            uint64_t wrow = 0, arow = 0;
            lb_type_nbytes(wt, n_in, &wrow);
            lb_type_nbytes(dt->vec_dot_type, n_in, &arow);
            uint8_t *W = malloc(wrow * 129);
            fill_weights(wt, W, 129, n_in, &rng);
            for (size_t ri = 0; ri < 5; ri++) {
                const int64_t n_rows = rows_list[ri];
                float *x = malloc(sizeof(float) * n_rows * n_in);
                for (int64_t i = 0; i < n_rows * n_in; i++) {
                    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                    x[i] = (float)((int64_t)(rng >> 40) - (1 << 23)) / (float)(1 << 22);
                }
                const size_t act_bytes = lb_matmul_act_bytes(wt, n_rows, n_in);
                CHECKF(act_bytes == arow * (uint64_t)n_rows, "%s act bytes %zu", tt->name, act_bytes);
                void *act = malloc(act_bytes), *act1 = malloc(arow);
                for (size_t oi = 0; oi < 4; oi++) {
                    const int64_t n_out = outs[oi];
                    float *y1 = malloc(sizeof(float) * n_rows * n_out), *y2 = malloc(sizeof(float) * n_rows * n_out),
                          *want = malloc(sizeof(float) * n_rows * n_out);
                    for (int64_t r = 0; r < n_rows; r++) {
                        dt->quantize_act(x + r * n_in, act1, n_in);
                        for (int64_t o = 0; o < n_out; o++) dt->vec_dot(n_in, &want[r * n_out + o], W + o * wrow, act1);
                    }
                    const lb_status s1 = lb_matmul_q_path(dt, wt, W, n_out, n_in, x, n_rows, y1, act, 1, LB_MATMUL_DOT);
                    const lb_status s2 = lb_matmul_q_path(dt, wt, W, n_out, n_in, x, n_rows, y2, act, 2, LB_MATMUL_DOT);
                    char what[96];
                    snprintf(what, sizeof what, "matmul %s n_rows=%lld n_out=%lld n_in=%lld", tt->name,
                             (long long)n_rows, (long long)n_out, (long long)n_in);
                    if (EXPECT(s1 == LB_OK && s2 == LB_OK, "%s: status %d %d", what, s1, s2)) {
                        CHECKF(lb_test_bits_equal(what, y1, want, n_rows * n_out), "%s: 1 thread vs vec_dot loop", what);
                        CHECKF(lb_test_bits_equal(what, y2, y1, n_rows * n_out), "%s: 2 threads vs 1", what);
                    }
                    n_shapes++;
                    free(y1);
                    free(y2);
                    free(want);
                }
                free(act);
                free(act1);
                free(x);
            }
            free(W);
        }
    }
    /* big enough to take the parallel path: 2 threads must still match 1 bit for bit */
    {
        const int64_t n_out = 301, n_in = 4096, n_rows = 3;
        uint64_t wrow = 0;
        lb_type_nbytes(LB_TYPE_Q4_K, n_in, &wrow);
        uint8_t *W = malloc(wrow * n_out);
        fill_weights(LB_TYPE_Q4_K, W, n_out, n_in, &rng);
        float *x = malloc(sizeof(float) * n_rows * n_in), *y1 = malloc(sizeof(float) * n_rows * n_out),
              *y2 = malloc(sizeof(float) * n_rows * n_out);
        for (int64_t i = 0; i < n_rows * n_in; i++) x[i] = sinf((float)i * 0.37f);
        void *act = malloc(lb_matmul_act_bytes(LB_TYPE_Q4_K, n_rows, n_in));
        CHECK(lb_matmul_q(LB_TYPE_Q4_K, W, n_out, n_in, x, n_rows, y1, act, 1) == LB_OK);
        CHECK(lb_matmul_q(LB_TYPE_Q4_K, W, n_out, n_in, x, n_rows, y2, act, 2) == LB_OK);
        CHECK(lb_test_bits_equal("matmul Q4_K 301x4096 x3, 2 threads vs 1", y2, y1, n_rows * n_out));
        free(W);
        free(x);
        free(y1);
        free(y2);
        free(act);
    }
    /* refused: a type without a kernel, a partial block */
    float y = 0, xv[256] = {0};
    uint8_t w[512] = {0}, act[512];
    CHECK(lb_dot_traits_of(LB_TYPE_Q8_K) == NULL && lb_dot_traits_of(LB_TYPE_I8) == NULL);
    CHECK(lb_matmul_q(LB_TYPE_Q8_K, w, 1, 256, xv, 1, &y, act, 1) == LB_ERR_UNSUPPORTED);
    CHECK(lb_matmul_q(LB_TYPE_Q4_0, w, 1, 48, xv, 1, &y, act, 1) == LB_ERR_ARG);
    CHECK(lb_matmul_q(LB_TYPE_Q4_K, w, 1, 128, xv, 1, &y, act, 1) == LB_ERR_ARG);
    CHECK(lb_matmul_act_bytes(LB_TYPE_Q4_K, 1, 100) == 0);
    printf("matmul: %d shapes, 1 and 2 threads bit-identical to a vec_dot loop\n", n_shapes);
}

/* Prompt batches (lb_matmul_path SGEMM): the same quantized activations and decoded weights
 * through sgemm must equal the integer dots up to float summation order, bounded per element by
 * n_in * 2^-22 * sum |w_i a_i| (a few f32 roundings per term, the sums taken differently);
 * 2 threads equal 1 bit for bit (fixed tiles); odd tile edges (n_out 1, 63, 65, 129). */
static void test_matmul_sgemm(void)
{
    const lb_type types[] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q5_0, LB_TYPE_Q8_0, LB_TYPE_Q4_K, LB_TYPE_Q6_K,
                             LB_TYPE_IQ4_XS, LB_TYPE_F16};
    const int64_t rows_list[] = {16, 17, 129}, outs[] = {1, 63, 65, 129};
    uint64_t rng = 0xfeed;
    /* As lb_model does for --threads 1: a 1-thread call outside our parallel region must not let
     * OpenBLAS split the tile over its own threads (different edge kernels, different bits). */
    openblas_set_num_threads(1);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const lb_type wt = types[ti];
        const lb_dot_traits *dt = lb_dot_traits_of(wt);
        const lb_type_traits *tt = lb_type_traits_of(wt);
        const int64_t n_in = 512;
        uint64_t wrow = 0, arow = 0;
        lb_type_nbytes(wt, n_in, &wrow);
        lb_type_nbytes(dt->vec_dot_type, n_in, &arow);
        uint8_t *W = malloc(wrow * 129);
        fill_weights(wt, W, 129, n_in, &rng);
        float *wf = malloc(sizeof(float) * 129 * n_in), *af = malloc(sizeof(float) * n_in);
        for (int64_t o = 0; o < 129; o++) tt->to_f32(W + o * wrow, wf + o * n_in, n_in);
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            const int64_t n_rows = rows_list[ri];
            float *x = malloc(sizeof(float) * n_rows * n_in);
            for (int64_t i = 0; i < n_rows * n_in; i++) x[i] = sinf((float)i * 0.731f) * (i % 97 == 0 ? 40.0f : 1.0f);
            uint8_t *act = malloc(arow * n_rows);
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                const int64_t n_out = outs[oi];
                float *yd = malloc(sizeof(float) * n_rows * n_out), *ys1 = malloc(sizeof(float) * n_rows * n_out),
                      *ys2 = malloc(sizeof(float) * n_rows * n_out);
                CHECK(lb_matmul_q_path(dt, wt, W, n_out, n_in, x, n_rows, yd, act, 1, LB_MATMUL_DOT) == LB_OK);
                CHECK(lb_matmul_q_path(dt, wt, W, n_out, n_in, x, n_rows, ys1, act, 1, LB_MATMUL_SGEMM) == LB_OK);
                CHECK(lb_matmul_q_path(dt, wt, W, n_out, n_in, x, n_rows, ys2, act, 2, LB_MATMUL_SGEMM) == LB_OK);
                char what[96];
                snprintf(what, sizeof what, "sgemm %s rows=%lld n_out=%lld", tt->name, (long long)n_rows,
                         (long long)n_out);
                CHECKF(lb_test_bits_equal(what, ys2, ys1, n_rows * n_out), "%s: 2 threads vs 1", what);
                int bad = 0;
                for (int64_t r = 0; r < n_rows; r++) {
                    lb_matmul_act_to_f32(dt->vec_dot_type, act + r * arow, af, n_in);
                    for (int64_t o = 0; o < n_out; o++) {
                        double mag = 0;
                        for (int64_t i = 0; i < n_in; i++) mag += fabs((double)wf[o * n_in + i] * af[i]);
                        double tol = (double)n_in * ldexp(1.0, -22) * mag + 1e-30;
                        if (fabs((double)ys1[r * n_out + o] - yd[r * n_out + o]) > tol && bad++ < 3)
                            printf("  %s [%lld][%lld]: sgemm %.9g dot %.9g (tol %.3g)\n", what, (long long)r,
                                   (long long)o, ys1[r * n_out + o], yd[r * n_out + o], tol);
                    }
                }
                CHECKF(bad == 0, "%s: %d elements beyond the summation-order bound", what, bad);
                free(yd);
                free(ys1);
                free(ys2);
            }
            free(act);
            free(x);
        }
        free(W);
        free(wf);
        free(af);
    }
}

int main(void)
{
    acts a;
    if (acts_load(&a)) {
        test_act_quant(&a);
        /* the reference kernels, then (when they differ) the ones lb_dot_traits_of picks here */
        for (size_t i = 0; i < sizeof k_wtypes / sizeof k_wtypes[0]; i++) {
            const lb_dot_traits *ref = lb_dot_traits_ref_of(k_wtypes[i]), *best = lb_dot_traits_of(k_wtypes[i]);
            test_vec_dot_type(&a, k_wtypes[i], ref, "ref");
            if (best && ref && best->vec_dot != ref->vec_dot) test_vec_dot_type(&a, k_wtypes[i], best, "selected");
        }
    }
    test_matmul();
    test_matmul_sgemm();
    free(a.rows);
    free(a.buf);
    return lb_test_finish();
}
