/* lb_quantize_model / `lowbit quantize` against llama.cpp's llama-quantize rules and ggml's
 * quantizers: the type of every tensor of tinystories-656k (rows of 128 and 384: no k-quant
 * fits, so llama.cpp's fallbacks apply) for Q4_K_M and Q2_K, written from llama-quant.cpp's
 * llama_tensor_get_type; general.file_type; for q8_0 / q4_0 every tensor's bytes equal
 * lb_quantize_rows of the f32 conversion (with and without an imatrix, whose weights are
 * sum2/count of the entry of the same name); quantized outputs open and give logits close to the
 * f32 model's (a bound per type); a quantized GGUF as input (a tensor already of the target type
 * is copied as is, like llama-quantize); the CLI's exit codes. */
#include "core/dtype.h"
#include "io/gguf.h"
#include "lowbit.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int32_t PROMPT[] = {1, 40, 7, 300, 511, 2, 95, 17, 256, 3, 64, 128, 900, 1500, 33, 12};
#define N_PROMPT ((int64_t)(sizeof PROMPT / sizeof PROMPT[0]))

static const char *tmp_path(const char *name)
{
    static char buf[64][512]; /* every path of this test stays valid */
    static int k;
    char *p = buf[k++ % 64];
    snprintf(p, 512, "%s/%s", lb_test_tmpdir(), name);
    return p;
}

static bool quantize(const char *model, const char *out, const char *type, bool pure, const char *imatrix)
{
    lb_quantize_params p = {.type = type, .pure = pure, .imatrix = imatrix, .n_threads = 2};
    lb_status st = lb_quantize_model(model, out, &p);
    return EXPECT(st == LB_OK, "lb_quantize_model(%s -> %s, %s%s): %s", model, out, type, pure ? " pure" : "",
                  lb_errmsg());
}

// ---- per-tensor types (llama_tensor_get_type) ----

typedef struct want_type {
    const char *name, *type;
} want_type;

static void check_types(const char *what, const char *path, const want_type *want, int n_want, int64_t ftype)
{
    lb_gguf *g = NULL;
    if (!EXPECT(lb_gguf_open(path, &g) == LB_OK, "%s: open %s: %s", what, path, lb_errmsg())) return;
    CHECKF(lb_gguf_n_tensors(g) == n_want, "%s: %lld tensors, expected %d", what, (long long)lb_gguf_n_tensors(g),
           n_want);
    int n_ok = 0;
    for (int i = 0; i < n_want; i++) {
        const lb_tensor_info *t = lb_gguf_find_tensor(g, want[i].name);
        if (!EXPECT(t != NULL, "%s: no tensor %s", what, want[i].name)) continue;
        const char *got = lb_type_traits_of(t->type)->name;
        n_ok += EXPECT(strcmp(got, want[i].type) == 0, "%s: %s is %s, llama-quantize gives %s", what, want[i].name, got,
                       want[i].type);
    }
    int64_t ft = -1, qv = -1;
    CHECKF(lb_gguf_get_i64(g, "general.file_type", &ft) && ft == ftype, "%s: general.file_type %lld, expected %lld",
           what, (long long)ft, (long long)ftype);
    CHECKF(lb_gguf_get_i64(g, "general.quantization_version", &qv) && qv == 2, "%s: quantization_version %lld", what,
           (long long)qv);
    printf("  %s: %d of %d tensor types as llama-quantize, file_type %lld\n", what, n_ok, n_want, (long long)ft);
    lb_gguf_close(g);
}

/* tinystories-656k: n_layer 2, n_embd 128, n_ff 384, n_head 8, n_head_kv 4 (n_gqa 2), tied
 * embeddings (so token_embd.weight takes output.weight's rule: 128 % 256 != 0 -> Q8_0). */
#define TS_NORMS                                                                                                   \
    {"output_norm.weight", "F32"}, {"blk.0.attn_norm.weight", "F32"}, {"blk.0.ffn_norm.weight", "F32"},            \
        {"blk.1.attn_norm.weight", "F32"}, {"blk.1.ffn_norm.weight", "F32"}

