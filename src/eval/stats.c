/* lowbit stats: outlier statistics of a model's linears, the numbers LLMC's quant_analysis and
 * the outlier papers (LLM.int8(), SmoothQuant, QuaRot) look at: per-channel input magnitudes,
 * kurtosis, max/median ratios, and the quantization error of each method, for the model as it
 * is and after the methods asked for.
 *
 * One pass: the calibration windows run through lb_forward as ONE layer-major batch, so the
 * model's linear observer sees each linear group's input X [n_tokens][n_in] exactly once per
 * block (and a streamed model is read once). There we
 *   - reduce X to per-channel max|x| and mean|x| (double sums), and to each token's Pearson
 *     kurtosis across channels k_t = n sum (x - mu)^4 / (sum (x - mu)^2)^2, kept as the mean
 *     and standard deviation over tokens (a heavy-tailed token - a massive activation - has
 *     k_t >> 3, the Gaussian value);
 *   - keep up to 256 evenly spaced rows X_s of it;
 *   - decode the group's weights from the source one at a time (memory: one linear) for their
 *     kurtosis and per-input-column max|W|, and for every method the weight Q it would run:
 *     rel_err = ||X_s (W - Q)^T||_F / ||X_s W^T||_F, the relative output error GPTQ and AWQ
 *     minimise.
 * Then X is dropped: nothing of the activations outlives the observer call but those vectors.
 *
 * Methods (--after, stats_methods.c) map a weight, with its group's input sample and statistics,
 * to the weight (and input, when they quantize activations) they would run, in the original
 * input basis, so one error formula serves them all.
 * Not here: the methods, the JSON and HTML writers (stats_methods.c, stats_json.c, stats_html.c). */
#include "eval/stats.h"

#include "model/weights.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define DEFAULT_SAMPLES 16
#define DEFAULT_LEN 256
#define MAX_SAMPLED_ROWS 256
#define COL_BLOCK 64
#define PAR_MIN_WORK 200000

// ---- numeric helpers ----

double lb_stats_kurtosis(const float *x, int64_t n)
{
    if (n < 2) return NAN;
    /* two passes around the exact mean: the one-pass power sums cancel when |mu| >> sigma */
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    double mu = sum / (double)n, m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - mu, d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    return m2 > 0 ? (double)n * m4 / (m2 * m2) : NAN;
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double lb_stats_max_median(const float *v, int64_t n)
{
    if (n < 1) return NAN;
    float *s = malloc((size_t)n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, float_cmp);
    double med = n % 2 ? s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + (double)s[n / 2]), mx = s[n - 1];
    free(s);
    return med > 0 ? mx / med : NAN;
}

int lb_stats_top_k(const float *v, int64_t n, int k, lb_stats_channel *out)
{
    int have = 0;
    for (int64_t i = 0; i < n && k > 0; i++) {
        if (have == k && !(v[i] > out[k - 1].value)) continue;
        int pos = have < k ? have++ : k - 1;
        /* strictly greater moves up: an equal value stays behind the lower index */
        while (pos > 0 && v[i] > out[pos - 1].value) {
            out[pos] = out[pos - 1];
            pos--;
        }
        out[pos] = (lb_stats_channel){.index = i, .value = v[i]};
    }
    return have;
}

// ---- names ----

static const char *const ROLE_NAMES[LB_STATS_ROLES] = {"qkv", "o", "gate_up", "down"};
static const char *const KIND_NAMES[LB_STATS_WEIGHTS] = {"q", "k", "v", "o", "gate", "up", "down"};
static const lb_block_role KIND_TENSOR[LB_STATS_WEIGHTS] = {LB_ROLE_Q, LB_ROLE_K, LB_ROLE_V, LB_ROLE_O,
                                                            LB_ROLE_GATE, LB_ROLE_UP, LB_ROLE_DOWN};
static const lb_linear_role KIND_INPUT[LB_STATS_WEIGHTS] = {LB_LINEAR_QKV, LB_LINEAR_QKV, LB_LINEAR_QKV, LB_LINEAR_O,
                                                            LB_LINEAR_GATE_UP, LB_LINEAR_GATE_UP, LB_LINEAR_DOWN};

