/* lb_convert against files written independently by gguf-py (tests/golden/make_gguf_fixtures.py,
 * make_synthetic_models.py, following llama.cpp's converters): every tensor we write must equal,
 * byte for byte, the fixture's tensor of the same name (type, shape and data: this checks the
 * q/k permutation, tied embeddings, 1-D tensors in F32, f32 -> bf16/f16 rounding and llama3's
 * rope_freqs); the converted files open in lowbit and give the source model's logits; q8_0 holds
 * Q8_0 blocks (F16 where a row is not a multiple of 32) within Q8_0's error bound; the CLI verb's
 * exit codes; a failed conversion leaves nothing behind. */
#include "core/dtype.h"
#include "io/gguf.h"
#include "lowbit.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int32_t PROMPT[] = {1, 40, 7, 300, 511, 2, 95, 17, 256, 3, 64, 128};
#define N_PROMPT ((int64_t)(sizeof PROMPT / sizeof PROMPT[0]))

static const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", lb_test_tmpdir(), name);
    return p;
}

static bool convert(const char *model, const char *out, lb_convert_type type)
{
    lb_convert_params p = {.type = type};
    lb_status st = lb_convert(model, out, &p);
    return EXPECT(st == LB_OK, "lb_convert(%s -> %s, type %d): %s", model, out, (int)type, lb_errmsg());
}

// ---- byte-for-byte against gguf-py fixtures ----

/* Every tensor of ours equals the fixture's tensor of the same name; fixture tensors we do not
 * write are listed (and must be in `allowed_extra`, comma-separated). */
static void same_tensors(const char *what, const char *ours, const char *golden, const char *allowed_extra)
{
    lb_gguf *a = NULL, *b = NULL;
    if (!EXPECT(lb_gguf_open(ours, &a) == LB_OK, "%s: open %s: %s", what, ours, lb_errmsg())) return;
    if (!EXPECT(lb_gguf_open(golden, &b) == LB_OK, "%s: open %s: %s", what, golden, lb_errmsg())) {
        lb_gguf_close(a);
        return;
    }
    int64_t n_same = 0;
    for (int64_t i = 0; i < lb_gguf_n_tensors(a); i++) {
        const lb_tensor_info *x = lb_gguf_tensor(a, i), *y = lb_gguf_find_tensor(b, x->name);
        if (!EXPECT(y != NULL, "%s: %s is not in the fixture", what, x->name)) continue;
        bool shape = x->n_dims == y->n_dims;
        for (int d = 0; shape && d < x->n_dims; d++) shape = x->shape[d] == y->shape[d];
        bool ok = EXPECT(x->type == y->type && shape, "%s: %s: type %d vs %d, dims %d vs %d", what, x->name, x->type,
                         y->type, x->n_dims, y->n_dims);
        if (ok && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0) {
            n_same++;
            continue;
        }
        if (!ok) continue;
        uint64_t first = 0;
        while (first < x->nbytes && x->data[first] == y->data[first]) first++;
        CHECKF(false, "%s: %s differs from byte %llu of %llu", what, x->name, (unsigned long long)first,
               (unsigned long long)x->nbytes);
    }
    for (int64_t i = 0; i < lb_gguf_n_tensors(b); i++) {
        const char *name = lb_gguf_tensor(b, i)->name;
        if (lb_gguf_find_tensor(a, name)) continue;
        char pat[80];
        snprintf(pat, sizeof pat, ",%s,", name);
        CHECKF(allowed_extra && strstr(allowed_extra, pat), "%s: fixture tensor %s is missing from ours", what, name);
        printf("  %s: fixture tensor %s not written (expected: %s)\n", what, name, "tied embeddings");
    }
    printf("  %s: %lld of %lld tensors byte-identical to %s\n", what, (long long)n_same, (long long)lb_gguf_n_tensors(a),
           golden);
    lb_gguf_close(a);
    lb_gguf_close(b);
}

// ---- logits ----

