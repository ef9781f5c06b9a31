/* Golden logits on small randomly initialized models that cover what the real test models do not:
 * qwen2 (GQA, q/k/v biases, untied lm_head, F16), llama with rope_scaling llama3, head_dim != n_embd /
 * n_head and BF16 weights in three safetensors shards, mistral with rope_scaling linear; and the
 * same qwen2 and llama3 weights as GGUF files written by the gguf package (qwen2 keeps rotate-half,
 * llama has q/k permuted to interleaved pairs and llama3 scaling as rope_freqs.weight divisors).
 * Fixtures and golden data: tests/golden/make_synthetic_models.py -> tests/golden/models/, golden
 * from Hugging Face transformers in float64 (eager attention).
 *
 * For every source of a golden model: lb_model_describe reports what the generator wrote
 * ("sources"[].expect in the golden JSON), and the criterion of tests/model/test_logits.c holds:
 *     |got[t][v] - want[t][v]| <= 1e-4 * max_v' |want[t][v']|
 * on every logit of the rows stored in full, on the golden top-20 of every row and on each row's
 * logsumexp; the argmax agrees wherever the golden top-1/top-2 margin exceeds twice the tolerance.
 * The llama3 prompt is 96 tokens, past the original context of 64. 10 greedy tokens from
 * lb_generate (temp 0, KV cache) equal the golden greedy continuation; the logits of a 7-token
 * prefix equal the first rows of the full prompt. */
#include "lowbit.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-4
#define MAX_TOKENS 128
#define MAX_SOURCES 4

/* CHECKF that is an expression: records the check and returns cond. */
#define EXPECT(cond, ...) expectf((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
__attribute__((format(printf, 5, 6))) static bool expectf(bool ok, const char *file, int line, const char *expr,
                                                          const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lb_test_check(ok, file, line, expr, msg);
}

// ---- golden data ----

typedef struct golden_row {
    int32_t argmax, top_id[32];
    double top_logit[32], logsumexp, absmax;
    int n_top;
} golden_row;

typedef struct golden {
    char name[64];
    cJSON *doc;                        /* owns the sources' "expect" objects */
    const cJSON *sources[MAX_SOURCES]; /* {"path", "expect"} */
    int n_sources;
    int32_t ids[MAX_TOKENS];
    int64_t n_tokens, n_vocab, full_first;
    float *full; /* [n_tokens - full_first][n_vocab] */
    golden_row rows[MAX_TOKENS];
    int32_t greedy[64];
    double margins[64];
    int64_t n_greedy, n_predict;
} golden;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

static int64_t jint(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
}

static void free_golden(golden *g)
{
    cJSON_Delete(g->doc);
    free(g->full);
    memset(g, 0, sizeof *g);
}

