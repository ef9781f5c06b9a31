/* Quantizers (src/quant/quantize*.c) against llama.cpp: rows of many shapes quantized by
 * ggml_quantize_chunk without and with importance matrices (tests/golden/make_quant_golden.py,
 * oracle named in each file) must come out byte for byte the same; on a mismatch the first
 * differing block is printed with both byte strings and what they decode to. Also: NaN/Inf and
 * bad row lengths are refused before anything is written, an unaligned destination gives the
 * same bytes, and quantize -> dequantize of gaussian rows stays under a per-type error bound. */
#include "quant/quantize.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const lb_type k_types[] = {LB_TYPE_Q8_0, LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q5_0,
                                  LB_TYPE_Q5_1, LB_TYPE_Q4_K, LB_TYPE_Q6_K, LB_TYPE_Q5_K,
                                  LB_TYPE_Q3_K, LB_TYPE_Q2_K, LB_TYPE_IQ4_NL, LB_TYPE_IQ4_XS};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// ---- golden inputs ----

typedef struct row_set {
    char label[33];
    uint32_t n_rows, n_per_row;
    const float *rows, *imatrix[2]; /* [0] random positive, [1] with zeros */
} row_set;

typedef struct inputs {
    uint8_t *buf;
    uint32_t n_sets;
    row_set *sets;
} inputs;

static bool inputs_load(inputs *in)
{
    size_t len = 0;
    memset(in, 0, sizeof *in);
    in->buf = (uint8_t *)lb_test_read_file(lb_test_source("tests/golden/quant/inputs.bin"), &len);
    if (!EXPECT(in->buf && len >= 12 && memcmp(in->buf, "LBQIN001", 8) == 0,
                "tests/golden/quant/inputs.bin missing or bad (run tests/golden/make_quant_golden.py)"))
        return false;
    in->n_sets = rd32(in->buf + 8);
    in->sets = calloc(in->n_sets, sizeof *in->sets);
    size_t off = 12;
    for (uint32_t s = 0; s < in->n_sets; s++) {
        row_set *rs = &in->sets[s];
        if (!EXPECT(off + 40 <= len, "inputs.bin truncated at set %u", s)) return false;
        memcpy(rs->label, in->buf + off, 32);
        rs->n_rows = rd32(in->buf + off + 32);
        rs->n_per_row = rd32(in->buf + off + 36);
        off += 40;
        size_t need = 4 * ((size_t)rs->n_rows * rs->n_per_row + 2 * (size_t)rs->n_per_row);
        if (!EXPECT(off + need <= len && (off % 4) == 0, "inputs.bin: set %u overruns the file", s)) return false;
        rs->rows = (const float *)(in->buf + off); /* little-endian host, 4-aligned offset (checked) */
        rs->imatrix[0] = rs->rows + (size_t)rs->n_rows * rs->n_per_row;
        rs->imatrix[1] = rs->imatrix[0] + rs->n_per_row;
        off += need;
    }
    return EXPECT(off == len, "inputs.bin: %zu trailing bytes", len - off);
}

// ---- byte-exact comparison ----

static void print_block(const char *who, const lb_type_traits *tr, const uint8_t *blk)
{
    fprintf(stderr, "    %s bytes:", who);
    for (size_t k = 0; k < tr->type_size; k++) fprintf(stderr, "%s%02x", k % 32 == 0 ? "\n      " : " ", blk[k]);
    float v[256];
    tr->to_f32(blk, v, tr->block_size);
    fprintf(stderr, "\n    %s decoded:", who);
    for (int64_t k = 0; k < tr->block_size; k++) fprintf(stderr, "%s%.6g", k % 8 == 0 ? "\n      " : " ", v[k]);
    fprintf(stderr, "\n");
}

