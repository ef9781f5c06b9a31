/* lowbit stats (src/eval/stats*.c, `lowbit stats`) against independent truth.
 *
 *  - numbers: Pearson kurtosis of hand-made vectors with known values (1..5 gives 1.7; one
 *    spike among n zeros gives (n^2 - 3n + 3) / (n - 1); an offset of 1e4 changes nothing, which
 *    the one-pass power sums would get wrong), max/median with odd and even counts, top-k order
 *    with ties.
 *  - end to end on tinystories-656k with the first windows of tinystories_validation_head.txt:
 *    one input per layer and group, one weight per layer and kind, finite kurtosis >= 1 (the
 *    Pearson bound), top channels sorted and equal to the largest per-channel values, max/median
 *    recomputed from the channel arrays, Q4_0 RTN error in (0, 1), the float error 0, the weight
 *    kurtosis of blk 0's q_proj equal to a naive f64 computation on the tensor decoded here; the
 *    same numbers with 1 and 2 threads.
 *  - methods: AWQ's error never above round to nearest (and lower on average), rotation and the
 *    8-bit methods (W8A8 plain and SmoothQuant) measured on every weight.
 *  - bad input: an unknown --after method, a missing or too short calibration text ->
 *    a status and a message naming what is wrong; the CLI leaves an existing report untouched.
 *  - rendering: the HTML page loads in headless Chromium (Debian's chromium, which
 *    scripts/setup.sh installs), its DOM has the plots with their labels, and the screenshot is
 *    a real PNG. Without chromium this test fails rather than skips. */
#include "lowbit.h"
#include "test_util.h"

#include "eval/stats.h"
#include "io/source.h"
#include "model/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL "models/tinystories-656k-hf"
#define CALIB "data/tinystories/tinystories_validation_head.txt"

// ---- numeric helpers ----

static void test_helpers(void)
{
    float a[5] = {1, 2, 3, 4, 5};
    CHECKF(fabs(lb_stats_kurtosis(a, 5) - 1.7) < 1e-12, "kurtosis(1..5) = %.17g, want 1.7", lb_stats_kurtosis(a, 5));
    float off[5] = {10001, 10002, 10003, 10004, 10005};
    CHECKF(fabs(lb_stats_kurtosis(off, 5) - 1.7) < 1e-9, "kurtosis(1e4 + 1..5) = %.17g, want 1.7",
           lb_stats_kurtosis(off, 5));
    float spike[8] = {0, 0, 0, 0, 0, 0, 0, 10};
    CHECKF(fabs(lb_stats_kurtosis(spike, 8) - 43.0 / 7.0) < 1e-12, "kurtosis(spike of 8) = %.17g, want 43/7",
           lb_stats_kurtosis(spike, 8));
    float sym[4] = {-1, 1, -1, 1}; /* two-point symmetric: the minimum, 1 */
    CHECKF(fabs(lb_stats_kurtosis(sym, 4) - 1.0) < 1e-12, "kurtosis(+-1) = %.17g, want 1", lb_stats_kurtosis(sym, 4));
    float flat[3] = {2, 2, 2};
    CHECK(isnan(lb_stats_kurtosis(flat, 3)) && isnan(lb_stats_kurtosis(a, 1)));

    float even[4] = {1, 3, 2, 10}, odd[3] = {5, 1, 3}, zmed[3] = {0, 0, 4};
    CHECKF(fabs(lb_stats_max_median(even, 4) - 4.0) < 1e-12, "max/median(1,3,2,10) = %g, want 4",
           lb_stats_max_median(even, 4));
    CHECKF(fabs(lb_stats_max_median(odd, 3) - 5.0 / 3.0) < 1e-12, "max/median(5,1,3) = %g, want 5/3",
           lb_stats_max_median(odd, 3));
    CHECK(isnan(lb_stats_max_median(zmed, 3)));

    float v[6] = {1, 5, 3, 5, 0, 9};
    lb_stats_channel top[8];
    int n = lb_stats_top_k(v, 6, 3, top);
    CHECKF(n == 3 && top[0].index == 5 && top[1].index == 1 && top[2].index == 3 && top[1].value == 5,
           "top 3 of {1,5,3,5,0,9}: %d: #%lld #%lld #%lld, want #5 #1 #3", n, (long long)top[0].index,
           (long long)top[1].index, (long long)top[2].index);
    n = lb_stats_top_k(v, 6, 8, top);
    CHECKF(n == 6 && top[5].index == 4, "top 8 of 6 values: %d, last #%lld", n, (long long)top[5].index);
}