/* Q4_K_M: Q4_K everywhere -> Q5_0 (rows of 128 / 384); attn_v and ffn_down get Q6_K where
 * use_more_bits(i, 2) (i >= 7*2/8: layer 1), which falls back to Q8_0. */
static const want_type TS_Q4_K_M[] = {
    {"token_embd.weight", "Q8_0"},       TS_NORMS,
    {"blk.0.attn_q.weight", "Q5_0"},     {"blk.0.attn_k.weight", "Q5_0"},     {"blk.0.attn_v.weight", "Q5_0"},
    {"blk.0.attn_output.weight", "Q5_0"}, {"blk.0.ffn_gate.weight", "Q5_0"},  {"blk.0.ffn_up.weight", "Q5_0"},
    {"blk.0.ffn_down.weight", "Q5_0"},   {"blk.1.attn_q.weight", "Q5_0"},     {"blk.1.attn_k.weight", "Q5_0"},
    {"blk.1.attn_v.weight", "Q8_0"},     {"blk.1.attn_output.weight", "Q5_0"}, {"blk.1.ffn_gate.weight", "Q5_0"},
    {"blk.1.ffn_up.weight", "Q5_0"},     {"blk.1.ffn_down.weight", "Q8_0"},
};
/* Q2_K: attn_v Q3_K (n_gqa < 4), ffn_down and attn_output Q3_K, the rest Q2_K; every k-quant
 * row here falls back to Q4_0. */
static const want_type TS_Q2_K[] = {
    {"token_embd.weight", "Q8_0"},         TS_NORMS,
    {"blk.0.attn_q.weight", "Q4_0"},     {"blk.0.attn_k.weight", "Q4_0"},   {"blk.0.attn_v.weight", "Q4_0"},
    {"blk.0.attn_output.weight", "Q4_0"}, {"blk.0.ffn_gate.weight", "Q4_0"}, {"blk.0.ffn_up.weight", "Q4_0"},
    {"blk.0.ffn_down.weight", "Q4_0"},   {"blk.1.attn_q.weight", "Q4_0"},   {"blk.1.attn_k.weight", "Q4_0"},
    {"blk.1.attn_v.weight", "Q4_0"},     {"blk.1.attn_output.weight", "Q4_0"}, {"blk.1.ffn_gate.weight", "Q4_0"},
    {"blk.1.ffn_up.weight", "Q4_0"},     {"blk.1.ffn_down.weight", "Q4_0"},
};
/* Q3_K_M: attn_v Q5_K for the first two attn_v (layers 0, 1) -> Q5_1; ffn_down Q4_K (layer >=
 * n_layer/16 = 0... layer 0 < 0 is false) -> Q5_0; attn_output Q4_K -> Q5_0; rest Q3_K -> Q4_0. */
static const want_type TS_Q3_K_M[] = {
    {"token_embd.weight", "Q8_0"},       TS_NORMS,
    {"blk.0.attn_q.weight", "Q4_0"},   {"blk.0.attn_k.weight", "Q4_0"},   {"blk.0.attn_v.weight", "Q5_1"},
    {"blk.0.attn_output.weight", "Q5_0"}, {"blk.0.ffn_gate.weight", "Q4_0"}, {"blk.0.ffn_up.weight", "Q4_0"},
    {"blk.0.ffn_down.weight", "Q5_0"},   {"blk.1.attn_q.weight", "Q4_0"},   {"blk.1.attn_k.weight", "Q4_0"},
    {"blk.1.attn_v.weight", "Q5_1"},     {"blk.1.attn_output.weight", "Q5_0"}, {"blk.1.ffn_gate.weight", "Q4_0"},
    {"blk.1.ffn_up.weight", "Q4_0"},   {"blk.1.ffn_down.weight", "Q5_0"},
};
#define N_OF(a) ((int)(sizeof a / sizeof a[0]))

// ---- bytes against lb_quantize_rows of the f32 conversion ----

/* Every quantized tensor of `ours` equals lb_quantize_rows(its type) of the same tensor of the
 * f32 GGUF, with the imatrix entry's sum2/count as weights when im is given. */