static bool load_golden(const char *name, golden *g)
{
    memset(g, 0, sizeof *g);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/models/golden/%s.json", name);
    char *txt = slurp(lb_test_source(rel), NULL);
    if (!EXPECT(txt != NULL, "cannot read %s", lb_test_source(rel))) return false;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!EXPECT(j != NULL, "%s is not JSON", rel)) return false;
    g->doc = j;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->n_tokens = jint(j, "n_tokens");
    g->n_vocab = jint(j, "n_vocab");
    g->full_first = jint(j, "full_rows_first");
    bool ok = g->n_tokens > 7 && g->n_tokens <= MAX_TOKENS && g->n_vocab > 0 && g->full_first >= 0 &&
              g->full_first <= g->n_tokens;
    const cJSON *srcs = cJSON_GetObjectItem(j, "sources");
    g->n_sources = cJSON_GetArraySize(srcs);
    ok = ok && g->n_sources >= 1 && g->n_sources <= MAX_SOURCES;
    for (int i = 0; ok && i < g->n_sources; i++) {
        g->sources[i] = cJSON_GetArrayItem(srcs, i);
        ok = cJSON_IsString(cJSON_GetObjectItem(g->sources[i], "path")) &&
             cJSON_IsObject(cJSON_GetObjectItem(g->sources[i], "expect"));
    }
    const cJSON *ids = cJSON_GetObjectItem(j, "prompt_ids"), *rows = cJSON_GetObjectItem(j, "rows");
    ok = ok && cJSON_GetArraySize(ids) == g->n_tokens && cJSON_GetArraySize(rows) == g->n_tokens;
    for (int64_t t = 0; ok && t < g->n_tokens; t++) {
        g->ids[t] = (int32_t)cJSON_GetArrayItem(ids, (int)t)->valuedouble;
        const cJSON *r = cJSON_GetArrayItem(rows, (int)t), *top = cJSON_GetObjectItem(r, "top");
        golden_row *gr = &g->rows[t];
        gr->argmax = (int32_t)jint(r, "argmax");
        gr->logsumexp = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "logsumexp"));
        gr->absmax = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "absmax"));
        gr->n_top = cJSON_GetArraySize(top);
        ok = gr->n_top >= 2 && gr->n_top <= 32 && gr->absmax > 0;
        for (int k = 0; ok && k < gr->n_top; k++) {
            const cJSON *pair = cJSON_GetArrayItem(top, k);
            gr->top_id[k] = (int32_t)cJSON_GetArrayItem(pair, 0)->valuedouble;
            gr->top_logit[k] = cJSON_GetArrayItem(pair, 1)->valuedouble;
        }
    }
    const cJSON *gen = cJSON_GetObjectItem(j, "greedy");
    const cJSON *gt = cJSON_GetObjectItem(gen, "tokens"), *gm = cJSON_GetObjectItem(gen, "margins");
    g->n_greedy = cJSON_GetArraySize(gt);
    g->n_predict = jint(gen, "n_predict");
    ok = ok && g->n_greedy <= 64 && g->n_predict >= g->n_greedy && cJSON_GetArraySize(gm) == g->n_greedy;
    for (int64_t i = 0; ok && i < g->n_greedy; i++) {
        g->greedy[i] = (int32_t)cJSON_GetArrayItem(gt, (int)i)->valuedouble;
        g->margins[i] = cJSON_GetArrayItem(gm, (int)i)->valuedouble;
    }
    const char *bin = cJSON_GetStringValue(cJSON_GetObjectItem(j, "full_rows_file"));
    ok = ok && bin;
    if (ok) {
        snprintf(rel, sizeof rel, "tests/golden/models/golden/%s", bin);
        size_t len = 0;
        g->full = (float *)slurp(lb_test_source(rel), &len);
        ok = g->full && len == (size_t)((g->n_tokens - g->full_first) * g->n_vocab) * sizeof(float);
    }
    if (!EXPECT(ok, "golden data for %s is malformed", name)) {
        free_golden(g);
        return false;
    }
    return true;
}

// ---- lb_model_describe against what the generator wrote ----

static const char *scaling_name(lb_rope_scaling_type t)
{
    switch (t) {
    case LB_ROPE_SCALING_NONE: return "none";
    case LB_ROPE_SCALING_LINEAR: return "linear";
    case LB_ROPE_SCALING_LLAMA3: return "llama3";
    default: return "?";
    }
}

static void check_desc(const char *what, const lb_model_desc *d, const cJSON *ex)
{
    struct {
        const char *key;
        int64_t got;
    } ints[] = {
        {"n_vocab", d->n_vocab}, {"n_embd", d->n_embd},       {"n_ff", d->n_ff},
        {"n_layer", d->n_layer}, {"n_head", d->n_head},       {"n_head_kv", d->n_head_kv},
        {"head_dim", d->head_dim}, {"n_ctx_train", d->n_ctx_train}, {"bos_id", d->bos_id},
        {"eos_id", d->eos_id},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, ints[i].key);
        if (!cJSON_IsNumber(v)) continue;
        EXPECT(ints[i].got == (int64_t)v->valuedouble, "%s: %s = %lld, want %lld", what, ints[i].key,
               (long long)ints[i].got, (long long)v->valuedouble);
    }
    struct {
        const char *key;
        double got;
    } flts[] = {{"norm_eps", d->norm_eps}, {"rope_theta", d->rope_theta}, {"rope_factor", d->rope_factor}};
    for (size_t i = 0; i < sizeof flts / sizeof flts[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, flts[i].key);
        if (!cJSON_IsNumber(v)) continue; /* null: the source does not carry it */
        EXPECT(fabs(flts[i].got - v->valuedouble) <= 1e-6 * fabs(v->valuedouble), "%s: %s = %.9g, want %.9g", what,
               flts[i].key, flts[i].got, v->valuedouble);
    }
    struct {
        const char *key;
        bool got;
    } bools[] = {{"rope_interleaved", d->rope_interleaved},
                 {"tied_embeddings", d->tied_embeddings},
                 {"qkv_bias", d->qkv_bias},
                 {"add_bos", d->add_bos}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, bools[i].key);
        if (!cJSON_IsBool(v)) continue;
        EXPECT(bools[i].got == (bool)cJSON_IsTrue(v), "%s: %s = %d, want %d", what, bools[i].key, bools[i].got,
               cJSON_IsTrue(v));
    }
    struct {
        const char *key, *got;
    } strs[] = {{"format", d->format}, {"arch", d->arch}, {"rope_scaling", scaling_name(d->rope_scaling)}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(ex, strs[i].key));
        if (!want) continue;
        EXPECT(strs[i].got && strcmp(strs[i].got, want) == 0, "%s: %s = \"%s\", want \"%s\"", what, strs[i].key,
               strs[i].got ? strs[i].got : "(null)", want);
    }
}

