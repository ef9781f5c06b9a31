/* AWQ and SmoothQuant on one block (see block_scale.h). */
#include "pipeline/block_scale.h"
#include "algo/scales.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AutoAWQ's n_sample_token: input rows per linear that its clipping search multiplies. */
#define CLIP_ROWS 512

/* GGUF suffix of each linear and the input it reads, in LB_LIN_* order. */
static const struct {
    const char *suffix;
    lb_linear_role role;
} LINEARS[LB_LIN_COUNT] = {
    {"attn_q.weight", LB_LINEAR_QKV},     {"attn_k.weight", LB_LINEAR_QKV},       {"attn_v.weight", LB_LINEAR_QKV},
    {"attn_output.weight", LB_LINEAR_O},  {"ffn_gate.weight", LB_LINEAR_GATE_UP}, {"ffn_up.weight", LB_LINEAR_GATE_UP},
    {"ffn_down.weight", LB_LINEAR_DOWN},
};

const char *lb_block_linear_suffix(int k) { return LINEARS[k].suffix; }
lb_linear_role lb_block_linear_role(int k) { return LINEARS[k].role; }

lb_weight *lb_block_linear(lb_block *b, int k)
{
    lb_weight *w[LB_LIN_COUNT] = {&b->wq, &b->wk, &b->wv, &b->wo, &b->w_gate, &b->w_up, &b->w_down};
    return w[k];
}

int64_t lb_block_linear_rows(const lb_llama_config *c, int k)
{
    switch (k) {
    case LB_LIN_Q: return c->n_head * c->head_dim;
    case LB_LIN_K: case LB_LIN_V: return c->n_head_kv * c->head_dim;
    case LB_LIN_GATE: case LB_LIN_UP: return c->n_ff;
    default: return c->n_embd;
    }
}

int64_t lb_linear_role_width(const lb_llama_config *c, lb_linear_role r)
{
    switch (r) {
    case LB_LINEAR_O: return c->n_head * c->head_dim;
    case LB_LINEAR_DOWN: return c->n_ff;
    default: return c->n_embd;
    }
}

/* A scale group: the linears that read one input, and what produces that input. */
enum { PREV_ATTN_NORM, PREV_V, PREV_FFN_NORM, PREV_UP };
typedef struct group {
    const char *name;
    lb_linear_role role;
    int lin[3], n_lin, prev;
} group;
static const group GROUPS[] = {
    {"q/k/v", LB_LINEAR_QKV, {LB_LIN_Q, LB_LIN_K, LB_LIN_V}, 3, PREV_ATTN_NORM},
    {"o", LB_LINEAR_O, {LB_LIN_O}, 1, PREV_V},
    {"gate/up", LB_LINEAR_GATE_UP, {LB_LIN_GATE, LB_LIN_UP}, 2, PREV_FFN_NORM},
    {"down", LB_LINEAR_DOWN, {LB_LIN_DOWN}, 1, PREV_UP},
};
#define N_GROUPS ((int)(sizeof GROUPS / sizeof GROUPS[0]))

static void logf_(const lb_block_scale_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const lb_block_scale_job *j, const char *fmt, ...)
{
    if (!j->log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    j->log(j->log_user, line);
}

// ---- activation statistics ----

/* Per role: sum |x| (AWQ's mean), max |x| (SmoothQuant) over every calibration row, and
 * (capture pass) up to CLIP_ROWS evenly spaced rows for the clipping search. */
typedef struct act_stats {
    double *sum_abs[LB_LINEAR_ROLE_COUNT];
    float *max_abs[LB_LINEAR_ROLE_COUNT];
    int64_t rows[LB_LINEAR_ROLE_COUNT], width[LB_LINEAR_ROLE_COUNT];
    float *sample[LB_LINEAR_ROLE_COUNT]; /* [CLIP_ROWS][width] when capturing */
    int64_t n_sample[LB_LINEAR_ROLE_COUNT], seen[LB_LINEAR_ROLE_COUNT], stride;
    bool capture;
} act_stats;

static void observe(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows, int64_t n_in)
{
    act_stats *s = user;
    if (role >= LB_LINEAR_OUTPUT || n_in != s->width[role]) return;
    if (s->capture) {
        for (int64_t r = 0; r < n_rows; r++, s->seen[role]++)
            if (s->sample[role] && s->seen[role] % s->stride == 0 && s->n_sample[role] < CLIP_ROWS)
                memcpy(s->sample[role] + s->n_sample[role]++ * n_in, x + r * n_in, (size_t)n_in * sizeof *x);
        return;
    }
    double *sum = s->sum_abs[role];
    float *mx = s->max_abs[role];
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t c = 0; c < n_in; c++) {
            float a = fabsf(x[r * n_in + c]);
            sum[c] += a;
            if (a > mx[c]) mx[c] = a;
        }
    s->rows[role] += n_rows;
}