/* Logits of the converted file against the source: |diff| <= rtol * max|row| per position. */
static void same_logits(const char *what, const char *src, const char *conv, double rtol)
{
    lb_model *m1 = NULL, *m2 = NULL;
    lb_open_params op = {.quiet = true, .n_threads = 1};
    if (!EXPECT(lb_model_open(src, &op, &m1) == LB_OK, "%s: open %s: %s", what, src, lb_errmsg())) return;
    if (!EXPECT(lb_model_open(conv, &op, &m2) == LB_OK, "%s: open %s: %s", what, conv, lb_errmsg())) {
        lb_model_close(m1);
        return;
    }
    lb_model_desc d1, d2;
    lb_model_describe(m1, &d1);
    lb_model_describe(m2, &d2);
    CHECKF(d1.n_vocab == d2.n_vocab && d1.n_layer == d2.n_layer && d1.head_dim == d2.head_dim &&
               d1.rope_scaling == d2.rope_scaling && d1.bos_id == d2.bos_id && d1.eos_id == d2.eos_id &&
               d1.add_bos == d2.add_bos && d1.tied_embeddings == d2.tied_embeddings,
           "%s: descriptions differ", what);
    int64_t nv = d1.n_vocab, n = N_PROMPT;
    float *a = malloc((size_t)(n * nv) * sizeof *a), *b = malloc((size_t)(n * nv) * sizeof *b);
    int32_t ids[N_PROMPT];
    for (int64_t i = 0; i < n; i++) ids[i] = PROMPT[i] % (int32_t)nv;
    if (CHECK(lb_eval_logits(m1, ids, n, a) == LB_OK) && CHECK(lb_eval_logits(m2, ids, n, b) == LB_OK)) {
        double worst = 0;
        for (int64_t t = 0; t < n; t++) {
            double amax = 0, dmax = 0;
            for (int64_t v = 0; v < nv; v++) amax = fmax(amax, fabs(a[t * nv + v]));
            for (int64_t v = 0; v < nv; v++) dmax = fmax(dmax, fabs(a[t * nv + v] - b[t * nv + v]));
            worst = fmax(worst, dmax / amax);
        }
        CHECKF(worst <= rtol, "%s: logits max |diff| / row absmax = %.3g > %.1g", what, worst, rtol);
        printf("  %s: logits vs source: max |diff| / row absmax = %.3g (bound %.1g)\n", what, worst, rtol);
    }
    /* the vocabulary survives: same tokens for a text */
    const char *text = "Once upon a time, there was a little girl named Lily.";
    int32_t *t1 = NULL, *t2 = NULL;
    int64_t n1 = 0, n2 = 0;
    if (CHECK(lb_tokenize(m1, text, strlen(text), true, false, &t1, &n1) == LB_OK) &&
        CHECK(lb_tokenize(m2, text, strlen(text), true, false, &t2, &n2) == LB_OK))
        lb_test_i32_equal("tokens of the converted vocabulary", t2, t1, n2, n1);
    free(t1);
    free(t2);
    free(a);
    free(b);
    lb_model_close(m1);
    lb_model_close(m2);
}

// ---- q8_0 ----

/* Each Q8_0 block of ours decodes to within d/2 + 127 d 2^-11 of the f32 source (d = the block's
 * scale; rounding x/d to an integer costs d/2, storing d in f16 up to 127 d 2^-11 more), and
 * each row whose length is not a multiple of 32 is F16. */
