/* lowbit stats: the report as JSON (cJSON), the text buffer the writers share, and the atomic
 * file write (temporary name, fsync, rename) both formats go through. The JSON holds the same
 * numbers as the HTML page: per layer and linear group the input statistics with every
 * channel's max |x| and mean |x|, per weight its statistics and each method's error. Non-finite
 * values (a ratio with a zero median, a method that cannot apply) are null. */
#include "eval/stats.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

// ---- text buffer ----

static bool sbuf_reserve(lb_sbuf *b, size_t more)
{
    if (b->oom) return false;
    if (b->len + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p, b->cap = cap;
    return true;
}

void lb_sbuf_put(lb_sbuf *b, const char *s, size_t n)
{
    if (!sbuf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void lb_sbuf_puts(lb_sbuf *b, const char *s) { lb_sbuf_put(b, s, strlen(s)); }

void lb_sbuf_printf(lb_sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        lb_sbuf_put(b, small, (size_t)n);
        return;
    }
    if (!sbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void lb_sbuf_html(lb_sbuf *b, const char *s)
{
    for (const char *p = s; p && *p; p++) {
        size_t run = strcspn(p, "&<>\"'");
        lb_sbuf_put(b, p, run);
        p += run;
        if (!*p) break;
        const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '"' ? "&quot;" : "&#39;";
        lb_sbuf_put(b, e, strlen(e));
    }
}

// ---- files ----

lb_status lb_stats_write_file(const char *path, const char *data, size_t len)
{
    if (!path || !*path) return lb_fail(LB_ERR_ARG, "stats: no output path");
    size_t cap = strlen(path) + 32;
    char *tmp = lb_malloc(cap, "temporary path");
    if (!tmp) return LB_ERR_NOMEM;
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        lb_status st = lb_fail(LB_ERR_IO, "%s: cannot create the temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int err = fwrite(data, 1, len, f) == len ? 0 : (errno ? errno : EIO);
    if (!err && (fflush(f) != 0 || fsync(fileno(f)) != 0)) err = errno;
    if (fclose(f) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    lb_status st = LB_OK;
    if (err) {
        remove(tmp);
        st = lb_fail(LB_ERR_IO, "%s: writing the report failed: %s", path, strerror(err));
    }
    free(tmp);
    return st;
}

// ---- JSON ----

/* v rounded to `digits` significant digits, so that cJSON prints "0.01234" rather than the 17
 * digits of a float widened to double; null when not finite. */
static cJSON *num_digits(double v, int digits)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[40];
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    return cJSON_CreateNumber(strtod(buf, NULL));
}

static cJSON *num(double v) { return num_digits(v, 6); }

/* Adds v to object o (or array o when k is NULL); an allocation that failed on the way (v or o
 * NULL) is remembered in *ok, so a report is never printed with parts missing. */
static bool put(bool *ok, cJSON *o, const char *k, cJSON *v)
{
    if (!o || !v) {
        cJSON_Delete(v);
        *ok = false;
        return false;
    }
    if (k) cJSON_AddItemToObject(o, k, v);
    else cJSON_AddItemToArray(o, v);
    return true;
}

static cJSON *channels(bool *ok, const lb_stats_channel *top, int n, const char *key)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!put(ok, a, NULL, o)) break;
        put(ok, o, key, cJSON_CreateNumber((double)top[i].index));
        put(ok, o, "max_abs", num(top[i].value));
    }
    return a;
}

static cJSON *float_array(bool *ok, const float *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n && *ok; i++) put(ok, a, NULL, num_digits(v[i], 5));
    return a;
}

static cJSON *input_json(bool *ok, const stats_input *in)
{
    cJSON *o = cJSON_CreateObject(), *k = cJSON_CreateObject();
    put(ok, o, "layer", cJSON_CreateNumber((double)in->layer));
    put(ok, o, "role", cJSON_CreateString(lb_stats_role_name(in->role)));
    put(ok, o, "n_in", cJSON_CreateNumber((double)in->n_in));
    put(ok, o, "n_tokens", cJSON_CreateNumber((double)in->n_tokens));
    if (put(ok, o, "kurtosis", k)) {
        put(ok, k, "mean", num(in->kurt_mean));
        put(ok, k, "std", num(in->kurt_std));
        put(ok, k, "n_tokens", cJSON_CreateNumber((double)in->kurt_n));
    }
    put(ok, o, "max_median", num(in->max_median));
    put(ok, o, "top", channels(ok, in->top, in->n_top, "channel"));
    put(ok, o, "channel_max_abs", float_array(ok, in->ch_max, in->n_in));
    put(ok, o, "channel_mean_abs", float_array(ok, in->ch_mean, in->n_in));
    return o;
}

static cJSON *weight_json(bool *ok, const lb_stats *s, const stats_weight *w)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    double shape[2] = {(double)w->n_out, (double)w->n_in};
    put(ok, o, "layer", cJSON_CreateNumber((double)w->layer));
    put(ok, o, "kind", cJSON_CreateString(lb_stats_weight_kind_name(w->kind)));
    put(ok, o, "name", cJSON_CreateString(w->name ? w->name : ""));
    put(ok, o, "input", cJSON_CreateString(lb_stats_role_name(lb_stats_weight_role(w->kind))));
    put(ok, o, "shape", cJSON_CreateDoubleArray(shape, 2));
    put(ok, o, "kurtosis", num(w->kurt));
    put(ok, o, "max_median", num(w->max_median));
    put(ok, o, "top", channels(ok, w->top, w->n_top, "column"));
    if (put(ok, o, "rel_err", e))
        for (int k = 0; k < s->n_methods; k++) put(ok, e, s->methods[k], num(w->rel_err[k]));
    return o;
}