const char *lb_stats_role_name(lb_linear_role r) { return r >= 0 && r < LB_STATS_ROLES ? ROLE_NAMES[r] : "?"; }
const char *lb_stats_weight_kind_name(int kind) { return kind >= 0 && kind < LB_STATS_WEIGHTS ? KIND_NAMES[kind] : "?"; }
lb_linear_role lb_stats_weight_role(int kind) { return KIND_INPUT[kind]; }

// ---- activations ----

typedef struct collector {
    lb_model *m;
    lb_stats *s;
    const lb_stats_params *p;
    int method[LB_STATS_MAX_METHODS]; /* METHODS index of report method 1.. */
    double *kurt;                     /* [rows] per-token kurtosis */
    float *xs;                        /* [n_sampled][max n_in] retained rows */
    lb_status err;                    /* first failure (the observer cannot return one) */
} collector;

/* Per-channel max|x| and mean|x|, per-token kurtosis, top channels, max/median. */
static void input_stats(collector *c, stats_input *in, const float *x, int64_t n_rows)
{
    int64_t n = in->n_in, n_blocks = (n + COL_BLOCK - 1) / COL_BLOCK;
    int nt = c->m->n_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (n_rows * n >= PAR_MIN_WORK)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK < n ? j0 + COL_BLOCK : n;
        float mx[COL_BLOCK] = {0};
        double sum[COL_BLOCK] = {0};
        for (int64_t r = 0; r < n_rows; r++)
            for (int64_t j = j0; j < j1; j++) {
                float a = fabsf(x[r * n + j]);
                mx[j - j0] = a > mx[j - j0] ? a : mx[j - j0];
                sum[j - j0] += a;
            }
        for (int64_t j = j0; j < j1; j++) {
            in->ch_max[j] = mx[j - j0];
            in->ch_mean[j] = (float)(sum[j - j0] / (double)n_rows);
        }
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (n_rows * n >= PAR_MIN_WORK)
    for (int64_t r = 0; r < n_rows; r++) c->kurt[r] = lb_stats_kurtosis(x + r * n, n);
    /* tokens whose row is constant have no kurtosis and are left out */
    double sum = 0, var = 0;
    int64_t k = 0;
    for (int64_t r = 0; r < n_rows; r++)
        if (isfinite(c->kurt[r])) sum += c->kurt[r], k++;
    double mean = k ? sum / (double)k : NAN;
    for (int64_t r = 0; r < n_rows; r++)
        if (isfinite(c->kurt[r])) var += (c->kurt[r] - mean) * (c->kurt[r] - mean);
    in->n_tokens = n_rows;
    in->kurt_n = k;
    in->kurt_mean = mean;
    in->kurt_std = k ? sqrt(var / (double)k) : NAN;
    in->max_median = lb_stats_max_median(in->ch_max, n);
    in->n_top = lb_stats_top_k(in->ch_max, n, LB_STATS_TOP, in->top);
}

/* Up to MAX_SAMPLED_ROWS rows spread evenly over all windows and positions. */
static int64_t sample_rows(collector *c, const float *x, int64_t n_rows, int64_t n_in)
{
    int64_t k = n_rows < MAX_SAMPLED_ROWS ? n_rows : MAX_SAMPLED_ROWS;
    for (int64_t i = 0; i < k; i++)
        memcpy(c->xs + i * n_in, x + (i * n_rows / k) * n_in, (size_t)n_in * sizeof(float));
    return k;
}

// ---- weights ----

/* Kurtosis of all n_out * n_in elements; per-row partial sums reduced in row order so the
 * result does not depend on the thread count. */