static void check_q8_0(const char *what, const char *ours, const char *f32_path)
{
    lb_gguf *a = NULL, *b = NULL;
    if (!CHECK(lb_gguf_open(ours, &a) == LB_OK) || !CHECK(lb_gguf_open(f32_path, &b) == LB_OK)) {
        lb_gguf_close(a);
        return;
    }
    int64_t n_q8 = 0, n_f16 = 0;
    double worst = 0;
    for (int64_t i = 0; i < lb_gguf_n_tensors(a); i++) {
        const lb_tensor_info *x = lb_gguf_tensor(a, i), *y = lb_gguf_find_tensor(b, x->name);
        if (!CHECK(y && y->type == LB_TYPE_F32)) continue;
        const float *ref = (const float *)y->data;
        if (x->n_dims == 1) {
            CHECKF(x->type == LB_TYPE_F32 && memcmp(x->data, y->data, y->nbytes) == 0, "%s: %s stays F32", what, x->name);
            continue;
        }
        int64_t row = x->shape[1];
        if (row % 32) {
            n_f16++;
            CHECKF(x->type == LB_TYPE_F16, "%s: %s (row %lld) falls back to F16", what, x->name, (long long)row);
            continue;
        }
        n_q8++;
        if (!EXPECT(x->type == LB_TYPE_Q8_0, "%s: %s is Q8_0", what, x->name)) continue;
        for (int64_t blk = 0; blk < x->n_elements / 32; blk++) {
            const uint8_t *p = x->data + blk * 34;
            uint16_t dh;
            memcpy(&dh, p, 2);
            float d = lb_f16_to_f32(dh);
            for (int j = 0; j < 32; j++) {
                float v = d * (float)(int8_t)p[2 + j];
                double e = fabs(v - ref[blk * 32 + j]);
                if (d > 0) worst = fmax(worst, e / d);
            }
        }
    }
    CHECKF(n_q8 > 0 && worst <= 0.5 + 127.0 / 2048 + 1e-4, "%s: %lld Q8_0 tensors, worst error %.4f of the block scale", what,
           (long long)n_q8, worst);
    printf("  %s: %lld Q8_0 tensors (worst |error| = %.3f x scale), %lld F16 fallbacks\n", what, (long long)n_q8, worst,
           (long long)n_f16);
    lb_gguf_close(a);
    lb_gguf_close(b);
}

// ---- CLI and failures ----

static void cli(const char *model)
{
    char args[2048], *out = NULL;
    const char *dst = tmp_path("cli.gguf");
    snprintf(args, sizeof args, "convert '%s' -o '%s' --type bf16", model, dst);
    int rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 0 && lb_test_file_exists(dst), "convert: rc %d: %s", rc, out);
    free(out);
    snprintf(args, sizeof args, "convert '%s' --type bf16", model);
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 2 && strstr(out, "missing -o"), "missing -o: rc %d: %s", rc, out);
    free(out);
    snprintf(args, sizeof args, "convert '%s' -o '%s' --type q4_9", model, dst);
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 2 && strstr(out, "--type expects"), "bad type: rc %d: %s", rc, out);
    free(out);
    rc = lb_test_run_cli("convert --help", &out);
    CHECKF(rc == 0 && strstr(out, "usage: lowbit convert"), "--help: rc %d", rc);
    free(out);
    /* a failing conversion: rc 1, the message names the file, the old output untouched */
    const char *bad = tmp_path("not-a-model.bin");
    FILE *f = fopen(bad, "wb");
    fputs("this is not a model", f);
    fclose(f);
    snprintf(args, sizeof args, "convert '%s' -o '%s'", bad, dst);
    size_t before = 0, after = 0;
    free(lb_test_read_file(dst, &before));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 1 && strstr(out, "not-a-model.bin"), "bad model: rc %d: %s", rc, out);
    free(out);
    free(lb_test_read_file(dst, &after));
    CHECKF(before > 0 && before == after, "the previous output is untouched (%zu -> %zu bytes)", before, after);
    /* into a directory that does not exist */
    snprintf(args, sizeof args, "convert '%s' -o '%s'", model, tmp_path("no/such/dir/x.gguf"));
    rc = lb_test_run_cli(args, &out);
    CHECKF(rc == 1 && strstr(out, "no/such/dir"), "missing dir: rc %d: %s", rc, out);
    free(out);
}

