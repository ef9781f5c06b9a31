#include "test_util.h"
#include "lowbit.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int lb_test_passed, lb_test_failed;

static char g_paths[8][4096];
static int g_next;
static char g_tmp[256];

static const char *rotate(const char *a, const char *b)
{
    char *p = g_paths[g_next++ % 8];
    snprintf(p, 4096, "%s/%s", a, b);
    return p;
}

const char *lb_test_shared(const char *rel)
{
    const char *s = getenv("LOWBIT_SHARED");
    if (!s || !*s) s = getenv("LOWBIT_SHARED_DEFAULT");
    if (!s || !*s) s = "../shared";
    return rotate(s, rel);
}

const char *lb_test_source(const char *rel)
{
    const char *s = getenv("LOWBIT_SOURCE");
    return rotate(s ? s : ".", rel);
}

const char *lb_test_cli(void)
{
    const char *s = getenv("LOWBIT_CLI");
    return s ? s : "lowbit";
}

const char *lb_test_tmpdir(void)
{
    if (!g_tmp[0]) {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/lowbit-test-XXXXXX");
        if (!mkdtemp(g_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return g_tmp;
}

int lb_test_run_cli(const char *args, char **out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", lb_test_cli(), args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        *out = strdup("");
        return -2;
    }
    size_t cap = 1 << 14, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    *out = buf;
    int st = pclose(p);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return -1;
}

bool lb_test_check(bool ok, const char *file, int line, const char *expr, const char *msg)
{
    if (ok) {
        lb_test_passed++;
        return true;
    }
    lb_test_failed++;
    fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, msg ? " -- " : "", msg ? msg : "");
    return false;
}

bool lb_test_expectf(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lb_test_check(ok, file, line, expr, msg);
}

bool lb_test_close(const char *what, const float *got, const float *want, int64_t n, double rtol, double atol)
{
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0, worst = -1;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double d = fabs(g - w);
        bool ok = (isnan(g) && isnan(w)) || d <= atol + rtol * fabs(w);
        if (isnan(d)) d = INFINITY;
        if (d > max_abs) max_abs = d, worst = i;
        if (w != 0 && d / fabs(w) > max_rel) max_rel = d / fabs(w);
        if (!ok) {
            if (bad < 5)
                fprintf(stderr, "  %s[%lld]: got %.9g want %.9g (diff %.3g)\n", what, (long long)i, g, w, d);
            bad++;
        }
    }
    bool ok = bad == 0;
    lb_test_check(ok, __FILE__, __LINE__, what, NULL);
    if (!ok || getenv("LOWBIT_TEST_VERBOSE"))
        fprintf(stderr, "  %s: n=%lld mismatches=%lld max_abs=%.3g (at %lld) max_rel=%.3g\n", what, (long long)n,
                (long long)bad, max_abs, (long long)worst, max_rel);
    return ok;
}

bool lb_test_bits_equal(const char *what, const float *got, const float *want, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            if (bad < 5) fprintf(stderr, "  %s[%lld]: got %.9g want %.9g\n", what, (long long)i, got[i], want[i]);
            bad++;
        }
    }
    if (bad) fprintf(stderr, "  %s: %lld of %lld differ\n", what, (long long)bad, (long long)n);
    return lb_test_check(bad == 0, __FILE__, __LINE__, what, NULL);
}

bool lb_test_i32_equal(const char *what, const int32_t *got, const int32_t *want, int64_t n_got, int64_t n_want)
{
    bool ok = n_got == n_want;
    for (int64_t i = 0; ok && i < n_got; i++) ok = got[i] == want[i];
    if (!ok) {
        fprintf(stderr, "  %s:\n    got  (%lld):", what, (long long)n_got);
        for (int64_t i = 0; i < n_got && i < 40; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n    want (%lld):", (long long)n_want);
        for (int64_t i = 0; i < n_want && i < 40; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    return lb_test_check(ok, __FILE__, __LINE__, what, NULL);
}

// ---- files and golden data ----

char *lb_test_read_file(const char *path, size_t *len)
{
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

cJSON *lb_test_load_json(const char *path)
{
    char *txt = lb_test_read_file(path, NULL);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    return j;
}

bool lb_test_file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

void lb_test_resolve(const char *spec, char *out, size_t cap)
{
    if (!spec) spec = "";
    if (strncmp(spec, "shared:", 7) == 0) snprintf(out, cap, "%s", lb_test_shared(spec + 7));
    else if (strncmp(spec, "source:", 7) == 0) snprintf(out, cap, "%s", lb_test_source(spec + 7));
    else snprintf(out, cap, "%s", spec);
}

double lb_test_jnum(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

int64_t lb_test_jint(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
}

const char *lb_test_jstr(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return s ? s : "";
}

uint64_t lb_test_fnv1a64_ids(const int32_t *ids, int64_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (int64_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xFF;
            h *= 0x100000001B3ull;
        }
    }
    return h;
}

int lb_test_finish(void)
{
    if (g_tmp[0]) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmp);
    }
    printf("%d passed, %d failed\n", lb_test_passed, lb_test_failed);
    return lb_test_failed ? 1 : 0;
}

double lb_test_worst_rel_row_diff(const float *got, const float *want, int64_t n_rows, int64_t n_vocab)
{
    double worst = 0;
    for (int64_t r = 0; r < n_rows; r++) {
        double mx = 0, md = 0;
        for (int64_t i = 0; i < n_vocab; i++) {
            mx = fmax(mx, fabs(want[r * n_vocab + i]));
            md = fmax(md, fabs((double)got[r * n_vocab + i] - want[r * n_vocab + i]));
        }
        worst = fmax(worst, mx > 0 ? md / mx : md);
    }
    return worst;
}

float *lb_test_logits_of(const char *path, const lb_open_params *op0, const int32_t *ids, int64_t n, int64_t *n_vocab)
{
    lb_open_params op = op0 ? *op0 : (lb_open_params){0};
    op.quiet = true;
    lb_model *m = NULL;
    if (!EXPECT(lb_model_open(path, &op, &m) == LB_OK, "open %s: %s", path, lb_errmsg())) return NULL;
    lb_model_desc d;
    lb_model_describe(m, &d);
    *n_vocab = d.n_vocab;
    float *l = malloc((size_t)(n * d.n_vocab) * sizeof(float));
    if (!EXPECT(l && lb_eval_logits(m, ids, n, l) == LB_OK, "logits of %s: %s", path, lb_errmsg())) {
        free(l);
        l = NULL;
    }
    lb_model_close(m);
    return l;
}

float *lb_test_logits_fixed(const char *path, const lb_open_params *op, int64_t n, int64_t *n_vocab)
{
    lb_model *m = NULL;
    if (!EXPECT(lb_model_open(path, &(lb_open_params){.no_weights = true, .quiet = true}, &m) == LB_OK, "open %s: %s",
                path, lb_errmsg()))
        return NULL;
    lb_model_desc d;
    lb_model_describe(m, &d);
    lb_model_close(m);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 37 + 11) % (d.n_vocab - 3)) + 3;
    float *l = lb_test_logits_of(path, op, ids, n, n_vocab);
    free(ids);
    return l;
}

double lb_test_rel_rms(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return sqrt(num / den);
}

const char *lb_test_tmp(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", lb_test_tmpdir(), name);
    return b;
}