/* One (type, set, imatrix variant): our bytes against llama.cpp's. */
static void compare_case(lb_type t, const row_set *rs, int variant, const uint8_t *want, size_t nbytes)
{
    static const char *vname[] = {"no imatrix", "imatrix", "imatrix with zeros"};
    const lb_type_traits *tr = lb_type_traits_of(t);
    uint8_t *got = malloc(nbytes + 1);
    memset(got, 0xa5, nbytes);
    const float *im = variant ? rs->imatrix[variant - 1] : NULL;
    lb_status st = lb_quantize_rows(t, rs->rows, got, rs->n_rows, rs->n_per_row, im, rs->label);
    size_t first = nbytes;
    for (size_t k = 0; k < nbytes; k++) {
        if (got[k] != want[k]) {
            first = k;
            break;
        }
    }
    bool ok = st == LB_OK && first == nbytes;
    if (!ok) {
        size_t blk = first / tr->type_size, per_row = rs->n_per_row / (size_t)tr->block_size;
        size_t n_bad = 0;
        for (size_t b = 0; b < nbytes / tr->type_size; b++)
            n_bad += memcmp(got + b * tr->type_size, want + b * tr->type_size, tr->type_size) != 0;
        fprintf(stderr, "  %s %s (%s): status %d; %zu of %zu blocks differ, first: block %zu (row %zu, block %zu "
                        "of the row), byte %zu\n",
                tr->name, rs->label, vname[variant], (int)st, n_bad, nbytes / tr->type_size, blk, blk / per_row,
                blk % per_row, first % tr->type_size);
        if (first < nbytes) {
            print_block("ours", tr, got + blk * tr->type_size);
            print_block("llama.cpp", tr, want + blk * tr->type_size);
            const float *x = rs->rows + blk * tr->block_size;
            fprintf(stderr, "    input:");
            for (int64_t k = 0; k < tr->block_size; k++) fprintf(stderr, "%s%.6g", k % 8 == 0 ? "\n      " : " ", x[k]);
            fprintf(stderr, "\n");
        }
    }
    CHECKF(ok, "%s %s (%s) must equal llama.cpp's bytes", tr->name, rs->label, vname[variant]);
    free(got);
}

static void test_golden(const inputs *in, lb_type t)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    if (!EXPECT(lb_quantizer_of(t) != NULL, "%s: no quantizer", tr->name)) return;
    char rel[128];
    snprintf(rel, sizeof rel, "tests/golden/quant/%s.bin", tr->name);
    size_t len = 0;
    uint8_t *buf = (uint8_t *)lb_test_read_file(lb_test_source(rel), &len);
    if (!EXPECT(buf && len >= 128 && memcmp(buf, "LBQGLD01", 8) == 0 && rd32(buf + 8) == (uint32_t)t &&
                    rd32(buf + 12) == in->n_sets,
                "%s missing or does not match inputs.bin", rel)) {
        free(buf);
        return;
    }
    size_t off = 128; /* magic, type, n_sets, name[16], oracle[96] */
    int n_cases = 0;
    for (uint32_t s = 0; s < in->n_sets; s++) {
        for (int v = 0; v < 3; v++) {
            if (!EXPECT(off + 4 <= len, "%s truncated", rel)) goto done;
            uint32_t nb = rd32(buf + off);
            off += 4;
            if (nb == 0) continue; /* a row length this type cannot take */
            const row_set *rs = &in->sets[s];
            size_t want_nb = (size_t)rs->n_rows * (rs->n_per_row / (size_t)tr->block_size) * tr->type_size;
            if (!EXPECT(off + nb <= len && nb == want_nb, "%s: set %s has %u bytes, want %zu", rel, rs->label, nb,
                        want_nb))
                goto done;
            compare_case(t, rs, v, buf + off, nb);
            off += nb;
            n_cases++;
        }
    }
    CHECKF(off == len && n_cases >= 30, "%s: %d cases, %zu of %zu bytes read", rel, n_cases, off, len);
    if (getenv("LOWBIT_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %d golden cases, oracle: %.96s\n", tr->name, n_cases, (const char *)buf + 32);
done:
    free(buf);
}

// ---- refusals ----

static void test_refusals(void)
{
    enum { N = 256 };
    float x[2 * N], im[N];
    for (int i = 0; i < 2 * N; i++) x[i] = sinf((float)i);
    for (int i = 0; i < N; i++) im[i] = 1.0f;
    uint8_t out[2 * 210 + 16];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        lb_type t = k_types[ti];
        const char *name = lb_type_traits_of(t)->name;
        const float bad[] = {NAN, INFINITY, -INFINITY};
        for (int b = 0; b < 3; b++) {
            float xs[2 * N];
            memcpy(xs, x, sizeof xs);
            xs[N + 5] = bad[b];
            memset(out, 0x5a, sizeof out);
            lb_status st = lb_quantize_rows(t, xs, out, 2, N, NULL, "blk.0.ffn_up.weight");
            const char *msg = lb_errmsg();
            CHECKF(st == LB_ERR_NUMERIC && strstr(msg, "blk.0.ffn_up.weight") && strstr(msg, "row 1 column 5"),
                   "%s: %g at row 1 column 5: status %d, message '%s'", name, bad[b], (int)st, msg);
            bool untouched = true;
            for (size_t k = 0; k < sizeof out; k++) untouched &= out[k] == 0x5a;
            CHECKF(untouched, "%s: refused input must leave the output untouched", name);
        }
        float ims[N];
        memcpy(ims, im, sizeof ims);
        ims[17] = NAN;
        lb_status st = lb_quantize_rows(t, x, out, 2, N, ims, "w");
        CHECKF(st == LB_ERR_NUMERIC && strstr(lb_errmsg(), "imatrix column 17"), "%s: NaN imatrix: %d '%s'", name,
               (int)st, lb_errmsg());
        int64_t bs = lb_type_traits_of(t)->block_size;
        st = lb_quantize_rows(t, x, out, 1, bs + 16, NULL, "w");
        CHECKF(st == LB_ERR_ARG, "%s: a row of %lld elements must be refused (status %d)", name, (long long)(bs + 16),
               (int)st);
        CHECKF(lb_quantize_rows(t, x, out, 0, N, NULL, "w") == LB_OK, "%s: zero rows is a no-op", name);
    }
    CHECK(lb_quantizer_of(LB_TYPE_F32) == NULL && lb_quantizer_of(LB_TYPE_Q8_K) == NULL);
    CHECK(lb_quantizer_of((lb_type)-1) == NULL && lb_quantizer_of(LB_TYPE_COUNT) == NULL);
    CHECK(lb_quantize_rows(LB_TYPE_Q8_K, x, out, 1, N, NULL, "w") == LB_ERR_UNSUPPORTED);
}