int main(void)
{
    char ts[512], s260[512], golden_ts[512], golden_s260[512];
    snprintf(ts, sizeof ts, "%s", lb_test_shared("models/tinystories-656k-hf"));
    snprintf(s260, sizeof s260, "%s", lb_test_shared("models/stories260K-llama2c/stories260K.bin"));
    snprintf(golden_ts, sizeof golden_ts, "%s", lb_test_source("tests/golden/gguf/tinystories-656k.gguf"));
    snprintf(golden_s260, sizeof golden_s260, "%s", lb_test_source("tests/golden/gguf/stories260k.gguf"));

    /* (2) HF llama -> bf16 vs gguf-py + convert_hf_to_gguf's permutation */
    const char *ts_bf16 = tmp_path("ts-bf16.gguf"), *ts_f32 = tmp_path("ts-f32.gguf");
    if (convert(ts, ts_bf16, LB_CONVERT_BF16)) {
        same_tensors("tinystories-656k bf16", ts_bf16, golden_ts, NULL);
        same_logits("tinystories-656k bf16", ts, ts_bf16, 1e-5); /* its f32 weights are bf16-exact */
    }
    if (convert(ts, ts_f32, LB_CONVERT_F32)) same_logits("tinystories-656k f32", ts, ts_f32, 1e-5);
    /* (3) llama2.c -> f32 vs convert-llama2c-to-ggml's layout; it also writes output.weight, a
     * copy of the shared classifier, which we leave to llama.cpp's tied fallback */
    const char *s_f32 = tmp_path("s260-f32.gguf");
    if (convert(s260, s_f32, LB_CONVERT_F32)) {
        same_tensors("stories260k f32", s_f32, golden_s260, ",output.weight,");
        same_logits("stories260k f32", s260, s_f32, 1e-5);
    }
    /* synthetic HF models: llama3 rope scaling (rope_freqs), qwen2 biases, mistral */
    const char *l3 = tmp_path("synth-llama3.gguf"), *q2 = tmp_path("synth-qwen2.gguf"), *mi = tmp_path("synth-mistral.gguf");
    if (convert(lb_test_source("tests/golden/models/synth-llama3"), l3, LB_CONVERT_F32)) {
        same_tensors("synth-llama3 f32", l3, lb_test_source("tests/golden/models/synth-llama3.gguf"), NULL);
        same_logits("synth-llama3 f32", lb_test_source("tests/golden/models/synth-llama3"), l3, 1e-5);
    }
    if (convert(lb_test_source("tests/golden/models/synth-qwen2"), q2, LB_CONVERT_F16))
        same_tensors("synth-qwen2 f16", q2, lb_test_source("tests/golden/models/synth-qwen2.gguf"), NULL);
    if (convert(lb_test_source("tests/golden/models/synth-qwen2"), q2, LB_CONVERT_F32))
        same_logits("synth-qwen2 f32", lb_test_source("tests/golden/models/synth-qwen2"), q2, 1e-5);
    if (convert(lb_test_source("tests/golden/models/synth-mistral"), mi, LB_CONVERT_F32))
        same_logits("synth-mistral f32", lb_test_source("tests/golden/models/synth-mistral"), mi, 1e-5);
    /* a GGUF source: re-encoded, vocabulary copied */
    const char *again = tmp_path("ts-again-f32.gguf");
    if (convert(ts_bf16, again, LB_CONVERT_F32)) same_logits("tinystories-656k gguf -> f32", ts_bf16, again, 1e-5);

    /* (5) q8_0 */
    const char *ts_q8 = tmp_path("ts-q8.gguf"), *s_q8 = tmp_path("s260-q8.gguf");
    if (convert(ts, ts_q8, LB_CONVERT_Q8_0)) {
        check_q8_0("tinystories-656k q8_0", ts_q8, ts_f32);
        same_logits("tinystories-656k q8_0", ts, ts_q8, 2e-2);
    }
    if (convert(s260, s_q8, LB_CONVERT_Q8_0)) {
        check_q8_0("stories260k q8_0", s_q8, s_f32);
        same_logits("stories260k q8_0", s260, s_q8, 5e-2);
    }
    cli(ts);
    return lb_test_finish();
}