static void stats_free(act_stats *s)
{
    for (int r = 0; r < LB_LINEAR_ROLE_COUNT; r++) {
        free(s->sum_abs[r]);
        free(s->max_abs[r]);
        free(s->sample[r]);
    }
}

/* Windows [seq0, seq0 + n) through block b, chunk by chunk, observed by s. Y (or NULL) receives
 * the block output; with ref, *loss gets sum((out - ref)^2) instead. */
static lb_status run_block(const lb_block_scale_job *j, const lb_block *b, act_stats *s, const float *X, int64_t n,
                           float *Y, const float *ref, double *loss)
{
    lb_model *m = j->m;
    const int64_t E = m->cfg.n_embd, L = j->seq_len;
    lb_linear_observer saved = m->observe;
    void *saved_user = m->observe_user;
    m->observe = s ? observe : NULL;
    m->observe_user = s;
    lb_status st = LB_OK;
    double acc = 0;
    for (int64_t s0 = 0; s0 < n && !st; s0 += j->chunk) {
        int64_t ns = n - s0 < j->chunk ? n - s0 : j->chunk;
        size_t count = (size_t)(ns * L * E);
        if (X) memcpy(m->x, X + s0 * L * E, count * sizeof(float));
        else st = j->read_x(j->user, s0, ns, m->x);
        if (st) break;
        lb_block_forward(m, j->kv, b, j->layer, 0, ns, L, 0);
        if (Y) memcpy(Y + s0 * L * E, m->x, count * sizeof(float));
        if (ref)
            for (size_t i = 0; i < count; i++) {
                double d = (double)m->x[i] - (double)ref[s0 * L * E + (int64_t)i];
                acc += d * d;
            }
    }
    m->observe = saved;
    m->observe_user = saved_user;
    if (loss) *loss = acc;
    return st;
}

// ---- folding ----

static void unscale_prev(const lb_llama_config *c, lb_block *b, int prev, const float *s)
{
    switch (prev) {
    case PREV_ATTN_NORM: lb_unscale_rows(b->attn_norm, c->n_embd, 1, s); break;
    case PREV_FFN_NORM: lb_unscale_rows(b->ffn_norm, c->n_embd, 1, s); break;
    case PREV_V:
        lb_unscale_rows(b->wv.f32, c->n_head_kv * c->head_dim, c->n_embd, s);
        if (b->bv) lb_unscale_rows(b->bv, c->n_head_kv * c->head_dim, 1, s);
        break;
    default: lb_unscale_rows(b->w_up.f32, c->n_ff, c->n_embd, s); break;
    }
}

static void apply_scales(const lb_llama_config *c, lb_block *b, const group *g, const float *s)
{
    int64_t cols = lb_linear_role_width(c, g->role);
    for (int i = 0; i < g->n_lin; i++)
        lb_scale_cols(lb_block_linear(b, g->lin[i])->f32, lb_block_linear_rows(c, g->lin[i]), cols, s);
    unscale_prev(c, b, g->prev, s);
}

static bool group_applies(const lb_block_scale_job *j, const group *g)
{
    const lb_llama_config *c = &j->m->cfg;
    if (g->prev == PREV_V && c->n_head != c->n_head_kv) return false;
    if (j->method == LB_SCALE_SMOOTH && !j->smooth_down && g->prev != PREV_ATTN_NORM && g->prev != PREV_FFN_NORM)
        return false;
    for (int i = 0; i < g->n_lin; i++)
        if (lb_fake_quant_active(&j->fq[g->lin[i]])) return true;
    return false;
}

// ---- SmoothQuant ----

static void smooth_group(const lb_block_scale_job *j, lb_block *b, const group *g, const act_stats *st, float *s)
{
    const lb_llama_config *c = &j->m->cfg;
    int64_t cols = lb_linear_role_width(c, g->role);
    float *w_max = s + cols;
    memset(w_max, 0, (size_t)cols * sizeof *w_max);
    for (int i = 0; i < g->n_lin; i++) {
        const float *W = lb_block_linear(b, g->lin[i])->f32;
        int64_t rows = lb_block_linear_rows(c, g->lin[i]);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++)
                if (fabsf(W[r * cols + k]) > w_max[k]) w_max[k] = fabsf(W[r * cols + k]);
    }
    lb_smooth_scales(st->max_abs[g->role], w_max, cols, j->alpha, s);
    float lo = INFINITY, hi = 0;
    for (int64_t k = 0; k < cols; k++) {
        if (s[k] < lo) lo = s[k];
        if (s[k] > hi) hi = s[k];
    }
    apply_scales(c, b, g, s);
    logf_(j, "  blk.%lld %-8s SmoothQuant alpha %.2f: scales %.3g .. %.3g", (long long)j->layer, g->name, j->alpha,
          (double)lo, (double)hi);
}