// ---- end to end ----

static lb_stats *run(int n_threads, const char *after)
{
    lb_stats_params p = {.calib = lb_test_shared(CALIB), .after = after, .open = {.n_threads = n_threads, .quiet = true}};
    lb_stats *s = NULL;
    lb_status st = lb_stats_run(lb_test_shared(MODEL), &p, &s);
    CHECKF(st == LB_OK && s, "lb_stats_run: %s", lb_errmsg());
    return s;
}

static cJSON *as_json(const lb_stats *s)
{
    char *text = NULL;
    lb_status st = lb_stats_json(s, &text);
    CHECKF(st == LB_OK, "lb_stats_json: %s", lb_errmsg());
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECKF(j != NULL, "the JSON does not parse");
    free(text);
    return j;
}

/* Descending and equal to the channel array's largest entries. */
static bool top_ok(const cJSON *top, const cJSON *channels, const char *key, const char *what)
{
    int n = cJSON_GetArraySize(top);
    double prev = INFINITY, mx = 0;
    for (int i = 0; channels && i < cJSON_GetArraySize(channels); i++)
        mx = fmax(mx, cJSON_GetArrayItem(channels, i)->valuedouble);
    bool ok = n == LB_STATS_TOP;
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(top, i);
        double v = lb_test_jnum(t, "max_abs");
        int64_t idx = lb_test_jint(t, key);
        ok &= v <= prev && idx >= 0;
        if (channels) ok &= fabs(cJSON_GetArrayItem(channels, (int)idx)->valuedouble - v) <= 1e-4 * v;
        prev = v;
    }
    if (channels && n) ok &= fabs(lb_test_jnum(cJSON_GetArrayItem(top, 0), "max_abs") - mx) <= 1e-4 * mx;
    return EXPECT(ok, "%s: top list of %d not sorted or not the largest channels", what, n);
}

static void check_inputs(const cJSON *j, int64_t n_layer)
{
    const cJSON *in = cJSON_GetObjectItem(j, "inputs");
    static const char *const roles[4] = {"qkv", "o", "gate_up", "down"};
    CHECKF(cJSON_GetArraySize(in) == n_layer * 4, "%d inputs for %lld layers", cJSON_GetArraySize(in),
           (long long)n_layer);
    for (int i = 0; i < cJSON_GetArraySize(in); i++) {
        const cJSON *e = cJSON_GetArrayItem(in, i), *k = cJSON_GetObjectItem(e, "kurtosis");
        char what[64];
        snprintf(what, sizeof what, "input %lld/%s", (long long)lb_test_jint(e, "layer"), lb_test_jstr(e, "role"));
        CHECKF(lb_test_jint(e, "layer") == i / 4 && !strcmp(lb_test_jstr(e, "role"), roles[i % 4]), "%s at %d", what, i);
        double km = lb_test_jnum(k, "mean"), ks = lb_test_jnum(k, "std");
        CHECKF(isfinite(km) && km >= 1 && isfinite(ks) && ks >= 0, "%s: kurtosis %g +- %g", what, km, ks);
        CHECKF(lb_test_jint(e, "n_tokens") == 16 * 256, "%s: %lld tokens", what, (long long)lb_test_jint(e, "n_tokens"));
        const cJSON *ch = cJSON_GetObjectItem(e, "channel_max_abs");
        CHECKF(cJSON_GetArraySize(ch) == lb_test_jint(e, "n_in"), "%s: %d channels", what, cJSON_GetArraySize(ch));
        top_ok(cJSON_GetObjectItem(e, "top"), ch, "channel", what);
        int n = cJSON_GetArraySize(ch);
        float *v = malloc(sizeof(float) * (size_t)n);
        for (int c = 0; c < n; c++) v[c] = (float)cJSON_GetArrayItem(ch, c)->valuedouble;
        double mm = lb_test_jnum(e, "max_median"), want = lb_stats_max_median(v, n);
        CHECKF(fabs(mm - want) <= 1e-3 * want, "%s: max/median %g, recomputed %g", what, mm, want);
        free(v);
    }
}