static double weight_kurtosis(const float *w, int64_t n_out, int64_t n_in, int nt, double *part /* [2 n_out] */)
{
#pragma omp parallel for schedule(static) num_threads(nt) if (n_out * n_in >= PAR_MIN_WORK)
    for (int64_t r = 0; r < n_out; r++) {
        double s = 0;
        for (int64_t j = 0; j < n_in; j++) s += w[r * n_in + j];
        part[r] = s;
    }
    double total = 0, n = (double)n_out * (double)n_in;
    for (int64_t r = 0; r < n_out; r++) total += part[r];
    double mu = total / n;
#pragma omp parallel for schedule(static) num_threads(nt) if (n_out * n_in >= PAR_MIN_WORK)
    for (int64_t r = 0; r < n_out; r++) {
        double m2 = 0, m4 = 0;
        for (int64_t j = 0; j < n_in; j++) {
            double d = (double)w[r * n_in + j] - mu, d2 = d * d;
            m2 += d2;
            m4 += d2 * d2;
        }
        part[r] = m2, part[n_out + r] = m4;
    }
    double m2 = 0, m4 = 0;
    for (int64_t r = 0; r < n_out; r++) m2 += part[r], m4 += part[n_out + r];
    return m2 > 0 ? n * m4 / (m2 * m2) : NAN;
}

static void column_max(const float *w, int64_t n_out, int64_t n_in, int nt, float *colmax)
{
    int64_t n_blocks = (n_in + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) num_threads(nt) if (n_out * n_in >= PAR_MIN_WORK)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK < n_in ? j0 + COL_BLOCK : n_in;
        for (int64_t j = j0; j < j1; j++) colmax[j] = 0;
        for (int64_t r = 0; r < n_out; r++)
            for (int64_t j = j0; j < j1; j++) {
                float a = fabsf(w[r * n_in + j]);
                if (a > colmax[j]) colmax[j] = a;
            }
    }
}

static double sum_sq(const float *y, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)y[i] * (double)y[i];
    return s;
}

/* Every method's relative output error on the sample: y = X_s W^T once, then the method's
 * output y_q = X_q Q^T (X_q = X_s unless it quantizes activations): ||y - y_q|| / ||y||. */
static lb_status weight_errors(collector *c, const stats_group *g, const float *w, stats_weight *sw)
{
    int64_t n_out = sw->n_out, n_in = sw->n_in, ns = g->n_rows;
    sw->rel_err[0] = 0; /* the float model runs W itself */
    if (c->s->n_methods < 2) return LB_OK;
    float *y = lb_malloc((size_t)(ns * n_out) * sizeof *y, "stats outputs");
    float *yq = lb_malloc((size_t)(ns * n_out) * sizeof *yq, "stats outputs");
    float *q = lb_malloc((size_t)(n_out * n_in) * sizeof *q, sw->name);
    float *xq = lb_malloc((size_t)(ns * n_in) * sizeof *xq, "stats inputs");
    lb_status st = y && yq && q && xq ? LB_OK : LB_ERR_NOMEM;
    double den = 0;
    if (!st) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)n_out, (int)n_in, 1.0f, g->x, (int)n_in, w,
                    (int)n_in, 0.0f, y, (int)n_out);
        den = sum_sq(y, ns * n_out);
    }
    for (int k = 1; k < c->s->n_methods && !st; k++) {
        bool applies = false;
        sw->rel_err[k] = NAN;
        memcpy(xq, g->x, (size_t)(ns * n_in) * sizeof *xq);
        st = lb_stats_method_run(c->method[k], g, w, n_out, q, xq, c->m->n_threads, &applies);
        if (st || !applies || !(den > 0)) continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)n_out, (int)n_in, 1.0f, xq, (int)n_in, q,
                    (int)n_in, 0.0f, yq, (int)n_out);
        for (int64_t i = 0; i < ns * n_out; i++) yq[i] -= y[i];
        sw->rel_err[k] = sqrt(sum_sq(yq, ns * n_out) / den);
    }
    free(y);
    free(yq);
    free(q);
    free(xq);
    return st;
}