// ---- AWQ scale search ----

typedef struct search {
    const float *X, *Y; /* the search windows' block input and float output */
    int64_t n;          /* windows */
    float *orig[3];     /* the group's linears before the search */
} search;

/* Block output error with the group's linears quantized at scales s (NULL: no scaling). */
static lb_status try_scales(const lb_block_scale_job *j, lb_block *b, const group *g, const search *se, const float *s,
                            double *loss)
{
    const lb_llama_config *c = &j->m->cfg;
    int64_t cols = lb_linear_role_width(c, g->role);
    for (int i = 0; i < g->n_lin; i++) {
        int k = g->lin[i];
        int64_t rows = lb_block_linear_rows(c, k);
        float *W = lb_block_linear(b, k)->f32;
        memcpy(W, se->orig[i], (size_t)(rows * cols) * sizeof *W);
        if (s) lb_scale_cols(W, rows, cols, s);
        char name[48];
        snprintf(name, sizeof name, "blk.%lld.%s", (long long)j->layer, LINEARS[k].suffix);
        lb_status st = lb_fake_quant_rows(&j->fq[k], W, rows, cols, j->n_threads, name);
        if (st) return st;
        if (s)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t q = 0; q < cols; q++) W[r * cols + q] /= s[q];
    }
    return run_block(j, b, NULL, se->X, se->n, NULL, se->Y, loss);
}

static lb_status awq_group(const lb_block_scale_job *j, lb_block *b, const group *g, const act_stats *st,
                           const search *se0, float *buf)
{
    const lb_llama_config *c = &j->m->cfg;
    int64_t cols = lb_linear_role_width(c, g->role);
    float *x_mean = buf, *w_mean = buf + cols, *s = buf + 2 * cols, *best = buf + 3 * cols;
    double *acc = lb_calloc((size_t)cols, sizeof *acc, "AWQ weight means");
    if (!acc) return LB_ERR_NOMEM;
    search se = *se0;
    lb_status rc = LB_OK;
    int64_t total_rows = 0;
    for (int i = 0; i < g->n_lin && !rc; i++) {
        int k = g->lin[i];
        int64_t rows = lb_block_linear_rows(c, k);
        const float *W = lb_block_linear(b, k)->f32;
        lb_awq_w_mean_add(W, rows, cols, lb_fake_quant_group(&j->fq[k], cols), acc);
        total_rows += rows;
        if (!(se.orig[i] = lb_malloc((size_t)(rows * cols) * sizeof(float), "AWQ search copy"))) rc = LB_ERR_NOMEM;
        else memcpy(se.orig[i], W, (size_t)(rows * cols) * sizeof(float));
    }
    for (int64_t q = 0; q < cols; q++) {
        w_mean[q] = (float)(acc[q] / (double)total_rows);
        x_mean[q] = (float)(st->sum_abs[g->role][q] / (double)(st->rows[g->role] > 0 ? st->rows[g->role] : 1));
    }
    free(acc);
    /* the candidates: no scaling (round to nearest: AWQ never does worse than it on the
       objective), then AutoAWQ's grid of ratios */
    double plain = INFINITY, best_loss = INFINITY;
    int best_i = -1;
    if (!rc) rc = try_scales(j, b, g, &se, NULL, &plain);
    best_loss = plain;
    for (int i = 0; i < j->n_grid && !rc; i++) {
        double loss;
        lb_awq_scales(x_mean, w_mean, cols, (double)i / j->n_grid, s);
        if ((rc = try_scales(j, b, g, &se, s, &loss))) break;
        if (loss < best_loss) {
            best_loss = loss, best_i = i;
            memcpy(best, s, (size_t)cols * sizeof *s);
        }
    }
    for (int i = 0; i < g->n_lin; i++) {
        if (!rc) {
            int k = g->lin[i];
            memcpy(lb_block_linear(b, k)->f32, se.orig[i],
                   (size_t)(lb_block_linear_rows(c, k) * cols) * sizeof(float));
        }
        free(se.orig[i]);
    }
    if (rc) return rc;
    double per = 1.0 / (double)(se.n * j->seq_len * c->n_embd);
    if (best_i >= 0) {
        apply_scales(c, b, g, best);
        logf_(j, "  blk.%lld %-8s AWQ ratio %.2f: block output MSE %.4g (round to nearest %.4g)", (long long)j->layer,
              g->name, (double)best_i / j->n_grid, best_loss * per, plain * per);
    } else {
        logf_(j, "  blk.%lld %-8s AWQ: no ratio beats round to nearest (MSE %.4g); unscaled", (long long)j->layer,
              g->name, plain * per);
    }
    return LB_OK;
}