static void same_bytes(const char *what, const char *ours, const char *f32_path, const lb_imatrix *im)
{
    lb_gguf *a = NULL, *b = NULL;
    if (!CHECK(lb_gguf_open(ours, &a) == LB_OK) || !CHECK(lb_gguf_open(f32_path, &b) == LB_OK)) {
        lb_gguf_close(a);
        return;
    }
    int n_q = 0, n_same = 0, n_weighted = 0;
    for (int64_t i = 0; i < lb_gguf_n_tensors(a); i++) {
        const lb_tensor_info *x = lb_gguf_tensor(a, i), *y = lb_gguf_find_tensor(b, x->name);
        if (!EXPECT(y && y->type == LB_TYPE_F32, "%s: %s not F32 in %s", what, x->name, f32_path)) continue;
        if (!lb_type_traits_of(x->type)->is_quantized) continue;
        n_q++;
        int64_t row = x->shape[x->n_dims - 1], n_rows = x->n_elements / row;
        float *w = NULL;
        int64_t k = im ? lb_imatrix_find(im, x->name) : -1;
        lb_imatrix_entry e;
        if (k >= 0 && lb_imatrix_get(im, k, &e) && e.n_in == row) {
            w = malloc((size_t)row * sizeof *w);
            for (int64_t j = 0; j < row; j++) w[j] = (float)(e.sum2[j] / (double)e.count);
            n_weighted++;
        }
        uint8_t *q = malloc(x->nbytes);
        if (CHECK(lb_quantize_rows(x->type, (const float *)y->data, q, n_rows, row, w, x->name) == LB_OK))
            n_same += EXPECT(memcmp(q, x->data, x->nbytes) == 0, "%s: %s (%s) differs from lb_quantize_rows", what,
                             x->name, lb_type_traits_of(x->type)->name);
        free(q);
        free(w);
    }
    CHECKF(n_q > 0 && n_same == n_q, "%s: %d of %d quantized tensors identical", what, n_same, n_q);
    printf("  %s: %d of %d quantized tensors byte-identical to lb_quantize_rows (%d with imatrix weights)\n", what,
           n_same, n_q, n_weighted);
    lb_gguf_close(a);
    lb_gguf_close(b);
}

// ---- logits ----

/* Logits of `q` against the f32 model `ref`: relative RMS of the difference over all positions.
 * The bounds are about 1.5x what was measured: tinystories Q8_0 0.013, Q4_K_M 0.079, Q2_K 0.149,
 * Q4_0 --pure 0.22; the random synthetic model (n_embd 32) is far more sensitive: Q8_0 0.030
 * (its token_embd is Q8_0 in every mix), Q6_K 0.030, Q4_K_M 0.17, IQ4_NL 0.29, Q4_0 0.34. */
static void close_logits(const char *what, const char *ref, const char *q, double bound)
{
    lb_model *m1 = NULL, *m2 = NULL;
    lb_open_params op = {.quiet = true, .n_threads = 1};
    if (!EXPECT(lb_model_open(ref, &op, &m1) == LB_OK, "%s: open %s: %s", what, ref, lb_errmsg())) return;
    if (!EXPECT(lb_model_open(q, &op, &m2) == LB_OK, "%s: open %s: %s", what, q, lb_errmsg())) {
        lb_model_close(m1);
        return;
    }
    lb_model_desc d;
    lb_model_describe(m1, &d);
    int64_t nv = d.n_vocab, n = N_PROMPT;
    float *a = malloc((size_t)(n * nv) * sizeof *a), *b = malloc((size_t)(n * nv) * sizeof *b);
    int32_t ids[N_PROMPT];
    for (int64_t i = 0; i < n; i++) ids[i] = PROMPT[i] % (int32_t)nv;
    if (CHECK(lb_eval_logits(m1, ids, n, a) == LB_OK) && CHECK(lb_eval_logits(m2, ids, n, b) == LB_OK)) {
        double num = 0, den = 0;
        for (int64_t i = 0; i < n * nv; i++) {
            double dd = (double)a[i] - b[i];
            num += dd * dd, den += (double)a[i] * a[i];
        }
        double rel = sqrt(num / den);
        CHECKF(rel <= bound && rel > 0, "%s: logits relative RMS error %.4g, bound %.3g", what, rel, bound);
        printf("  %s: logits vs f32: relative RMS error %.4g (bound %.3g)\n", what, rel, bound);
    }
    free(a);
    free(b);
    lb_model_close(m1);
    lb_model_close(m2);
}