static lb_status weight_stats(collector *c, const stats_group *g, int64_t layer, int kind)
{
    const lb_model *m = c->m;
    const lb_tensor_info *t[LB_ROLE_COUNT];
    lb_status st = lb_weights_find_block(m->src, &m->cfg, (int)layer, t);
    if (st) return st;
    const lb_tensor_info *ti = t[KIND_TENSOR[kind]];
    stats_weight *sw = &c->s->weights[layer * LB_STATS_WEIGHTS + kind];
    sw->layer = layer;
    sw->kind = kind;
    sw->n_out = ti->shape[0];
    sw->n_in = ti->shape[1];
    LB_ASSERT(sw->n_in == g->n_in);
    if (!(sw->name = lb_strdup(ti->name))) return LB_ERR_NOMEM;
    float *w = NULL;
    if ((st = lb_tensor_to_f32(ti, &w))) return st; /* also rejects NaN/Inf, naming the element */
    double *part = lb_malloc((size_t)(2 * sw->n_out) * sizeof *part, "stats partial sums");
    float *colmax = lb_malloc((size_t)sw->n_in * sizeof *colmax, "stats column maxima");
    if (!part || !colmax) st = LB_ERR_NOMEM;
    if (!st) {
        sw->kurt = weight_kurtosis(w, sw->n_out, sw->n_in, m->n_threads, part);
        column_max(w, sw->n_out, sw->n_in, m->n_threads, colmax);
        sw->max_median = lb_stats_max_median(colmax, sw->n_in);
        sw->n_top = lb_stats_top_k(colmax, sw->n_in, LB_STATS_TOP, sw->top);
        st = weight_errors(c, g, w, sw);
    }
    free(part);
    free(colmax);
    free(w);
    return st;
}

// ---- the pass ----

static void observe(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows, int64_t n_in)
{
    collector *c = user;
    if (c->err || layer < 0 || role >= LB_STATS_ROLES) return; /* the output head is not reported */
    stats_input *in = &c->s->inputs[(int64_t)layer * LB_STATS_ROLES + role];
    /* one batch holds every window, so each group is seen once */
    LB_ASSERT(in->n_in == n_in && in->n_tokens == 0);
    input_stats(c, in, x, n_rows);
    stats_group g = {.x = c->xs, .n_rows = sample_rows(c, x, n_rows, n_in), .n_in = n_in, .in = in};
    c->s->n_sampled = g.n_rows;
    for (int k = 0; k < LB_STATS_WEIGHTS && !c->err; k++)
        if (KIND_INPUT[k] == role) c->err = weight_stats(c, &g, layer, k);
    if (role == LB_LINEAR_DOWN && c->p->progress) c->p->progress(c->p->progress_user, layer + 1, c->s->n_layer);
}

/* Windows of calib_len tokens, consecutive from the start of the text; BOS first when the model
 * adds BOS (as every prompt the model sees in use starts). */
static lb_status make_windows(const lb_model *m, const lb_stats_params *p, int64_t len, int64_t want, int32_t **out,
                              int64_t *n_windows, bool *bos)
{
    *out = NULL;
    char *text = NULL;
    size_t n_bytes = 0;
    lb_status st = lb_read_file(p->calib, &text, &n_bytes);
    if (st) return st;
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    st = lb_tokenize(m, text, n_bytes, false, false, &ids, &n_ids);
    free(text);
    if (st) return lb_fail_context(st, "%s", p->calib);
    *bos = m->cfg.bos_id >= 0 && (m->tok ? lb_tokenizer_adds_bos(m->tok) : false);
    int64_t per = len - (*bos ? 1 : 0), avail = per > 0 ? n_ids / per : 0;
    *n_windows = avail < want ? avail : want;
    if (*n_windows < 1) {
        free(ids);
        return lb_fail(LB_ERR_ARG, "%s: the calibration text has %lld tokens, fewer than one window of %lld", p->calib,
                       (long long)n_ids, (long long)per);
    }
    int32_t *w = lb_malloc((size_t)(*n_windows * len) * sizeof *w, "calibration windows");
    if (!w) {
        free(ids);
        return LB_ERR_NOMEM;
    }
    for (int64_t i = 0; i < *n_windows; i++) {
        int32_t *dst = w + i * len;
        if (*bos) *dst++ = m->cfg.bos_id;
        memcpy(dst, ids + i * per, (size_t)per * sizeof *dst);
    }
    free(ids);
    *out = w;
    return LB_OK;
}