// ---- AWQ weight clipping ----

/* AutoAWQ's auto_clip for one linear: per output row and group of columns, the largest |w| is
 * shrunk by 0, 1/n_grid, ... up to one half, the group quantized at each, and the shrink kept
 * that gives the smallest error of that group's share of the product on the sampled inputs:
 * sum over rows t of (X[t, g] . (Q(clamp(w)) - w)[g])^2. */
static lb_status clip_linear(const lb_block_scale_job *j, int k, float *W, int64_t rows, int64_t cols, const float *X,
                             int64_t T)
{
    const lb_fake_quant *fq = &j->fq[k];
    int64_t gs = lb_fake_quant_group(fq, cols), G = cols / gs;
    float *org = lb_malloc((size_t)(rows * G) * 3 * sizeof(float), "clip search");
    float *Wc = lb_malloc((size_t)(rows * cols) * sizeof(float), "clip search");
    float *E = lb_malloc((size_t)(T * rows) * sizeof(float), "clip search");
    if (!org || !Wc || !E) {
        free(org), free(Wc), free(E);
        return LB_ERR_NOMEM;
    }
    float *best_max = org + rows * G, *best_err = org + 2 * rows * G;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < G; g++) {
            float mx = 0;
            for (int64_t q = g * gs; q < (g + 1) * gs; q++)
                if (fabsf(W[r * cols + q]) > mx) mx = fabsf(W[r * cols + q]);
            org[r * G + g] = best_max[r * G + g] = mx;
            best_err[r * G + g] = INFINITY;
        }
    char name[48];
    snprintf(name, sizeof name, "blk.%lld.%s", (long long)j->layer, LINEARS[k].suffix);
    lb_status st = LB_OK;
    int n_steps = j->n_grid / 2;
    for (int i = 0; i < n_steps && !st; i++) {
        float f = 1.0f - (float)i / (float)j->n_grid;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t q = 0; q < cols; q++) {
                float lim = org[r * G + q / gs] * f, w = W[r * cols + q];
                Wc[r * cols + q] = w > lim ? lim : w < -lim ? -lim : w;
            }
        if ((st = lb_fake_quant_rows(fq, Wc, rows, cols, j->n_threads, name))) break;
        for (int64_t q = 0; q < rows * cols; q++) Wc[q] -= W[q];
        for (int64_t g = 0; g < G; g++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)rows, (int)gs, 1.0f, X + g * gs, (int)cols,
                        Wc + g * gs, (int)cols, 0.0f, E, (int)rows);
            for (int64_t r = 0; r < rows; r++) {
                float e = 0;
                for (int64_t t = 0; t < T; t++) e += E[t * rows + r] * E[t * rows + r];
                if (e < best_err[r * G + g]) best_err[r * G + g] = e, best_max[r * G + g] = org[r * G + g] * f;
            }
        }
    }
    int64_t clipped = 0;
    if (!st)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t q = 0; q < cols; q++) {
                float lim = best_max[r * G + q / gs], w = W[r * cols + q];
                if (fabsf(w) > lim) clipped++;
                W[r * cols + q] = w > lim ? lim : w < -lim ? -lim : w;
            }
    if (!st)
        logf_(j, "  blk.%lld %-18s AWQ clipping: %lld of %lld weights clipped", (long long)j->layer, LINEARS[k].suffix,
              (long long)clipped, (long long)(rows * cols));
    free(org), free(Wc), free(E);
    return st;
}

// ---- driver ----

