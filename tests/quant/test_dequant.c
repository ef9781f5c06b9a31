/* Row decoders (src/quant/dequant_*.c) against llama.cpp: golden blocks produced by llama.cpp's
 * quantizer plus random-but-valid blocks, with the floats llama.cpp's dequantize_row_* made of
 * them (tests/golden/make_dequant_golden.py; the oracle is named in each file). Block types
 * must match bit for bit; each case is decoded alone, and the whole file once more from a
 * misaligned buffer. Also: the type-traits table against llama.cpp's block geometry. */
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* CHECKF that also yields the outcome, so a failed precondition can skip what depends on it. */
#define CHECKV(cond, ...) checkv((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

__attribute__((format(printf, 5, 6))) static bool checkv(bool ok, const char *file, int line, const char *expr,
                                                         const char *fmt, ...)
{
    char msg[1024] = "";
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    return lb_test_check(ok, file, line, expr, ok ? NULL : msg);
}

// ---- type table vs llama.cpp ----

/* Block size and bytes per block as ggml defines them (ggml.c type_traits, = gguf-py's
 * GGML_QUANT_SIZES except Q8_1, where gguf-py 0.19 still says 40 for a struct ggml sizes at 36). */
static const struct {
    lb_type type;
    const char *name;
    int64_t block_size;
    size_t type_size;
    bool decodes;
} k_sizes[] = {
    {LB_TYPE_F32, "F32", 1, 4, true},
    {LB_TYPE_F16, "F16", 1, 2, true},
    {LB_TYPE_Q4_0, "Q4_0", 32, 18, true},
    {LB_TYPE_Q4_1, "Q4_1", 32, 20, true},
    {LB_TYPE_Q5_0, "Q5_0", 32, 22, true},
    {LB_TYPE_Q5_1, "Q5_1", 32, 24, true},
    {LB_TYPE_Q8_0, "Q8_0", 32, 34, true},
    {LB_TYPE_Q8_1, "Q8_1", 32, 36, false},
    {LB_TYPE_Q2_K, "Q2_K", 256, 84, true},
    {LB_TYPE_Q3_K, "Q3_K", 256, 110, true},
    {LB_TYPE_Q4_K, "Q4_K", 256, 144, true},
    {LB_TYPE_Q5_K, "Q5_K", 256, 176, true},
    {LB_TYPE_Q6_K, "Q6_K", 256, 210, true},
    {LB_TYPE_Q8_K, "Q8_K", 256, 292, false},
    {LB_TYPE_IQ4_NL, "IQ4_NL", 32, 18, true},
    {LB_TYPE_IQ4_XS, "IQ4_XS", 256, 136, true},
    {LB_TYPE_I8, "I8", 1, 1, false},
    {LB_TYPE_I16, "I16", 1, 2, false},
    {LB_TYPE_I32, "I32", 1, 4, false},
    {LB_TYPE_I64, "I64", 1, 8, false},
    {LB_TYPE_F64, "F64", 1, 8, true},
    {LB_TYPE_BF16, "BF16", 1, 2, true},
    {LB_TYPE_F8_E4M3, "F8_E4M3", 1, 1, true},
    {LB_TYPE_F8_E5M2, "F8_E5M2", 1, 1, true},
};

