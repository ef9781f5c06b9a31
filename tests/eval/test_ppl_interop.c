/* Interop acceptance check (DESIGN.md, numerical contracts): a GGUF that lowbit writes loads in
 * llama.cpp, and `lowbit ppl` on it gives llama-perplexity's perplexity to 0.1%:
 *     |ppl_lowbit / ppl_llamacpp - 1| <= 1e-3,
 * for each real model in ../shared/models (TinyStories-656K, HF directory; stories260K, llama2.c
 * checkpoint) written as f32 and q8_0 (`lowbit convert`) and as Q4_0 and Q4_K_M (`lowbit quantize`).
 * Their rows (64, 128, 172 wide) are no multiple of 256, so Q4_K_M holds no k-quant block here:
 * llama-quantize's fallbacks make it Q5_0/Q8_0 (F16 for the 172-wide rows); rows of 172 are no
 * multiple of 32 either, so q8_0 and Q4_0 keep stories260K's ffn_down in F16.
 *
 * The llama.cpp side is golden data, tests/golden/interop/ppl.json, written by
 * tests/golden/make_interop_golden.py: it ran the lowbit CLI to write the same 8 files, recorded
 * each file's FNV-1a 64 and llama.cpp's (llama-cpp-python) token stream and perplexity on it, with
 * llama-perplexity's protocol and defaults (BOS per chunk, second half scored, KV cache F16, flash
 * attention). Per case this test
 *   1. writes the file with the CLI under test and checks that its bytes hash to the golden value,
 *      so that the committed llama.cpp numbers apply to the very bytes we write (when they do not,
 *      the writer changed: regenerate the golden data, the ppl comparison is skipped);
 *   2. checks that lowbit tokenizes the text to the token stream llama.cpp built from the
 *      vocabulary we wrote (count and hash);
 *   3. runs `lowbit ppl FILE --numerics llamacpp` (quantized weights times 8-bit activations:
 *      Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for k-quants, F16 activations for F16 weights, as ggml's CPU
 *      backend pairs them; F32 weights are multiplied in f32 either way, so for the f32 files
 *      llamacpp and exact numerics are the same computation) with the golden n_ctx and chunk
 *      count, and compares its perplexity to llama.cpp's: the criterion;
 *   4. for files holding quantized tensors, a control: `lowbit ppl --numerics exact` (weights
 *      decoded to f32) against llama.cpp on the same weights dequantized to F32 (gguf-py), which
 *      must agree to 0.1% as well (they agree to ~1e-7: the decoded weights are the same).
 * Why both 3 and 4: rounding activations to 8 bits makes the result depend chaotically on the last
 * bits of everything before it (a 1-ulp difference flips a rounding, which then spreads through
 * the KV cache to every later position). On these 64/128-wide models that scatters each chunk's
 * mean NLL by ~2e-3 between two equally exact implementations, lowbit vs llama.cpp and llama.cpp
 * vs itself with an F16 or F32 KV cache alike, with no bias, so the perplexity agrees to about
 * 2e-3 / sqrt(n_chunks) (printed as the "scatter"; 5e-4 at the golden's 16 chunks), which the
 * golden's llama.cpp numbers show too (its F16 vs F32 KV cache). A failure of 3 alone after a
 * change of summation order may be that scatter (confirm with more chunks: the difference must
 * shrink as 1/sqrt(n_chunks)); a failure of 4 is a real difference. */
#include "lowbit.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PPL_REL_TOL 1e-3
#define CHUNK_NLL_SCATTER 2e-3 /* measured per-chunk NLL spread of 8-bit-activation paths, see above */
#define N_THREADS 2
#define GOLDEN "tests/golden/interop/ppl.json"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv1a64_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* Runs the CLI; on success returns its output (malloc'd), else records a failure and returns NULL. */
static char *cli(const char *what, const char *args)
{
    char *out = NULL;
    int rc = lb_test_run_cli(args, &out);
    if (EXPECT(rc == 0, "%s: `lowbit %s` exited with %d:\n%s", what, args, rc, out)) return out;
    free(out);
    return NULL;
}

/* `lowbit ppl ... --json`: the JSON object on stdout (stderr is merged in: the first line that
 * opens an object). */
static bool ppl_json(const char *what, const char *file, const char *text, int64_t n_ctx, int64_t n_chunks,
                     const char *numerics, double *ppl, int64_t *n_scored, int64_t *n_chunks_done, double *seconds)
{
    char args[8192];
    snprintf(args, sizeof args, "ppl '%.4000s' --text '%.4000s' --ctx %lld --chunks %lld --threads %d --numerics %s --json", file,
             text, (long long)n_ctx, (long long)n_chunks, N_THREADS, numerics);
    char *out = cli(what, args);
    if (!out) return false;
    const char *p = out[0] == '{' ? out : strstr(out, "\n{");
    cJSON *j = p ? cJSON_Parse(p) : NULL;
    *ppl = lb_test_jnum(j, "ppl");
    *n_scored = lb_test_jint(j, "n_scored");
    *n_chunks_done = lb_test_jint(j, "n_chunks");
    *seconds = lb_test_jnum(j, "seconds");
    bool ok = EXPECT(j && *ppl > 0, "%s: no perplexity in the output of `lowbit %s`:\n%s", what, args, out);
    cJSON_Delete(j);
    free(out);
    return ok;
}