static lb_status alloc_report(lb_stats *s, const lb_llama_config *cfg)
{
    int64_t L = cfg->n_layer;
    s->inputs = lb_calloc((size_t)(L * LB_STATS_ROLES), sizeof *s->inputs, "stats inputs");
    s->weights = lb_calloc((size_t)(L * LB_STATS_WEIGHTS), sizeof *s->weights, "stats weights");
    if (!s->inputs || !s->weights) return LB_ERR_NOMEM;
    int64_t widths[LB_STATS_ROLES] = {cfg->n_embd, cfg->n_head * cfg->head_dim, cfg->n_embd, cfg->n_ff};
    for (int64_t i = 0; i < L * LB_STATS_ROLES; i++) {
        stats_input *in = &s->inputs[i];
        in->layer = i / LB_STATS_ROLES;
        in->role = (lb_linear_role)(i % LB_STATS_ROLES);
        in->n_in = widths[in->role];
        in->ch_max = lb_calloc((size_t)in->n_in, sizeof(float), "stats channels");
        in->ch_mean = lb_calloc((size_t)in->n_in, sizeof(float), "stats channels");
        if (!in->ch_max || !in->ch_mean) return LB_ERR_NOMEM;
    }
    for (int64_t i = 0; i < L * LB_STATS_WEIGHTS; i++)
        for (int k = 0; k < LB_STATS_MAX_METHODS; k++) s->weights[i].rel_err[k] = NAN;
    return LB_OK;
}

static lb_status run_pass(lb_model *m, lb_stats *s, collector *c, const int32_t *tokens)
{
    const lb_llama_config *cfg = &m->cfg;
    int64_t rows = s->n_windows * s->calib_len, width = cfg->n_ff > cfg->n_embd ? cfg->n_ff : cfg->n_embd;
    if (cfg->n_head * cfg->head_dim > width) width = cfg->n_head * cfg->head_dim;
    int64_t keep = rows < MAX_SAMPLED_ROWS ? rows : MAX_SAMPLED_ROWS;
    c->kurt = lb_malloc((size_t)rows * sizeof *c->kurt, "stats kurtosis");
    c->xs = lb_malloc((size_t)(keep * width) * sizeof *c->xs, "stats sample rows");
    if (!c->kurt || !c->xs) return LB_ERR_NOMEM;
    lb_kv_cache kv;
    lb_status st = lb_kv_cache_init(&kv, cfg, s->n_windows, s->calib_len);
    if (st) return st;
    LB_ASSERT(!m->observe);
    m->observe = observe;
    m->observe_user = c;
    st = lb_forward(m, &kv, tokens, s->n_windows, s->calib_len, 0, s->calib_len - 1, NULL);
    m->observe = NULL;
    m->observe_user = NULL;
    lb_kv_cache_free(&kv);
    return st ? st : c->err;
}

lb_status lb_stats_run(const char *model_path, const lb_stats_params *p, lb_stats **out)
{
    *out = NULL;
    if (!model_path || !p || !p->calib || !*p->calib)
        return lb_fail(LB_ERR_ARG, "stats: a model and a calibration text (--calib FILE) are needed");
    int64_t want = p->calib_samples > 0 ? p->calib_samples : DEFAULT_SAMPLES;
    int64_t len = p->calib_len > 0 ? p->calib_len : DEFAULT_LEN;
    if (len < 2) return lb_fail(LB_ERR_ARG, "stats: windows of %lld tokens are too short (at least 2)", (long long)len);
    collector c = {.p = p};
    int n_after = 0;
    lb_status st = lb_stats_parse_after(p->after, c.method + 1, &n_after);
    if (st) return st;
    double t0 = lb_now_s();
    lb_open_params op = p->open;
    op.llamacpp_numerics = false;
    op.no_weights = false;
    op.plan_rows = want * len;
    op.plan_ctx = len;
    op.plan_seqs = want;
    lb_model *m = NULL;
    if ((st = lb_model_open(model_path, &op, &m))) return st;
    if (!m->tok) {
        lb_model_close(m);
        return lb_fail(LB_ERR_ARG, "%s: the model has no tokenizer to read the calibration text with", model_path);
    }
    lb_stats *s = lb_calloc(1, sizeof *s, "stats");
    int32_t *tokens = NULL;
    if (!s) st = LB_ERR_NOMEM;
    if (!st) {
        s->n_methods = 1 + n_after;
        s->methods[0] = "float";
        for (int k = 0; k < n_after; k++) s->methods[k + 1] = lb_stats_method_name(c.method[k + 1]);
        const lb_llama_config *cfg = &m->cfg;
        s->n_layer = cfg->n_layer, s->n_embd = cfg->n_embd, s->n_ff = cfg->n_ff;
        s->n_head = cfg->n_head, s->n_head_kv = cfg->n_head_kv, s->head_dim = cfg->head_dim;
        s->calib_len = len;
        s->model = lb_strdup(model_path), s->calib = lb_strdup(p->calib), s->arch = lb_strdup(cfg->arch);
        if (!s->model || !s->calib || !s->arch) st = LB_ERR_NOMEM;
    }
    if (!st) st = alloc_report(s, &m->cfg);
    if (!st) st = make_windows(m, p, len, want, &tokens, &s->n_windows, &s->bos);
    if (!st) {
        s->n_tokens = s->n_windows * len;
        c.m = m, c.s = s;
        st = run_pass(m, s, &c, tokens);
    }
    free(tokens);
    free(c.kurt);
    free(c.xs);
    lb_model_close(m);
    if (st) {
        lb_stats_free(s);
        return st;
    }
    s->seconds = lb_now_s() - t0;
    *out = s;
    return LB_OK;
}

