/* Golden logits: loading the golden data and the checks of golden_logits.h (the criterion is
 * stated there). Printed evidence: per model, how many values were checked and the worst
 * |got - want| relative to the row's max |want|, with its position and token id. */
#include "golden_logits.h"

#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-4

// ---- golden data ----

void lb_golden_free(lb_golden *g)
{
    cJSON_Delete(g->doc);
    free(g->full);
    memset(g, 0, sizeof *g);
}

bool lb_golden_load(lb_golden *g, const char *dir, const char *name, bool with_sources)
{
    memset(g, 0, sizeof *g);
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s.json", dir, name);
    char *txt = lb_test_read_file(lb_test_source(rel), NULL);
    if (!EXPECT(txt != NULL, "cannot read %s", lb_test_source(rel))) return false;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!EXPECT(j != NULL, "%s is not JSON", rel)) return false;
    g->doc = j;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->n_tokens = lb_test_jint(j, "n_tokens");
    g->n_vocab = lb_test_jint(j, "n_vocab");
    g->full_first = lb_test_jint(j, "full_rows_first");
    /* more than 7 tokens: the causality check evaluates a 7-token prefix */
    bool ok = g->n_tokens > 7 && g->n_tokens <= LB_GOLDEN_MAX_TOKENS && g->n_vocab > 0 && g->full_first >= 0 &&
              g->full_first <= g->n_tokens;
    if (with_sources) {
        const cJSON *srcs = cJSON_GetObjectItem(j, "sources");
        g->n_sources = cJSON_GetArraySize(srcs);
        ok = ok && g->n_sources >= 1 && g->n_sources <= LB_GOLDEN_MAX_SOURCES;
        for (int i = 0; ok && i < g->n_sources; i++) {
            g->sources[i] = cJSON_GetArrayItem(srcs, i);
            ok = cJSON_IsString(cJSON_GetObjectItem(g->sources[i], "path")) &&
                 cJSON_IsObject(cJSON_GetObjectItem(g->sources[i], "expect"));
        }
    } else {
        const char *spec = cJSON_GetStringValue(cJSON_GetObjectItem(j, "model_path"));
        ok = ok && spec;
        lb_test_resolve(spec, g->model_path, sizeof g->model_path);
    }
    const cJSON *ids = cJSON_GetObjectItem(j, "prompt_ids"), *rows = cJSON_GetObjectItem(j, "rows");
    ok = ok && cJSON_GetArraySize(ids) == g->n_tokens && cJSON_GetArraySize(rows) == g->n_tokens;
    for (int64_t t = 0; ok && t < g->n_tokens; t++) {
        g->ids[t] = (int32_t)cJSON_GetArrayItem(ids, (int)t)->valuedouble;
        const cJSON *r = cJSON_GetArrayItem(rows, (int)t), *top = cJSON_GetObjectItem(r, "top");
        lb_golden_row *gr = &g->rows[t];
        gr->argmax = (int32_t)lb_test_jint(r, "argmax");
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
    g->n_predict = lb_test_jint(gen, "n_predict");
    ok = ok && g->n_greedy <= 64 && g->n_predict >= g->n_greedy && cJSON_GetArraySize(gm) == g->n_greedy;
    for (int64_t i = 0; ok && i < g->n_greedy; i++) {
        g->greedy[i] = (int32_t)cJSON_GetArrayItem(gt, (int)i)->valuedouble;
        g->margins[i] = cJSON_GetArrayItem(gm, (int)i)->valuedouble;
    }
    const char *bin = cJSON_GetStringValue(cJSON_GetObjectItem(j, "full_rows_file"));
    ok = ok && bin;
    if (ok) {
        snprintf(rel, sizeof rel, "%s/%s", dir, bin);
        size_t len = 0;
        g->full = (float *)lb_test_read_file(lb_test_source(rel), &len);
        ok = g->full && len == (size_t)((g->n_tokens - g->full_first) * g->n_vocab) * sizeof(float);
    }
    if (!EXPECT(ok, "golden data for %s is malformed", name)) {
        lb_golden_free(g);
        return false;
    }
    return true;
}

// ---- logits of the prompt ----

typedef struct worst {
    double rel; /* max |got - want| / absmax(row) */
    int64_t t, v, n_checked, n_bad;
} worst;

static void compare(worst *w, const lb_golden *g, const char *what, int64_t t, int64_t v, double got, double want,
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

static void check_logits(const lb_golden *g, const char *what, const float *logits)
{
    worst w = {0};
    int argmax_bad = 0;
    for (int64_t t = 0; t < g->n_tokens; t++) {
        const float *row = logits + t * g->n_vocab;
        const lb_golden_row *gr = &g->rows[t];
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

static void check_greedy(const lb_golden *g, const char *what, lb_model *m, int32_t eos)
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

// ---- one model ----

void lb_golden_check_model(const lb_golden *g, const char *what, lb_model *m, const lb_model_desc *d)
{
    if (!EXPECT(d->n_vocab == g->n_vocab, "%s: n_vocab %lld, golden %lld", what, (long long)d->n_vocab,
                (long long)g->n_vocab))
        return;
    float *logits = malloc((size_t)(g->n_tokens * g->n_vocab) * sizeof(float));
    lb_status st = lb_eval_logits(m, g->ids, g->n_tokens, logits);
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
    check_greedy(g, what, m, d->eos_id);
}