typedef struct protocol {
    const char *text;      /* the cut text, written to the temp dir */
    size_t text_bytes;     /* bytes tokenized (after the trailing-newline drop) */
    const char *text_data; /* those bytes */
    int64_t n_ctx, n_chunks;
} protocol;

// ---- one file ----

static void run_case(const cJSON *c, const protocol *pr)
{
    const char *name = lb_test_jstr(c, "name"), *model_spec = lb_test_jstr(c, "model"), *verb = lb_test_jstr(c, "verb"),
               *type = lb_test_jstr(c, "type"), *want_hash = lb_test_jstr(c, "file_fnv1a64"),
               *want_tok_hash = lb_test_jstr(c, "tokens_fnv1a64");
    const int64_t want_bytes = lb_test_jint(c, "file_bytes"), want_tokens = lb_test_jint(c, "n_text_tokens"),
                  want_scored = lb_test_jint(c, "n_scored"), want_chunks = lb_test_jint(c, "n_chunks");
    const double ref = lb_test_jnum(c, "ppl"), ref_se = lb_test_jnum(c, "ppl_stderr"),
                 ref32 = lb_test_jnum(c, "ppl_f32kv"), ref_deq = lb_test_jnum(c, "ppl_dequant_f32");
    printf("\n== %s: lowbit %s %s --type %s\n", name, verb, model_spec, type);
    if (!EXPECT(*name && *model_spec && *verb && *type && strlen(want_hash) == 16 && want_bytes > 0 &&
                    want_tokens > 0 && want_scored > 0 && want_chunks == pr->n_chunks && ref > 0 && ref32 > 0,
                "%s: missing or malformed fields in %s", name, GOLDEN))
        return;
    char model[4096], file[4096], args[8192];
    lb_test_resolve(model_spec, model, sizeof model);
    snprintf(file, sizeof file, "%s/%s.gguf", lb_test_tmpdir(), name);
    if (!EXPECT(lb_test_file_exists(model), "%s: the model %s is missing", name, model)) return;

    // 1. the file, byte for byte the one llama.cpp was run on
    double t0 = now_s();
    snprintf(args, sizeof args, "%.16s '%.4000s' -o '%.4000s' --type %.16s", verb, model, file, type);
    char *out = cli(name, args);
    if (!out) return;
    free(out);
    size_t len = 0;
    unsigned char *bytes = (unsigned char *)lb_test_read_file(file, &len);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a64_bytes(bytes, bytes ? len : 0));
    free(bytes);
    bool same_file = (int64_t)len == want_bytes && strcmp(hash, want_hash) == 0;
    printf("   file     %zu bytes, fnv1a64 %s; golden %lld bytes, %s: %s  [%.2f s]\n", len, hash, (long long)want_bytes,
           want_hash, same_file ? "identical" : "DIFFERENT", now_s() - t0);
    if (!EXPECT(same_file,
                "%s: `lowbit %s %s` no longer writes the bytes llama.cpp was run on; if the change is intended, "
                "regenerate %s with tests/golden/make_interop_golden.py (the ppl comparison is skipped)",
                name, verb, type, GOLDEN))
        return;

    // 2. the token stream llama.cpp made from the vocabulary we wrote
    lb_open_params op = {.n_threads = N_THREADS, .no_weights = true, .quiet = true};
    lb_model *m = NULL;
    lb_status st = lb_model_open(file, &op, &m);
    if (!EXPECT(st == LB_OK, "%s: lb_model_open: %s", name, lb_errmsg())) return;
    lb_model_desc d;
    int32_t *tok = NULL;
    int64_t n_tok = 0;
    CHECK(lb_model_describe(m, &d) == LB_OK);
    st = lb_tokenize(m, pr->text_data, pr->text_bytes, d.add_bos, false, &tok, &n_tok);
    lb_model_close(m);
    if (!EXPECT(st == LB_OK, "%s: lb_tokenize: %s", name, lb_errmsg())) return;
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)lb_test_fnv1a64_ids(tok, n_tok));
    free(tok);
    bool same_tokens = n_tok == want_tokens && strcmp(hash, want_tok_hash) == 0;
    printf("   tokens   lowbit %lld (fnv1a64 %s)  llama.cpp %lld (fnv1a64 %s)  %s\n", (long long)n_tok, hash,
           (long long)want_tokens, want_tok_hash, same_tokens ? "identical" : "DIFFERENT");
    CHECKF(same_tokens, "%s: lowbit's token stream differs from llama.cpp's on the same GGUF", name);

    // 3. the criterion: llamacpp numerics against llama-perplexity on the file
    double ppl, secs;
    int64_t n_scored, n_chunks;
    if (!ppl_json(name, file, pr->text, pr->n_ctx, pr->n_chunks, "llamacpp", &ppl, &n_scored, &n_chunks, &secs)) return;
    double rel = ppl / ref - 1;
    printf("   ppl      lowbit %.6f  llama.cpp %.6f +/- %.5f  rel diff %+.2e (tolerance %.0e)  [%.2f s]\n", ppl, ref,
           ref_se, rel, PPL_REL_TOL, secs);
    printf("            llama.cpp with an F32 KV cache, no flash attention: %.6f (%+.2e from its default)\n", ref32,
           ref32 / ref - 1);
    CHECKF(n_scored == want_scored && n_chunks == want_chunks, "%s: lowbit scored %lld tokens in %lld chunks, llama.cpp %lld in %lld",
           name, (long long)n_scored, (long long)n_chunks, (long long)want_scored, (long long)want_chunks);
    CHECKF(fabs(rel) <= PPL_REL_TOL, "%s: ppl lowbit %.6f vs llama.cpp %.6f: |rel diff| %.3g > %g", name, ppl, ref,
           fabs(rel), PPL_REL_TOL);

    // 4. the control for quantized files: exact numerics against llama.cpp on the dequantized weights
    if (ref_deq > 0) {
        printf("            8-bit activation scatter: about %.1e (per-chunk NLL %.0e / sqrt(%lld chunks))\n",
               CHUNK_NLL_SCATTER / sqrt((double)pr->n_chunks), CHUNK_NLL_SCATTER, (long long)pr->n_chunks);
        if (!ppl_json(name, file, pr->text, pr->n_ctx, pr->n_chunks, "exact", &ppl, &n_scored, &n_chunks, &secs)) return;
        rel = ppl / ref_deq - 1;
        printf("   control  exact numerics %.6f  llama.cpp on the weights dequantized to F32 %.6f  rel diff %+.2e  [%.2f s]\n",
               ppl, ref_deq, rel, secs);
        CHECKF(fabs(rel) <= PPL_REL_TOL, "%s: exact-numerics ppl %.6f vs llama.cpp on the dequantized weights %.6f", name,
               ppl, ref_deq);
    }
}