// ---- round trip ----

/* xorshift64* + Box-Muller: seeded gaussian values. */
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return ((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
    double u = urand(), v = urand();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* Relative RMSE sqrt(sum (y - x)^2 / sum x^2) of quantize -> dequantize on 16 gaussian rows of
 * 4096, without and with an imatrix (whose weighted error is then no worse than unweighted by
 * much). Bounds: measured values (printed with LOWBIT_TEST_VERBOSE) plus about 10%. */
static void test_round_trip(void)
{
    static const struct {
        lb_type t;
        double bound;
    } k_bounds[] = {
        {LB_TYPE_Q8_0, 0.0060}, {LB_TYPE_Q4_0, 0.095}, {LB_TYPE_Q4_1, 0.086},   {LB_TYPE_Q5_0, 0.048},
        {LB_TYPE_Q5_1, 0.042},  {LB_TYPE_Q4_K, 0.079}, {LB_TYPE_Q6_K, 0.020},   {LB_TYPE_Q5_K, 0.040},
        {LB_TYPE_Q3_K, 0.167},  {LB_TYPE_Q2_K, 0.33},  {LB_TYPE_IQ4_NL, 0.084}, {LB_TYPE_IQ4_XS, 0.085},
    };
    enum { ROWS = 16, N = 4096 };
    float *x = malloc(sizeof(float) * ROWS * N), *y = malloc(sizeof(float) * ROWS * N), im[N];
    uint8_t *q = malloc((size_t)ROWS * N * 2), *q_odd = malloc((size_t)ROWS * N * 2 + 1);
    for (int i = 0; i < ROWS * N; i++) x[i] = 0.02f * gauss();
    for (int i = 0; i < N; i++) im[i] = (float)(0.5 + urand());
    for (size_t k = 0; k < sizeof k_bounds / sizeof k_bounds[0]; k++) {
        const lb_type_traits *tr = lb_type_traits_of(k_bounds[k].t);
        for (int with_im = 0; with_im < 2; with_im++) {
            if (lb_quantize_rows(k_bounds[k].t, x, q, ROWS, N, with_im ? im : NULL, "rt") != LB_OK) {
                CHECKF(false, "%s: quantize failed: %s", tr->name, lb_errmsg());
                continue;
            }
            tr->to_f32(q, y, (int64_t)ROWS * N);
            double se = 0, sx = 0;
            for (int i = 0; i < ROWS * N; i++) {
                se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
                sx += (double)x[i] * x[i];
            }
            double rel = sqrt(se / sx);
            if (getenv("LOWBIT_TEST_VERBOSE"))
                fprintf(stderr, "  %-6s %s: relative RMSE %.5f (bound %.4f)\n", tr->name,
                        with_im ? "imatrix   " : "no imatrix", rel, k_bounds[k].bound);
            CHECKF(rel < k_bounds[k].bound, "%s (%s): relative RMSE %.5f >= %.4f", tr->name,
                   with_im ? "imatrix" : "no imatrix", rel, k_bounds[k].bound);
        }
        /* a destination one byte off alignment gets the same bytes */
        size_t nbytes = (size_t)ROWS * (N / (size_t)tr->block_size) * tr->type_size;
        lb_quantize_rows(k_bounds[k].t, x, q, ROWS, N, im, "rt");
        lb_quantize_rows(k_bounds[k].t, x, q_odd + 1, ROWS, N, im, "rt");
        CHECKF(memcmp(q, q_odd + 1, nbytes) == 0, "%s: misaligned destination changed the bytes", tr->name);
    }
    free(x);
    free(y);
    free(q);
    free(q_odd);
}

int main(void)
{
    inputs in;
    if (inputs_load(&in))
        for (size_t i = 0; i < N_TYPES; i++) test_golden(&in, k_types[i]);
    free(in.sets);
    free(in.buf);
    test_refusals();
    test_round_trip();
    return lb_test_finish();
}