uint64_t lb_block_scale_bytes(const lb_llama_config *c, lb_scale_method method, int64_t search_tokens)
{
    if (method == LB_SCALE_NONE) return 0;
    double E = (double)c->n_embd, F = (double)c->n_ff, Q = (double)(c->n_head * c->head_dim);
    double widest = F > E ? F : E;
    if (Q > widest) widest = Q;
    double stats = 12.0 * (2 * E + Q + F) + 16.0 * widest;
    if (method == LB_SCALE_SMOOTH) return (uint64_t)stats;
    double search = 8.0 * (double)search_tokens * E;        /* X and float Y of the search windows */
    double copies = 4.0 * 2 * F * E;                         /* gate/up originals */
    double clip = 4.0 * CLIP_ROWS * (2 * E + Q + F) + 4.0 * (F * E + CLIP_ROWS * F + 3 * F * E / 32);
    return (uint64_t)(stats + search + (copies > clip ? copies : clip));
}

lb_status lb_block_scale(const lb_block_scale_job *j, lb_block *b)
{
    const lb_llama_config *c = &j->m->cfg;
    bool any = false;
    for (int g = 0; g < N_GROUPS; g++) any |= group_applies(j, &GROUPS[g]);
    if (j->method == LB_SCALE_NONE || !any) return LB_OK;
    act_stats s = {0};
    float *buf = NULL, *X = NULL, *Y = NULL;
    lb_status st = LB_OK;
    int64_t widest = 0;
    for (int r = 0; r < LB_LINEAR_OUTPUT && !st; r++) {
        s.width[r] = lb_linear_role_width(c, (lb_linear_role)r);
        if (s.width[r] > widest) widest = s.width[r];
        s.sum_abs[r] = lb_calloc((size_t)s.width[r], sizeof(double), "activation statistics");
        s.max_abs[r] = lb_calloc((size_t)s.width[r], sizeof(float), "activation statistics");
        if (!s.sum_abs[r] || !s.max_abs[r]) st = LB_ERR_NOMEM;
    }
    if (!st && !(buf = lb_malloc((size_t)(4 * widest) * sizeof(float), "scales"))) st = LB_ERR_NOMEM;
    /* every calibration window through the float block: mean and max |x| of each input */
    if (!st) st = run_block(j, b, &s, NULL, j->n_seq, NULL, NULL, NULL);
    if (!st && j->method == LB_SCALE_SMOOTH) {
        for (int g = 0; g < N_GROUPS; g++)
            if (group_applies(j, &GROUPS[g])) smooth_group(j, b, &GROUPS[g], &s, buf);
    } else if (!st) {
        int64_t n = (j->search_tokens + j->seq_len - 1) / j->seq_len;
        if (n < 1) n = 1;
        if (n > j->n_seq) n = j->n_seq;
        size_t count = (size_t)(n * j->seq_len * c->n_embd);
        X = lb_malloc(count * sizeof(float), "AWQ search windows");
        Y = lb_malloc(count * sizeof(float), "AWQ search windows");
        if (!X || !Y) st = LB_ERR_NOMEM;
        for (int64_t s0 = 0; s0 < n && !st; s0 += j->chunk) {
            int64_t ns = n - s0 < j->chunk ? n - s0 : j->chunk;
            st = j->read_x(j->user, s0, ns, X + s0 * j->seq_len * c->n_embd);
        }
        if (!st) st = run_block(j, b, NULL, X, n, Y, NULL, NULL);
        search se = {.X = X, .Y = Y, .n = n};
        /* each group searched with the others float (AutoAWQ), then all applied */
        for (int g = 0; g < N_GROUPS && !st; g++)
            if (group_applies(j, &GROUPS[g])) st = awq_group(j, b, &GROUPS[g], &s, &se, buf);
        if (!st && j->clip) {
            /* the scaled block's inputs, sampled, for the clipping search */
            s.capture = true;
            s.stride = (n * j->seq_len + CLIP_ROWS - 1) / CLIP_ROWS;
            for (int r = 0; r < LB_LINEAR_OUTPUT && !st; r++)
                if (!(s.sample[r] = lb_malloc((size_t)(CLIP_ROWS * s.width[r]) * sizeof(float), "clip samples")))
                    st = LB_ERR_NOMEM;
            free(Y);
            Y = NULL;
            if (!st) st = run_block(j, b, &s, X, n, NULL, NULL, NULL);
            for (int k = LB_LIN_V; k < LB_LIN_COUNT && !st; k++) {
                lb_linear_role r = LINEARS[k].role;
                if (!lb_fake_quant_active(&j->fq[k]) || s.n_sample[r] == 0) continue;
                st = clip_linear(j, k, lb_block_linear(b, k)->f32, lb_block_linear_rows(c, k), s.width[r], s.sample[r],
                                 s.n_sample[r]);
            }
        }
    }
    free(X);
    free(Y);
    free(buf);
    stats_free(&s);
    return st;
}