static void check_weights(const cJSON *j, int64_t n_layer)
{
    const cJSON *w = cJSON_GetObjectItem(j, "weights");
    static const char *const kinds[7] = {"q", "k", "v", "o", "gate", "up", "down"};
    CHECKF(cJSON_GetArraySize(w) == n_layer * 7, "%d weights for %lld layers", cJSON_GetArraySize(w), (long long)n_layer);
    for (int i = 0; i < cJSON_GetArraySize(w); i++) {
        const cJSON *e = cJSON_GetArrayItem(w, i), *err = cJSON_GetObjectItem(e, "rel_err");
        char what[96];
        snprintf(what, sizeof what, "weight %s", lb_test_jstr(e, "name"));
        CHECKF(lb_test_jint(e, "layer") == i / 7 && !strcmp(lb_test_jstr(e, "kind"), kinds[i % 7]), "%s at %d", what, i);
        double k = lb_test_jnum(e, "kurtosis"), rtn = lb_test_jnum(err, "rtn");
        CHECKF(isfinite(k) && k >= 1, "%s: kurtosis %g", what, k);
        CHECKF(lb_test_jnum(err, "float") == 0 && rtn > 0 && rtn < 1, "%s: float error %g, rtn error %g", what,
               lb_test_jnum(err, "float"), rtn);
        top_ok(cJSON_GetObjectItem(e, "top"), NULL, "column", what);
    }
}

/* blk 0's q_proj decoded here, its kurtosis and largest column by plain f64 loops. */
static void check_weight_truth(const cJSON *j)
{
    lb_source *src = NULL;
    if (!EXPECT(lb_source_open(lb_test_shared(MODEL), &src) == LB_OK, "open source: %s", lb_errmsg())) return;
    const lb_tensor_info *t = lb_source_find(src, "model.layers.0.self_attn.q_proj.weight");
    float *w = NULL;
    if (EXPECT(t && lb_tensor_to_f32(t, &w) == LB_OK, "decode q_proj: %s", lb_errmsg())) {
        int64_t n = t->n_elements, cols = t->shape[1];
        double mu = 0, m2 = 0, m4 = 0, best = -1;
        int64_t best_col = -1;
        for (int64_t i = 0; i < n; i++) mu += w[i];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = w[i] - mu;
            m2 += d * d / (double)n;
            m4 += d * d * d * d / (double)n;
            if (fabs(w[i]) > best) best = fabs(w[i]), best_col = i % cols;
        }
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "weights"), 0);
        double got = lb_test_jnum(e, "kurtosis"), want = m4 / (m2 * m2);
        CHECKF(fabs(got - want) <= 1e-5 * want, "q_proj kurtosis %.9g, naive %.9g", got, want);
        const cJSON *top0 = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "top"), 0);
        CHECKF(lb_test_jint(top0, "column") == best_col && fabs(lb_test_jnum(top0, "max_abs") - best) <= 1e-5 * best,
               "q_proj top column #%lld %g, naive #%lld %g", (long long)lb_test_jint(top0, "column"),
               lb_test_jnum(top0, "max_abs"), (long long)best_col, best);
    }
    free(w);
    lb_source_close(src);
}

/* The report without its timing, for comparisons. */
static char *untimed(cJSON *j)
{
    cJSON_DeleteItemFromObject(j, "seconds");
    return cJSON_PrintUnformatted(j);
}

/* Every method measured on every weight: AWQ tries "no scaling" among its candidates, so its
 * error never exceeds round to nearest; the 8-bit methods are an order of magnitude below the
 * 4-bit ones; rotation applies wherever Q4_0 does. */
static void test_methods(void)
{
    lb_stats *s = run(2, "rtn,awq,rotate,w8a8,smoothquant");
    if (!s) return;
    lb_stats_info info;
    lb_stats_describe(s, &info);
    CHECKF(info.n_methods == 6 && !strcmp(info.methods[2], "awq") && !strcmp(info.methods[5], "smoothquant"),
           "%d methods", info.n_methods);
    double sum[6] = {0};
    int64_t n = 0;
    for (int64_t i = 0; i < info.n_layer * 7; i++) {
        lb_stats_weight w;
        if (!CHECK(lb_stats_weight_get(s, i, &w))) break;
        const double *e = w.rel_err;
        CHECKF(e[2] <= e[1] * (1 + 1e-6), "%s: awq error %g above rtn %g", w.name, e[2], e[1]);
        CHECKF(isfinite(e[3]) && e[3] > 0 && e[3] < 1, "%s: rotate error %g", w.name, e[3]);
        CHECKF(e[4] > 0 && e[4] < 0.5 * e[1] && e[5] > 0 && e[5] < 0.5 * e[1], "%s: w8a8 %g, smoothquant %g vs rtn %g",
               w.name, e[4], e[5], e[1]);
        for (int k = 1; k < 6; k++) sum[k] += e[k];
        n++;
    }
    printf("  mean relative output error over %lld weights: rtn %.4f awq %.4f rotate %.4f w8a8 %.4f smoothquant %.4f\n",
           (long long)n, sum[1] / n, sum[2] / n, sum[3] / n, sum[4] / n, sum[5] / n);
    CHECKF(sum[2] < 0.97 * sum[1], "AWQ lowers the mean error: %g vs rtn %g", sum[2] / n, sum[1] / n);
    lb_stats_free(s);
}