static void test_type_table(void)
{
    for (size_t i = 0; i < sizeof k_sizes / sizeof k_sizes[0]; i++) {
        const lb_type_traits *tr = lb_type_traits_of(k_sizes[i].type);
        if (!CHECKV(tr != NULL, "no traits for %s (%d)", k_sizes[i].name, (int)k_sizes[i].type)) continue;
        CHECKV(strcmp(tr->name, k_sizes[i].name) == 0, "type %d named %s, want %s", (int)k_sizes[i].type, tr->name,
               k_sizes[i].name);
        CHECKV(tr->block_size == k_sizes[i].block_size && tr->type_size == k_sizes[i].type_size,
               "%s: %lld elements in %zu bytes, llama.cpp has %lld in %zu", k_sizes[i].name, (long long)tr->block_size,
               tr->type_size, (long long)k_sizes[i].block_size, k_sizes[i].type_size);
        CHECKV((tr->to_f32 != NULL) == k_sizes[i].decodes && tr->is_float == k_sizes[i].decodes,
               "%s: decoder present %d, is_float %d", k_sizes[i].name, tr->to_f32 != NULL, tr->is_float);
        CHECKV(tr->is_quantized == (k_sizes[i].block_size > 1), "%s: is_quantized %d", k_sizes[i].name,
               tr->is_quantized);
        lb_type back;
        CHECKV(lb_type_from_name(k_sizes[i].name, &back) && back == k_sizes[i].type, "lookup of '%s'",
               k_sizes[i].name);
        uint64_t nbytes = 0;
        CHECKV(lb_type_nbytes(k_sizes[i].type, 3 * (uint64_t)k_sizes[i].block_size, &nbytes) &&
                   nbytes == 3 * k_sizes[i].type_size,
               "%s: nbytes of 3 blocks = %llu", k_sizes[i].name, (unsigned long long)nbytes);
        if (k_sizes[i].block_size > 1)
            CHECKV(!lb_type_nbytes(k_sizes[i].type, (uint64_t)k_sizes[i].block_size + 1, &nbytes),
                   "%s: a partial block must be refused", k_sizes[i].name);
    }
    /* ids ggml retired (Q4_2 = 4, Q4_3 = 5), ones lowbit does not read, and garbage */
    const int64_t unknown[] = {-1, 4, 5, 16, 19, 21, 22, 29, 31, 34, 39, 63, LB_TYPE_COUNT, 1000, INT64_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECKV(lb_type_traits_of(unknown[i]) == NULL, "type id %lld must be unknown", (long long)unknown[i]);
    lb_type t;
    CHECK(!lb_type_from_name("q4_0", &t)); /* names are case-sensitive, ggml spelling */
    CHECK(!lb_type_from_name("", &t));
    uint64_t nb;
    CHECK(!lb_type_nbytes(LB_TYPE_F64, UINT64_MAX / 4, &nb));         /* 8 bytes each: overflow is refused */
    CHECK(!lb_type_nbytes(LB_TYPE_Q8_K, UINT64_MAX / 256 * 256, &nb)); /* 292 per 256: overflow */
}

// ---- golden files ----

typedef struct golden {
    uint32_t type, block_size, type_size, n_blocks, n_cases;
    char name[17], oracle[85];
    struct {
        char label[33];
        uint32_t first, n;
    } *cases;
    uint8_t *raw;    /* n_blocks * type_size */
    float *want;     /* n_blocks * block_size */
} golden;

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads and validates one golden file; false (with a failed CHECK saying why) on any problem. */
static bool golden_load(const char *path, golden *g)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!CHECKV(f != NULL, "cannot open %s (run tests/golden/make_dequant_golden.py)", path)) return false;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
    bool ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!CHECKV(ok && size >= 128 && memcmp(buf, "LBDQGLD1", 8) == 0, "%s: not a golden file", path)) {
        free(buf);
        return false;
    }
    g->type = rd32(buf + 8);
    g->block_size = rd32(buf + 12);
    g->type_size = rd32(buf + 16);
    g->n_blocks = rd32(buf + 20);
    g->n_cases = rd32(buf + 24);
    memcpy(g->name, buf + 28, 16);
    memcpy(g->oracle, buf + 44, 84);
    uint64_t need = 128 + 40ull * g->n_cases + (uint64_t)g->n_blocks * g->type_size +
                    4ull * g->n_blocks * g->block_size;
    if (!CHECKV(g->n_cases < 1000 && g->block_size <= 256 && g->type_size <= 512 && need == (uint64_t)size,
                "%s: header says %llu bytes, file has %ld", path, (unsigned long long)need, size)) {
        free(buf);
        return false;
    }
    g->cases = calloc(g->n_cases, sizeof *g->cases);
    const uint8_t *p = buf + 128;
    for (uint32_t i = 0; i < g->n_cases; i++, p += 40) {
        memcpy(g->cases[i].label, p, 32);
        g->cases[i].first = rd32(p + 32);
        g->cases[i].n = rd32(p + 36);
        CHECKV((uint64_t)g->cases[i].first + g->cases[i].n <= g->n_blocks, "%s: case %u out of range", path, i);
    }
    size_t n_raw = (size_t)g->n_blocks * g->type_size, n_val = (size_t)g->n_blocks * g->block_size;
    g->raw = malloc(n_raw + 1);
    g->want = malloc(n_val * sizeof(float) + 1);
    memcpy(g->raw, p, n_raw);
    memcpy(g->want, p + n_raw, n_val * sizeof(float)); /* little-endian host (blocks.h asserts it) */
    free(buf);
    return true;
}

