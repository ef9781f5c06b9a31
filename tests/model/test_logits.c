/* Golden logits: the forward pass against Hugging Face transformers (PyTorch, float64) on three
 * real models, for a fixed 16-token prompt given as token ids (so this does not depend on our
 * tokenizer). The golden data and how it was made: tests/golden/make_logits_golden.py and
 * tests/golden/logits/<model>.json.
 *
 * Criterion, per position t (one row of n_vocab logits):
 *     |got[t][v] - want[t][v]| <= 1e-4 * max_v' |want[t][v']|
 * i.e. 1e-4 relative to the row's largest magnitude, checked on every logit of the rows stored
 * in full (all 16 for the tiny models, the last 4 for SmolLM2), on the golden top-20 of every row,
 * and on each row's logsumexp (which moves by at most the largest logit error). The argmax must
 * agree wherever the golden top-1/top-2 margin exceeds twice the tolerance.
 *
 * Also: 20 greedy tokens from lb_generate (temp 0, KV cache) equal the golden greedy
 * continuation (a full forward pass per step in transformers); logits of a prefix equal the
 * first rows of the full prompt (causality); one thread and two threads give identical bits. */
#include "lowbit.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#define REL_TOL 1e-4

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
    char name[64], model_path[4096];
    int32_t ids[64];
    int64_t n_tokens, n_vocab, full_first;
    float *full; /* [n_tokens - full_first][n_vocab] */
    golden_row rows[64];
    int32_t greedy[64];
    double margins[64];
    int64_t n_greedy;
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

/* "shared:models/x" -> ../shared/models/x, "source:.cache/x" -> <repo>/.cache/x */
static void resolve(const char *spec, char *out, size_t cap)
{
    if (strncmp(spec, "shared:", 7) == 0) snprintf(out, cap, "%s", lb_test_shared(spec + 7));
    else if (strncmp(spec, "source:", 7) == 0) snprintf(out, cap, "%s", lb_test_source(spec + 7));
    else snprintf(out, cap, "%s", spec);
}

static bool load_golden(const char *name, golden *g)
{
    memset(g, 0, sizeof *g);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/logits/%s.json", name);
    char *txt = slurp(lb_test_source(rel), NULL);
    if (!EXPECT(txt != NULL, "cannot read %s", lb_test_source(rel))) return false;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!EXPECT(j != NULL, "%s is not JSON", rel)) return false;
    snprintf(g->name, sizeof g->name, "%s", name);
    resolve(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model_path")), g->model_path, sizeof g->model_path);
    g->n_tokens = jint(j, "n_tokens");
    g->n_vocab = jint(j, "n_vocab");
    g->full_first = jint(j, "full_rows_first");
    bool ok = g->n_tokens > 0 && g->n_tokens <= 64 && g->n_vocab > 0 && g->full_first >= 0 && g->full_first <= g->n_tokens;
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
        ok = gr->n_top >= 2 && gr->n_top <= 32;
        for (int k = 0; ok && k < gr->n_top; k++) {
            const cJSON *pair = cJSON_GetArrayItem(top, k);
            gr->top_id[k] = (int32_t)cJSON_GetArrayItem(pair, 0)->valuedouble;
            gr->top_logit[k] = cJSON_GetArrayItem(pair, 1)->valuedouble;
        }
    }
    const cJSON *gen = cJSON_GetObjectItem(j, "greedy");
    const cJSON *gt = cJSON_GetObjectItem(gen, "tokens"), *gm = cJSON_GetObjectItem(gen, "margins");
    g->n_greedy = cJSON_GetArraySize(gt);
    ok = ok && g->n_greedy <= 64 && cJSON_GetArraySize(gm) == g->n_greedy;
    for (int64_t i = 0; ok && i < g->n_greedy; i++) {
        g->greedy[i] = (int32_t)cJSON_GetArrayItem(gt, (int)i)->valuedouble;
        g->margins[i] = cJSON_GetArrayItem(gm, (int)i)->valuedouble;
    }
    const char *bin = cJSON_GetStringValue(cJSON_GetObjectItem(j, "full_rows_file"));
    if (ok && bin) {
        snprintf(rel, sizeof rel, "tests/golden/logits/%s", bin);
        size_t len = 0;
        g->full = (float *)slurp(lb_test_source(rel), &len);
        ok = g->full && len == (size_t)((g->n_tokens - g->full_first) * g->n_vocab) * sizeof(float);
    }
    cJSON_Delete(j);
    return EXPECT(ok, "golden data for %s is malformed", name);
}