// ---- comparisons ----

typedef struct worst {
    double rel; /* max |got - want| / absmax(row) */
    int64_t t, v, n_checked, n_bad;
} worst;

static void compare(worst *w, const golden *g, const char *what, int64_t t, int64_t v, double got, double want,
                    const char *kind)
{
    double tol = REL_TOL * g->rows[t].absmax, d = fabs(got - want);
    if (isnan(d)) d = INFINITY;
    double rel = d / g->rows[t].absmax;
    w->n_checked++;
    if (rel > w->rel) w->rel = rel, w->t = t, w->v = v;
    if (!(d <= tol)) {
        if (w->n_bad < 8)
            fprintf(stderr, "  %s: pos %lld %s %lld: got %.7g want %.7g (diff %.3g, tol %.3g)\n", what, (long long)t,
                    kind, (long long)v, got, want, d, tol);
        w->n_bad++;
    }
}

static double logsumexp(const float *row, int64_t n)
{
    double mx = row[0], s = 0;
    for (int64_t i = 1; i < n; i++) mx = row[i] > mx ? row[i] : mx;
    for (int64_t i = 0; i < n; i++) s += exp(row[i] - mx);
    return mx + log(s);
}

static int64_t argmax(const float *row, int64_t n)
{
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (row[i] > row[b]) b = i;
    return b;
}

static void check_logits(const golden *g, const char *what, const float *logits)
{
    worst w = {0};
    int argmax_bad = 0;
    for (int64_t t = 0; t < g->n_tokens; t++) {
        const float *row = logits + t * g->n_vocab;
        const golden_row *gr = &g->rows[t];
        if (t >= g->full_first) {
            const float *want = g->full + (t - g->full_first) * g->n_vocab;
            for (int64_t v = 0; v < g->n_vocab; v++) compare(&w, g, what, t, v, row[v], want[v], "logit");
        }
        for (int k = 0; k < gr->n_top; k++)
            compare(&w, g, what, t, gr->top_id[k], row[gr->top_id[k]], gr->top_logit[k], "top logit");
        compare(&w, g, what, t, -1, logsumexp(row, g->n_vocab), gr->logsumexp, "logsumexp");
        double margin = gr->top_logit[0] - gr->top_logit[1];
        if (margin > 2 * REL_TOL * gr->absmax && argmax(row, g->n_vocab) != gr->argmax) {
            fprintf(stderr, "  %s: pos %lld: argmax %lld, want %d (margin %.3g)\n", what, (long long)t,
                    (long long)argmax(row, g->n_vocab), gr->argmax, margin);
            argmax_bad++;
        }
    }
    printf("  %s: %lld values checked over %lld positions, max |got-want| / max|want| of the row = %.3g "
           "(pos %lld, id %lld), %lld over %.0e\n",
           what, (long long)w.n_checked, (long long)g->n_tokens, w.rel, (long long)w.t, (long long)w.v,
           (long long)w.n_bad, REL_TOL);
    EXPECT(w.n_bad == 0, "%s: %lld of %lld logits outside 1e-4 relative", what, (long long)w.n_bad,
           (long long)w.n_checked);
    EXPECT(argmax_bad == 0, "%s: %d rows with the wrong argmax", what, argmax_bad);
}

// ---- greedy generation ----