static cJSON *report_json(bool *ok, const lb_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    put(ok, o, "model", cJSON_CreateString(s->model));
    put(ok, o, "calib", cJSON_CreateString(s->calib));
    put(ok, o, "arch", cJSON_CreateString(s->arch));
    const struct {
        const char *k;
        int64_t v;
    } dims[] = {{"n_layer", s->n_layer},     {"n_embd", s->n_embd},       {"n_ff", s->n_ff},
                {"n_head", s->n_head},       {"n_head_kv", s->n_head_kv}, {"head_dim", s->head_dim},
                {"windows", s->n_windows},   {"calib_len", s->calib_len}, {"n_tokens", s->n_tokens},
                {"n_sampled", s->n_sampled}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) put(ok, o, dims[i].k, cJSON_CreateNumber((double)dims[i].v));
    put(ok, o, "bos", cJSON_CreateBool(s->bos));
    put(ok, o, "methods", cJSON_CreateStringArray(s->methods, s->n_methods));
    put(ok, o, "rtn_type", cJSON_CreateString("Q4_0"));
    put(ok, o, "seconds", num(s->seconds));
    cJSON *in = cJSON_CreateArray(), *w = cJSON_CreateArray();
    if (put(ok, o, "inputs", in))
        for (int64_t i = 0; i < s->n_layer * LB_STATS_ROLES && *ok; i++) put(ok, in, NULL, input_json(ok, &s->inputs[i]));
    if (put(ok, o, "weights", w))
        for (int64_t i = 0; i < s->n_layer * LB_STATS_WEIGHTS && *ok; i++)
            put(ok, w, NULL, weight_json(ok, s, &s->weights[i]));
    return o;
}

lb_status lb_stats_json(const lb_stats *s, char **out)
{
    *out = NULL;
    if (!s) return lb_fail(LB_ERR_ARG, "stats: no report");
    bool ok = true;
    cJSON *o = report_json(&ok, s);
    char *text = o && ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return lb_fail(LB_ERR_NOMEM, "out of memory writing the stats report as JSON");
    *out = text;
    return LB_OK;
}

lb_status lb_stats_write_json(const lb_stats *s, const char *path)
{
    char *text = NULL;
    lb_status st = lb_stats_json(s, &text);
    if (st) return st;
    size_t len = strlen(text);
    lb_sbuf b = {0};
    lb_sbuf_put(&b, text, len);
    lb_sbuf_put(&b, "\n", 1);
    free(text);
    st = b.oom ? lb_fail(LB_ERR_NOMEM, "out of memory writing the stats report as JSON")
               : lb_stats_write_file(path, b.p, b.len);
    free(b.p);
    return st;
}

lb_status lb_stats_write_html(const lb_stats *s, const char *path)
{
    if (!s) return lb_fail(LB_ERR_ARG, "stats: no report");
    lb_sbuf b = {0};
    lb_stats_html(s, &b);
    lb_status st = b.oom ? lb_fail(LB_ERR_NOMEM, "out of memory writing the stats report as HTML")
                         : lb_stats_write_file(path, b.p, b.len);
    free(b.p);
    return st;
}