// ---- comparisons ----

typedef struct worst {
    double rel; /* max |got - want| / absmax(row) */
    int64_t t, v, n_checked, n_bad;
} worst;

static void compare(worst *w, const golden *g, int64_t t, int64_t v, double got, double want, const char *what)
{
    double tol = REL_TOL * g->rows[t].absmax, d = fabs(got - want);
    if (isnan(d)) d = INFINITY;
    double rel = d / g->rows[t].absmax;
    w->n_checked++;
    if (rel > w->rel) w->rel = rel, w->t = t, w->v = v;
    if (!(d <= tol)) {
        if (w->n_bad < 8)
            fprintf(stderr, "  %s: pos %lld %s %lld: got %.7g want %.7g (diff %.3g, tol %.3g)\n", g->name, (long long)t,
                    what, (long long)v, got, want, d, tol);
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

static void check_logits(const golden *g, const float *logits)
{
    worst w = {0};
    int argmax_bad = 0;
    for (int64_t t = 0; t < g->n_tokens; t++) {
        const float *row = logits + t * g->n_vocab;
        const golden_row *gr = &g->rows[t];
        if (t >= g->full_first) {
            const float *want = g->full + (t - g->full_first) * g->n_vocab;
            for (int64_t v = 0; v < g->n_vocab; v++) compare(&w, g, t, v, row[v], want[v], "logit");
        }
        for (int k = 0; k < gr->n_top; k++) compare(&w, g, t, gr->top_id[k], row[gr->top_id[k]], gr->top_logit[k], "top logit");
        compare(&w, g, t, -1, logsumexp(row, g->n_vocab), gr->logsumexp, "logsumexp");
        double margin = gr->top_logit[0] - gr->top_logit[1];
        if (margin > 2 * REL_TOL * gr->absmax && argmax(row, g->n_vocab) != gr->argmax) {
            fprintf(stderr, "  %s: pos %lld: argmax %lld, want %d (margin %.3g)\n", g->name, (long long)t,
                    (long long)argmax(row, g->n_vocab), gr->argmax, margin);
            argmax_bad++;
        }
    }
    printf("  %s: %lld values checked, max |got-want| / max|want| of the row = %.3g (pos %lld, id %lld), "
           "%lld over %.0e\n",
           g->name, (long long)w.n_checked, w.rel, (long long)w.t, (long long)w.v, (long long)w.n_bad, REL_TOL);
    EXPECT(w.n_bad == 0, "%s: %lld of %lld logits outside 1e-4 relative", g->name, (long long)w.n_bad,
           (long long)w.n_checked);
    EXPECT(argmax_bad == 0, "%s: %d rows with the wrong argmax", g->name, argmax_bad);
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

static void check_greedy(const golden *g, lb_model *m, int32_t eos)
{
    collect c = {.eos = eos};
    lb_sample_params sp = {.temp = 0, .top_k = 0, .top_p = 1, .seed = 1};
    lb_gen_stats gs;
    lb_status st = lb_generate(m, g->ids, g->n_tokens, 20, &sp, collect_token, &c, &gs);
    if (!EXPECT(st == LB_OK, "%s: lb_generate: %s", g->name, lb_errmsg())) return;
    char what[128];
    snprintf(what, sizeof what, "%s greedy continuation", g->name);
    double min_margin = INFINITY;
    for (int64_t i = 0; i < g->n_greedy; i++) min_margin = g->margins[i] < min_margin ? g->margins[i] : min_margin;
    if (!lb_test_i32_equal(what, c.tok, g->greedy, c.n, g->n_greedy))
        fprintf(stderr, "  (smallest golden top-1/top-2 margin along the way: %.3g)\n", min_margin);
    else
        printf("  %s: greedy 20 tokens equal (smallest margin %.3g)\n", g->name, min_margin);
}

// ---- per model ----

static bool exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void test_model(const char *name, bool optional)
{
    golden g;
    if (!load_golden(name, &g)) return;
    if (optional && !exists(g.model_path)) {
        printf("  SKIP %s: %s not present (scripts/fetch-default-model.sh fetches it)\n", name, g.model_path);
        free(g.full);
        return;
    }
    lb_model *m = NULL;
    lb_status st = lb_model_open(g.model_path, &(lb_open_params){.quiet = true}, &m);
    if (!EXPECT(st == LB_OK, "%s: lb_model_open(%s): %s", name, g.model_path, lb_errmsg())) {
        free(g.full);
        return;
    }
    lb_model_desc d;
    CHECK(lb_model_describe(m, &d) == LB_OK);
    if (EXPECT(d.n_vocab == g.n_vocab, "%s: n_vocab %lld, golden %lld", name, (long long)d.n_vocab, (long long)g.n_vocab)) {
        float *logits = malloc((size_t)(g.n_tokens * g.n_vocab) * sizeof(float));
        st = lb_eval_logits(m, g.ids, g.n_tokens, logits);
        if (EXPECT(st == LB_OK, "%s: lb_eval_logits: %s", name, lb_errmsg())) {
            check_logits(&g, logits);

            /* causality: the first 7 rows do not depend on the tokens after them */
            float *pre = malloc((size_t)(7 * g.n_vocab) * sizeof(float));
            if (CHECK(lb_eval_logits(m, g.ids, 7, pre) == LB_OK)) {
                char what[96];
                snprintf(what, sizeof what, "%s prefix of 7 vs full prompt", name);
                lb_test_close(what, pre, logits, 7 * g.n_vocab, 0, 1e-5 * g.rows[0].absmax);
            }
            free(pre);
        }
        free(logits);
        check_greedy(&g, m, d.eos_id);
    }
    lb_model_close(m);
    free(g.full);
}

/* Threads split rows, never a reduction: one and two threads give the same bits. */
static void test_threads(void)
{
    golden g;
    if (!load_golden("tinystories-656k", &g)) return;
    float *l1 = malloc((size_t)(g.n_tokens * g.n_vocab) * sizeof(float));
    float *l2 = malloc((size_t)(g.n_tokens * g.n_vocab) * sizeof(float));
    lb_model *m1 = NULL, *m2 = NULL;
    if (CHECK(lb_model_open(g.model_path, &(lb_open_params){.n_threads = 1, .quiet = true}, &m1) == LB_OK) &&
        CHECK(lb_model_open(g.model_path, &(lb_open_params){.n_threads = 2, .quiet = true}, &m2) == LB_OK) &&
        CHECK(lb_eval_logits(m1, g.ids, g.n_tokens, l1) == LB_OK) && CHECK(lb_eval_logits(m2, g.ids, g.n_tokens, l2) == LB_OK))
        lb_test_bits_equal("tinystories-656k logits, 1 vs 2 threads", l1, l2, g.n_tokens * g.n_vocab);
    lb_model_close(m1);
    lb_model_close(m2);
    free(l1);
    free(l2);
    free(g.full);
}

int main(void)
{
    test_model("tinystories-656k", false);
    test_model("stories260k", false);
    test_model("smollm2-135m-q4_1", true);
    test_threads();
    return lb_test_finish();
}