int main(void)
{
    const double t0 = now_s();
    cJSON *j = lb_test_load_json(lb_test_source(GOLDEN));
    if (!EXPECT(j != NULL, "cannot read %s", lb_test_source(GOLDEN))) return lb_test_finish();
    const cJSON *cases = cJSON_GetObjectItem(j, "cases");
    protocol pr = {.n_ctx = lb_test_jint(j, "n_ctx"), .n_chunks = lb_test_jint(j, "n_chunks")};
    const int64_t cut = lb_test_jint(j, "text_cut"), text_bytes = lb_test_jint(j, "text_bytes");
    if (!EXPECT(cJSON_GetArraySize(cases) > 0 && pr.n_ctx >= 4 && pr.n_chunks >= 1 && cut > 0 &&
                    (text_bytes == cut || text_bytes == cut - 1) && strcmp(lb_test_jstr(j, "protocol"), "llamacpp") == 0,
                "%s: missing or malformed fields", GOLDEN)) {
        cJSON_Delete(j);
        return lb_test_finish();
    }

    /* The text: the first text_cut bytes of the file, as a file of its own for `lowbit ppl`, which
     * drops one trailing newline as llama-perplexity -f does (text_bytes are tokenized). */
    char path[4096], text_path[4096];
    lb_test_resolve(lb_test_jstr(j, "text"), path, sizeof path);
    size_t len = 0;
    char *text = lb_test_read_file(path, &len);
    snprintf(text_path, sizeof text_path, "%s/text.txt", lb_test_tmpdir());
    FILE *f = text && len >= (size_t)cut ? fopen(text_path, "wb") : NULL;
    bool ok = f && fwrite(text, 1, (size_t)cut, f) == (size_t)cut;
    if (f) ok = fclose(f) == 0 && ok;
    if (EXPECT(ok, "cannot read %lld bytes of %s or write %s", (long long)cut, path, text_path)) {
        pr.text = text_path;
        pr.text_data = text;
        pr.text_bytes = (size_t)text_bytes;
        printf("text: the first %lld bytes of %s (%lld tokenized); llamacpp protocol, ctx %lld, %lld chunks\n",
               (long long)cut, lb_test_jstr(j, "text"), (long long)text_bytes, (long long)pr.n_ctx,
               (long long)pr.n_chunks);
        printf("golden: %s (%s)\n", lb_test_jstr(j, "tool"), lb_test_jstr(j, "lowbit_revision"));
        for (int i = 0; i < cJSON_GetArraySize(cases); i++) run_case(cJSON_GetArrayItem(cases, i), &pr);
    }
    free(text);
    cJSON_Delete(j);
    printf("\ntotal %.1f s\n", now_s() - t0);
    return lb_test_finish();
}