// ---- tests ----

static void test_tinystories(void)
{
    const char *src = lb_test_shared("models/tinystories-656k-hf");
    if (!lb_test_file_exists(src)) {
        printf("  skip: %s missing\n", src);
        return;
    }
    const char *f32 = tmp_path("ts-f32.gguf");
    lb_convert_params cp = {.type = LB_CONVERT_F32};
    if (!EXPECT(lb_convert(src, f32, &cp) == LB_OK, "convert f32: %s", lb_errmsg())) return;

    const char *q4km = tmp_path("ts-q4km.gguf");
    if (quantize(src, q4km, "Q4_K_M", false, NULL)) {
        check_types("tinystories Q4_K_M", q4km, TS_Q4_K_M, N_OF(TS_Q4_K_M), 15);
        same_bytes("tinystories Q4_K_M", q4km, f32, NULL);
        close_logits("tinystories Q4_K_M", src, q4km, 0.12);
    }
    const char *q2k = tmp_path("ts-q2k.gguf");
    if (quantize(src, q2k, "q2_k", false, NULL)) {
        check_types("tinystories Q2_K", q2k, TS_Q2_K, N_OF(TS_Q2_K), 10);
        same_bytes("tinystories Q2_K", q2k, f32, NULL);
        close_logits("tinystories Q2_K", src, q2k, 0.22);
    }
    const char *q3km = tmp_path("ts-q3km.gguf");
    if (quantize(src, q3km, "Q3_K_M", false, NULL)) check_types("tinystories Q3_K_M", q3km, TS_Q3_K_M, N_OF(TS_Q3_K_M), 12);

    const char *q8 = tmp_path("ts-q8_0.gguf");
    if (quantize(src, q8, "Q8_0", false, NULL)) {
        same_bytes("tinystories Q8_0", q8, f32, NULL);
        close_logits("tinystories Q8_0", src, q8, 0.02);
        /* a quantized GGUF as input: Q8_0 -> Q8_0 copies every tensor as is (llama-quantize) */
        const char *again = tmp_path("ts-q8_0-again.gguf");
        if (quantize(q8, again, "Q8_0", false, NULL)) {
            size_t n1 = 0, n2 = 0;
            char *x = lb_test_read_file(q8, &n1), *y = lb_test_read_file(again, &n2);
            CHECKF(x && y && n1 == n2 && memcmp(x, y, n1) == 0, "Q8_0 GGUF requantized to Q8_0 is not identical");
            free(x);
            free(y);
        }
        /* ... and is decoded to f32 for another type */
        const char *q4 = tmp_path("ts-q8-to-q4km.gguf");
        if (quantize(q8, q4, "Q4_K_M", false, NULL)) {
            check_types("Q8_0 GGUF -> Q4_K_M", q4, TS_Q4_K_M, N_OF(TS_Q4_K_M), 15);
            close_logits("Q8_0 GGUF -> Q4_K_M", src, q4, 0.12);
        }
    }
    const char *q40 = tmp_path("ts-q4_0-pure.gguf");
    if (quantize(src, q40, "Q4_0", true, NULL)) {
        same_bytes("tinystories Q4_0 --pure", q40, f32, NULL);
        close_logits("tinystories Q4_0 --pure", src, q40, 0.33);
    }

    /* imatrix: collected here on text, saved as .dat and .gguf; rows weighted by sum2/count */
    size_t len = 0;
    char *text = lb_test_read_file(lb_test_shared("data/tinystories/tinystories_train_head.txt"), &len);
    lb_model *m = NULL;
    lb_open_params op = {.quiet = true, .n_threads = 2};
    if (!text || !CHECK(lb_model_open(src, &op, &m) == LB_OK)) {
        free(text);
        return;
    }
    if (len > 20000) len = 20000;
    int32_t *tok = NULL;
    int64_t n_tok = 0;
    lb_imatrix *im = NULL;
    lb_imatrix_params ip = {.n_ctx = 128, .n_chunks = 8};
    const char *dat = tmp_path("ts.imatrix.gguf");
    if (CHECK(lb_tokenize(m, text, len, true, false, &tok, &n_tok) == LB_OK) &&
        CHECK(lb_imatrix_collect(m, tok, n_tok, &ip, &im) == LB_OK) && CHECK(lb_imatrix_save(im, dat) == LB_OK)) {
        const char *qi = tmp_path("ts-q4_0-imatrix.gguf");
        if (quantize(src, qi, "Q4_0", true, dat)) same_bytes("tinystories Q4_0 --pure --imatrix", qi, f32, im);
        const char *qk = tmp_path("ts-q4km-imatrix.gguf");
        if (quantize(src, qk, "Q4_K_M", false, dat)) {
            check_types("tinystories Q4_K_M --imatrix", qk, TS_Q4_K_M, N_OF(TS_Q4_K_M), 15);
            same_bytes("tinystories Q4_K_M --imatrix", qk, f32, im);
        }
    }
    lb_imatrix_close(im);
    free(tok);
    free(text);
    lb_model_close(m);
}