static void test_end_to_end(void)
{
    lb_stats *s2 = run(2, "rtn"), *s1 = run(1, "rtn");
    if (!s1 || !s2) {
        lb_stats_free(s1);
        lb_stats_free(s2);
        return;
    }
    lb_stats_info info;
    lb_stats_describe(s2, &info);
    CHECKF(info.n_layer == 2 && info.n_windows == 16 && info.n_tokens == 16 * 256 && info.n_sampled == 256 &&
               info.n_methods == 2 && !strcmp(info.methods[1], "rtn"),
           "info: %lld layers, %lld windows, %lld tokens, %lld sampled, %d methods", (long long)info.n_layer,
           (long long)info.n_windows, (long long)info.n_tokens, (long long)info.n_sampled, info.n_methods);
    cJSON *j2 = as_json(s2), *j1 = as_json(s1);
    if (j2) {
        check_inputs(j2, info.n_layer);
        check_weights(j2, info.n_layer);
        check_weight_truth(j2);
        const cJSON *in0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j2, "inputs"), 0);
        lb_stats_input pin;
        CHECKF(lb_stats_input_get(s2, 0, &pin) && fabs(pin.kurt_mean - lb_test_jnum(cJSON_GetObjectItem(in0, "kurtosis"), "mean")) <= 1e-5 * pin.kurt_mean,
               "lb_stats_input_get and the JSON disagree");
    }
    if (j1 && j2) {
        char *a = untimed(j1), *b = untimed(j2);
        CHECKF(a && b && !strcmp(a, b), "the report differs between 1 and 2 threads");
        free(a);
        free(b);
    }
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    lb_stats_free(s1);
    lb_stats_free(s2);
}

// ---- bad input ----

static void expect_fail(const char *after, const char *calib, lb_status want, const char *needle)
{
    lb_stats_params p = {.calib = calib, .after = after, .open = {.quiet = true}};
    lb_stats *s = NULL;
    lb_status st = lb_stats_run(lb_test_shared(MODEL), &p, &s);
    CHECKF(st == want && !s && strstr(lb_errmsg(), needle), "after '%s', calib %s: status %s, message '%s' (want %s, '%s')",
           after ? after : "", calib, lb_status_name(st), lb_errmsg(), lb_status_name(want), needle);
}

static void test_bad_input(void)
{
    const char *calib = lb_test_shared(CALIB);
    expect_fail("rtn,zoq", calib, LB_ERR_ARG, "zoq");
    expect_fail("gptq4", calib, LB_ERR_ARG, "gptq4");
    char missing[512], tiny[512];
    snprintf(missing, sizeof missing, "%s/no-such-text.txt", lb_test_tmpdir());
    expect_fail("rtn", missing, LB_ERR_IO, "no-such-text.txt");
    snprintf(tiny, sizeof tiny, "%s/tiny.txt", lb_test_tmpdir());
    FILE *f = fopen(tiny, "w");
    fputs("Once upon a time.", f);
    fclose(f);
    expect_fail(NULL, tiny, LB_ERR_ARG, "tiny.txt");

    /* the CLI: a failed run leaves an existing report untouched */
    char out[512], args[2048], *log = NULL;
    snprintf(out, sizeof out, "%s/old.html", lb_test_tmpdir());
    f = fopen(out, "w");
    fputs("old", f);
    fclose(f);
    snprintf(args, sizeof args, "stats '%s' --calib '%s' --after zoq -o '%s'", lb_test_shared(MODEL), calib, out);
    int rc = lb_test_run_cli(args, &log);
    char *kept = lb_test_read_file(out, NULL);
    CHECKF(rc != 0 && strstr(log, "zoq") && kept && !strcmp(kept, "old"), "--after zoq: exit %d, report '%s', log: %s",
           rc, kept ? kept : "(none)", log);
    free(kept);
    free(log);
    snprintf(args, sizeof args, "stats '%s' --calib '%s' -o '%s'", lb_test_shared(MODEL), tiny, out);
    rc = lb_test_run_cli(args, &log);
    kept = lb_test_read_file(out, NULL);
    CHECKF(rc == 1 && strstr(log, "tiny.txt") && kept && !strcmp(kept, "old"), "short text: exit %d, log: %s", rc, log);
    free(kept);
    free(log);
}