static void golden_free(golden *g)
{
    free(g->cases);
    free(g->raw);
    free(g->want);
}

/* Scalar float types: bitwise, except that NaN matches NaN (oracles canonicalize NaN bits
 * differently; the exhaustive test_dtype pins our NaN encoding). */
static bool float_values_equal(const char *what, const float *got, const float *want, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bool same = memcmp(&got[i], &want[i], sizeof(float)) == 0 || (isnan(got[i]) && isnan(want[i]));
        if (!same && bad++ < 5) fprintf(stderr, "  %s[%lld]: got %.9g want %.9g\n", what, (long long)i, got[i], want[i]);
    }
    if (bad) fprintf(stderr, "  %s: %lld of %lld differ\n", what, (long long)bad, (long long)n);
    return lb_test_check(bad == 0, __FILE__, __LINE__, what, NULL);
}

static void test_golden(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/dequant/%s.bin", name);
    golden g;
    if (!golden_load(lb_test_source(rel), &g)) return;

    const lb_type_traits *tr = lb_type_traits_of(g.type);
    bool meta_ok = CHECKV(tr && strcmp(tr->name, name) == 0 && strcmp(g.name, name) == 0 && tr->to_f32 &&
                              tr->block_size == (int64_t)g.block_size && tr->type_size == g.type_size,
                          "%s: golden file describes type %u '%s' (%u elements in %u bytes)", name, g.type, g.name,
                          g.block_size, g.type_size);
    if (!meta_ok) {
        golden_free(&g);
        return;
    }
    bool bitwise = tr->is_quantized;
    int64_t n_all = (int64_t)g.n_blocks * g.block_size;
    float *got = malloc((size_t)n_all * sizeof(float) + 1);
    char what[160];

    /* every case decoded alone: a decoder must not depend on what precedes its blocks */
    for (uint32_t c = 0; c < g.n_cases; c++) {
        int64_t n = (int64_t)g.cases[c].n * g.block_size;
        const float *want = g.want + (int64_t)g.cases[c].first * g.block_size;
        tr->to_f32(g.raw + (size_t)g.cases[c].first * g.type_size, got, n);
        snprintf(what, sizeof what, "%s/%s", name, g.cases[c].label);
        if (bitwise) lb_test_bits_equal(what, got, want, n);
        else float_values_equal(what, got, want, n);
    }

    /* the whole file in one call, from a source one byte off alignment */
    uint8_t *odd = malloc((size_t)g.n_blocks * g.type_size + 1);
    memcpy(odd + 1, g.raw, (size_t)g.n_blocks * g.type_size);
    memset(got, 0xff, (size_t)n_all * sizeof(float));
    tr->to_f32(odd + 1, got, n_all);
    snprintf(what, sizeof what, "%s/all %u blocks, misaligned source", name, g.n_blocks);
    if (bitwise) lb_test_bits_equal(what, got, g.want, n_all);
    else float_values_equal(what, got, g.want, n_all);

    if (getenv("LOWBIT_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %u blocks in %u cases, oracle: %s\n", name, g.n_blocks, g.n_cases, g.oracle);
    free(odd);
    free(got);
    golden_free(&g);
}

/* n = 0 decodes nothing and writes nothing. */
static void test_empty_rows(void)
{
    static const uint8_t zeros[512];
    for (size_t i = 0; i < sizeof k_sizes / sizeof k_sizes[0]; i++) {
        const lb_type_traits *tr = lb_type_traits_of(k_sizes[i].type);
        if (!tr || !tr->to_f32) continue;
        float sentinel = -7.25f;
        tr->to_f32(zeros, &sentinel, 0);
        CHECKV(sentinel == -7.25f, "%s: n = 0 wrote %g", tr->name, sentinel);
    }
}

int main(void)
{
    test_type_table();
    static const char *types[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K",
                                  "Q5_K", "Q6_K", "IQ4_XS", "F32", "F16", "BF16", "F64", "F8_E4M3", "F8_E5M2"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) test_golden(types[i]);
    test_empty_rows();
    return lb_test_finish();
}