static void test_synth_llama3(void)
{
    const char *src = lb_test_source("tests/golden/models/synth-llama3");
    const char *f32 = tmp_path("s3-f32.gguf");
    lb_convert_params cp = {.type = LB_CONVERT_F32};
    if (!EXPECT(lb_convert(src, f32, &cp) == LB_OK, "convert f32: %s", lb_errmsg())) return;
    static const char *const types[] = {"Q8_0", "Q4_0", "Q4_K_M", "Q6_K", "IQ4_NL", "F16"};
    static const double bounds[] = {0.045, 0.5, 0.26, 0.045, 0.44, 1e-5};
    for (int i = 0; i < 6; i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "s3-%s.gguf", types[i]);
        snprintf(what, sizeof what, "synth-llama3 %s", types[i]);
        const char *out = tmp_path(name);
        if (!quantize(src, out, types[i], false, NULL)) continue;
        if (strcmp(types[i], "F16") != 0) same_bytes(what, out, f32, NULL);
        close_logits(what, src, out, bounds[i]);
    }
}

static void test_cli(void)
{
    char args[2048], *out = NULL;
    const char *src = lb_test_source("tests/golden/models/synth-llama3");
    const char *dst = tmp_path("cli.gguf");
    snprintf(args, sizeof args, "quantize %s -o %s --type q4_k_m --threads 1", src, dst);
    int rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 0 && strstr(out, "bits per weight") && strstr(out, "blk.1.ffn_down.weight"), "quantize: rc %d: %s",
           rc, out);
    free(out);
    CHECK(lb_test_file_exists(dst));
    snprintf(args, sizeof args, "quantize %s -o %s --type Q9_K", src, tmp_path("bad.gguf"));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 2 && strstr(out, "unknown --type"), "bad type: rc %d: %s", rc, out);
    free(out);
    snprintf(args, sizeof args, "quantize %s -o %s", src, tmp_path("bad.gguf"));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 2, "missing type: rc %d", rc);
    free(out);
    snprintf(args, sizeof args, "quantize /nonexistent/model -o %s --type Q8_0", tmp_path("bad.gguf"));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 1 && !lb_test_file_exists(tmp_path("bad.gguf")), "missing model: rc %d: %s", rc, out);
    free(out);
    snprintf(args, sizeof args, "quantize %s -o %s --type Q8_0 --imatrix /nonexistent.dat", src, tmp_path("bad.gguf"));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 1, "missing imatrix: rc %d: %s", rc, out);
    free(out);
    rc = lb_test_run_cli("quantize --help", &out);
    CHECKF(rc == 0 && strstr(out, "usage: lowbit quantize"), "help: rc %d", rc);
    free(out);
    CHECK(lb_quantize_ftype("Q4_K") == 15 && lb_quantize_ftype("q5_k_s") == 16 && lb_quantize_ftype("IQ4_XS") == 30 &&
          lb_quantize_ftype("nope") == -1 && lb_quantize_ftype(NULL) == -1);
}

int main(void)
{
    test_tinystories();
    test_synth_llama3();
    test_cli();
    return lb_test_finish();
}