// ---- the HTML page in a browser ----

static const char *find_chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *env = getenv("LOWBIT_CHROMIUM");
    if (env && *env) return env;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", names[i]);
        if (system(cmd) == 0) return names[i];
    }
    return NULL;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_browser(void)
{
    const char *dir = lb_test_tmpdir();
    char html[512], json[512], png[512], dom[512], args[2048], *log = NULL;
    snprintf(html, sizeof html, "%s/report.html", dir);
    snprintf(json, sizeof json, "%s/report.json", dir);
    snprintf(png, sizeof png, "%s/report.png", dir);
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(args, sizeof args, "stats '%s' --calib '%s' --after rtn -o '%s'", lb_test_shared(MODEL),
             lb_test_shared(CALIB), html);
    int rc = lb_test_run_cli(args, &log);
    CHECKF(rc == 0 && lb_test_file_exists(html), "lowbit stats -o report.html: exit %d: %s", rc, log);
    free(log);
    snprintf(args, sizeof args, "stats '%s' --calib '%s' --calib-samples 2 --calib-len 64 --after rtn -o '%s'",
             lb_test_shared(MODEL), lb_test_shared(CALIB), json);
    rc = lb_test_run_cli(args, &log);
    cJSON *j = lb_test_load_json(json);
    CHECKF(rc == 0 && j && lb_test_jint(j, "n_tokens") == 128, "lowbit stats -o report.json: exit %d: %s", rc, log);
    cJSON_Delete(j);
    free(log);

    const char *chromium = find_chromium();
    if (!EXPECT(chromium != NULL, "no chromium binary found (chromium, chromium-browser, google-chrome or "
                                  "$LOWBIT_CHROMIUM): scripts/setup.sh installs Debian's chromium (CI installs it)"))
        return;
    const char *flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars";
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s %s --user-data-dir='%s/chrome' --screenshot='%s' --window-size=1200,3000 'file://%s' "
             ">'%s/shot.log' 2>&1",
             chromium, flags, dir, png, html, dir);
    rc = system(cmd);
    size_t png_len = 0;
    char *img = lb_test_read_file(png, &png_len);
    CHECKF(rc == 0 && img && png_len > 20000 && !memcmp(img, "\x89PNG\r\n\x1a\n", 8),
           "chromium screenshot: exit %d, %zu bytes (want a PNG > 20 KB); see %s/shot.log", rc, png_len, dir);
    free(img);
    snprintf(cmd, sizeof cmd, "timeout 120 %s %s --user-data-dir='%s/chrome' --dump-dom 'file://%s' >'%s' 2>/dev/null",
             chromium, flags, dir, html, dom);
    rc = system(cmd);
    char *page = lb_test_read_file(dom, NULL);
    int n_plots = count(page, "<svg class=\"plot\"");
    CHECKF(rc == 0 && page && n_plots >= 4, "chromium --dump-dom: exit %d, %d <svg class=\"plot\"> (want >= 4)", rc,
           n_plots);
    static const char *const labels[] = {
        "Layer 0, qkv input: per-channel max|x| and mean|x|", "Layer 1, down input: per-channel max|x| and mean|x|",
        "Activation kurtosis by layer", "Weight kurtosis by layer", "RTN (Q4_0) error by layer", "input channel",
        "model.layers.1.mlp.down_proj.weight"};
    for (size_t i = 0; page && i < sizeof labels / sizeof labels[0]; i++)
        CHECKF(count(page, labels[i]) >= 1, "the page lacks '%s'", labels[i]);
    CHECKF(page && count(page, "<script") == 0 && count(page, "<link") == 0 && count(page, "src=\"http") == 0,
           "the page loads something from elsewhere");
    free(page);
}

int main(void)
{
    test_helpers();
    test_end_to_end();
    test_methods();
    test_bad_input();
    test_browser();
    return lb_test_finish();
}