// ---- the handle ----

void lb_stats_free(lb_stats *s)
{
    if (!s) return;
    for (int64_t i = 0; s->inputs && i < s->n_layer * LB_STATS_ROLES; i++) {
        free(s->inputs[i].ch_max);
        free(s->inputs[i].ch_mean);
    }
    for (int64_t i = 0; s->weights && i < s->n_layer * LB_STATS_WEIGHTS; i++) free(s->weights[i].name);
    free(s->inputs);
    free(s->weights);
    free(s->model);
    free(s->calib);
    free(s->arch);
    free(s);
}

void lb_stats_describe(const lb_stats *s, lb_stats_info *out)
{
    *out = (lb_stats_info){.model = s->model, .calib = s->calib, .arch = s->arch, .n_layer = s->n_layer,
                           .n_embd = s->n_embd, .n_ff = s->n_ff, .n_windows = s->n_windows,
                           .calib_len = s->calib_len, .n_tokens = s->n_tokens, .n_sampled = s->n_sampled,
                           .n_methods = s->n_methods, .methods = s->methods, .seconds = s->seconds};
}

int64_t lb_stats_n_inputs(const lb_stats *s) { return s ? s->n_layer * LB_STATS_ROLES : 0; }

bool lb_stats_input_get(const lb_stats *s, int64_t i, lb_stats_input *out)
{
    if (i < 0 || i >= lb_stats_n_inputs(s)) return false;
    const stats_input *in = &s->inputs[i];
    *out = (lb_stats_input){.layer = in->layer, .role = ROLE_NAMES[in->role], .n_in = in->n_in,
                            .n_tokens = in->n_tokens, .kurt_mean = in->kurt_mean, .kurt_std = in->kurt_std,
                            .max_median = in->max_median, .n_top = in->n_top, .ch_max = in->ch_max,
                            .ch_mean = in->ch_mean};
    memcpy(out->top, in->top, sizeof out->top);
    return true;
}

int64_t lb_stats_n_weights(const lb_stats *s) { return s ? s->n_layer * LB_STATS_WEIGHTS : 0; }

bool lb_stats_weight_get(const lb_stats *s, int64_t i, lb_stats_weight *out)
{
    if (i < 0 || i >= lb_stats_n_weights(s)) return false;
    const stats_weight *w = &s->weights[i];
    *out = (lb_stats_weight){.layer = w->layer, .kind = KIND_NAMES[w->kind], .name = w->name ? w->name : "",
                             .input = ROLE_NAMES[KIND_INPUT[w->kind]], .n_out = w->n_out, .n_in = w->n_in,
                             .kurt = w->kurt, .max_median = w->max_median, .n_top = w->n_top,
                             .rel_err = w->rel_err};
    memcpy(out->top, w->top, sizeof out->top);
    return true;
}