typedef struct collect {
    int32_t tok[128];
    int64_t n;
    int32_t eos;
} collect;

static bool collect_token(void *user, int32_t token)
{
    collect *c = user;
    if (token == c->eos) return false;
    if (c->n < 128) c->tok[c->n++] = token;
    return true;
}

static void check_greedy(const golden *g, const char *what, lb_model *m, int32_t eos)
{
    collect c = {.eos = eos};
    lb_sample_params sp = {.temp = 0, .top_k = 0, .top_p = 1, .seed = 1};
    lb_gen_stats gs;
    lb_status st = lb_generate(m, g->ids, g->n_tokens, g->n_predict, &sp, collect_token, &c, &gs);
    if (!EXPECT(st == LB_OK, "%s: lb_generate: %s", what, lb_errmsg())) return;
    char label[160];
    snprintf(label, sizeof label, "%s greedy continuation", what);
    double min_margin = INFINITY;
    for (int64_t i = 0; i < g->n_greedy; i++) min_margin = g->margins[i] < min_margin ? g->margins[i] : min_margin;
    if (!lb_test_i32_equal(label, c.tok, g->greedy, c.n, g->n_greedy))
        fprintf(stderr, "  (smallest golden top-1/top-2 margin along the way: %.3g)\n", min_margin);
    else
        printf("  %s: greedy %lld tokens equal (smallest margin %.3g)\n", what, (long long)g->n_greedy, min_margin);
}

// ---- per model and source ----

static void test_source(const golden *g, const cJSON *src)
{
    const char *rel = cJSON_GetStringValue(cJSON_GetObjectItem(src, "path"));
    const char *path = lb_test_source(rel);
    const char *what = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    lb_model *m = NULL;
    lb_status st = lb_model_open(path, &(lb_open_params){.quiet = true}, &m);
    if (!EXPECT(st == LB_OK, "%s: lb_model_open(%s): %s", what, path, lb_errmsg())) return;
    lb_model_desc d;
    if (CHECK(lb_model_describe(m, &d) == LB_OK)) {
        printf("  %s: %s %s, n_embd %lld, n_head %lld/%lld, head_dim %lld, rope %s x%g%s, %s, %s\n", what, d.format,
               d.arch, (long long)d.n_embd, (long long)d.n_head, (long long)d.n_head_kv, (long long)d.head_dim,
               scaling_name(d.rope_scaling), d.rope_factor, d.rope_interleaved ? " interleaved" : "",
               d.tied_embeddings ? "tied" : "untied", d.qkv_bias ? "qkv bias" : "no bias");
        check_desc(what, &d, cJSON_GetObjectItem(src, "expect"));
    }
    if (EXPECT(d.n_vocab == g->n_vocab, "%s: n_vocab %lld, golden %lld", what, (long long)d.n_vocab,
               (long long)g->n_vocab)) {
        float *logits = malloc((size_t)(g->n_tokens * g->n_vocab) * sizeof(float));
        st = lb_eval_logits(m, g->ids, g->n_tokens, logits);
        if (EXPECT(st == LB_OK, "%s: lb_eval_logits: %s", what, lb_errmsg())) {
            check_logits(g, what, logits);

            /* causality: the first 7 rows do not depend on the tokens after them */
            float *pre = malloc((size_t)(7 * g->n_vocab) * sizeof(float));
            if (CHECK(lb_eval_logits(m, g->ids, 7, pre) == LB_OK)) {
                char label[160];
                snprintf(label, sizeof label, "%s prefix of 7 vs full prompt", what);
                lb_test_close(label, pre, logits, 7 * g->n_vocab, 0, 1e-5 * g->rows[0].absmax);
            }
            free(pre);
        }
        free(logits);
        check_greedy(g, what, m, d.eos_id);
    }
    lb_model_close(m);
}

static void test_model(const char *name)
{
    golden g;
    if (!load_golden(name, &g)) return;
    printf("%s: %lld tokens, %d sources\n", name, (long long)g.n_tokens, g.n_sources);
    for (int i = 0; i < g.n_sources; i++) test_source(&g, g.sources[i]);
    free_golden(&g);
}

int main(void)
{
    test_model("synth-qwen2");
    test_model("synth-llama3");
    test_model("synth-mistral");
    return lb_test_finish();
}
