/* The methods lowbit stats measures next to the float model (--after): each maps one linear, with
 * its group's sampled input X_s and the statistics of every calibration token, to the weight and
 * input it would run, in the original input basis. Every weight method rounds to Q4_0 (blocks of
 * 32, llama.cpp's quantize_row_q4_0_ref) so that the columns compare transforms, not formats:
 *
 *   rtn          Q = RTN(W)
 *   awq          Q = RTN(W diag(s)) diag(s)^-1, s = mean|x|^a / mean_w^(1-a) (algo/scales.h), a
 *                the best of 0, 1/20, ..., 19/20 (or no scaling) on this linear's own output
 *                error over X_s; lowbit quantize --method awq searches per group against the
 *                block's output and also clips, so this is the per-linear view of it
 *   rotate       Q = RTN(W R) R^T, R a randomized Hadamard of n_in (seeded random orthogonal when
 *                n_in is not 2^k): what rotating this input does to the weight's rounding (the
 *                residual rotation of lowbit convert --rotate also folds the norms; left out here)
 *   w8a8         INT8 per output channel (symmetric, AutoGPTQ's grid) times INT8 per-token
 *                activations (lowbit ppl --act-quant int8): both operands quantized
 *   smoothquant  w8a8 after SmoothQuant's s = max|x|^0.5 / max|W|^0.5: X diag(s)^-1 and W diag(s)
 *                quantized, the scales undone
 * Error (stats.c): ||X_s W^T - X_q Q^T|| / ||X_s W^T||. */
#include "eval/stats.h"

#include "algo/rotate.h"
#include "algo/scales.h"
#include "model/act_quant.h"
#include "quant/intn.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN_WORK 200000
#define AWQ_GRID 20
#define SMOOTH_ALPHA 0.5

// ---- shared pieces ----

/* w[n_out][n_in] -> Q4_0 and back into q (rows independent: no dependence on threads). */
static lb_status rtn_q4_0(const float *w, int64_t n_out, int64_t n_in, float *q, int n_threads)
{
    const lb_type_traits *tr = lb_type_traits_of(LB_TYPE_Q4_0);
    lb_quantize_row_fn quant = lb_quantizer_of(LB_TYPE_Q4_0);
    size_t row_bytes = (size_t)(n_in / tr->block_size) * tr->type_size;
    uint8_t *buf = lb_malloc(row_bytes * (size_t)n_out, "Q4_0 rows");
    if (!buf) return LB_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_out * n_in >= PAR_MIN_WORK)
    for (int64_t r = 0; r < n_out; r++) {
        quant(w + r * n_in, buf + (size_t)r * row_bytes, n_in, NULL);
        tr->to_f32(buf + (size_t)r * row_bytes, q + r * n_in, n_in);
    }
    free(buf);
    return LB_OK;
}

static bool q4_0_fits(int64_t n_in) { return n_in % lb_type_traits_of(LB_TYPE_Q4_0)->block_size == 0; }

/* ||X (W - Q)^T||^2 over the sample; d[n_out][n_in] and y[n_rows][n_out] are scratch. */
static double output_err2(const stats_group *g, const float *w, const float *q, int64_t n_out, float *d, float *y)
{
    int64_t n_in = g->n_in;
    for (int64_t i = 0; i < n_out * n_in; i++) d[i] = w[i] - q[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->n_rows, (int)n_out, (int)n_in, 1.0f, g->x, (int)n_in, d,
                (int)n_in, 0.0f, y, (int)n_out);
    double s = 0;
    for (int64_t i = 0; i < g->n_rows * n_out; i++) s += (double)y[i] * y[i];
    return s;
}

// ---- methods ----

static lb_status method_rtn(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                            bool *applies)
{
    *applies = q4_0_fits(g->n_in);
    return *applies ? rtn_q4_0(w, n_out, g->n_in, q, nt) : LB_OK;
}

static lb_status method_awq(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                            bool *applies)
{
    int64_t n_in = g->n_in;
    *applies = q4_0_fits(n_in);
    if (!*applies) return LB_OK;
    float *ws = lb_malloc((size_t)(2 * n_out * n_in) * sizeof *ws, "AWQ candidates");
    float *y = lb_malloc((size_t)(g->n_rows * n_out) * sizeof *y, "AWQ candidates");
    float *s = lb_malloc((size_t)(2 * n_in) * sizeof *s, "AWQ scales");
    double *acc = lb_calloc((size_t)n_in, sizeof *acc, "AWQ weight means");
    lb_status st = ws && y && s && acc ? LB_OK : LB_ERR_NOMEM;
    float *cand = ws + n_out * n_in, *w_mean = s + n_in;
    double best = INFINITY;
    if (!st) {
        lb_awq_w_mean_add(w, n_out, n_in, 32, acc);
        for (int64_t j = 0; j < n_in; j++) w_mean[j] = (float)(acc[j] / (double)n_out);
        st = rtn_q4_0(w, n_out, n_in, q, nt); /* no scaling: the candidate to beat */
        if (!st) best = output_err2(g, w, q, n_out, ws, y);
    }
    for (int i = 0; i < AWQ_GRID && !st; i++) {
        lb_awq_scales(g->in->ch_mean, w_mean, n_in, (double)i / AWQ_GRID, s);
        memcpy(ws, w, (size_t)(n_out * n_in) * sizeof *ws);
        lb_scale_cols(ws, n_out, n_in, s);
        if ((st = rtn_q4_0(ws, n_out, n_in, cand, nt))) break;
        for (int64_t r = 0; r < n_out; r++)
            for (int64_t j = 0; j < n_in; j++) cand[r * n_in + j] /= s[j];
        double e = output_err2(g, w, cand, n_out, ws, y);
        if (e < best) {
            best = e;
            memcpy(q, cand, (size_t)(n_out * n_in) * sizeof *q);
        }
    }
    free(ws), free(y), free(s), free(acc);
    return st;
}

static lb_status method_rotate(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                               bool *applies)
{
    int64_t n = g->n_in;
    *applies = q4_0_fits(n);
    if (!*applies) return LB_OK;
    double *R = NULL, *Rt = NULL;
    lb_rotation_kind used;
    lb_status st = lb_rotation_make(LB_ROTATE_HADAMARD, n, 0, &R, &used);
    float *wr = st ? NULL : lb_malloc((size_t)(n_out * n) * sizeof *wr, "rotated weight");
    if (!st && (!wr || !(Rt = lb_malloc((size_t)(n * n) * sizeof *Rt, "rotation")))) st = LB_ERR_NOMEM;
    if (!st) {
        memcpy(wr, w, (size_t)(n_out * n) * sizeof *wr);
        st = lb_rotate_inputs(wr, n_out, n, NULL, R); /* W R */
    }
    if (!st) st = rtn_q4_0(wr, n_out, n, q, nt);
    if (!st) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) Rt[i * n + j] = R[j * n + i];
        st = lb_rotate_inputs(q, n_out, n, NULL, Rt); /* RTN(W R) R^T */
    }
    free(R), free(Rt), free(wr);
    return st;
}

/* W8A8 with optional smoothing: weights INT8 per output channel, activations INT8 per token. */
static lb_status w8a8(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt, bool smooth)
{
    int64_t n = g->n_in;
    float *s = lb_malloc((size_t)(2 * n) * sizeof *s, "smoothing scales");
    uint8_t *codes = lb_malloc((size_t)(n_out * n), "INT8 codes");
    float *scales = lb_malloc((size_t)n_out * sizeof *scales, "INT8 scales");
    uint8_t *zeros = lb_malloc((size_t)n_out, "INT8 zeros");
    if (!s || !codes || !scales || !zeros) {
        free(s), free(codes), free(scales), free(zeros);
        return LB_ERR_NOMEM;
    }
    for (int64_t j = 0; j < n; j++) s[j] = 1.0f;
    if (smooth) {
        float *w_max = s + n;
        memset(w_max, 0, (size_t)n * sizeof *w_max);
        for (int64_t r = 0; r < n_out; r++)
            for (int64_t j = 0; j < n; j++)
                if (fabsf(w[r * n + j]) > w_max[j]) w_max[j] = fabsf(w[r * n + j]);
        lb_smooth_scales(g->in->ch_max, w_max, n, SMOOTH_ALPHA, s);
    }
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t j = 0; j < n; j++) q[r * n + j] = w[r * n + j] * s[j];
    lb_intn_params ip = {.bits = 8, .group_size = -1, .sym = true};
    lb_intn_quantize(&ip, q, n_out, n, codes, scales, zeros);
    lb_intn_dequantize(&ip, codes, scales, zeros, n_out, n, q);
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t j = 0; j < n; j++) q[r * n + j] /= s[j];
    for (int64_t r = 0; r < g->n_rows; r++)
        for (int64_t j = 0; j < n; j++) xq[r * n + j] /= s[j];
    lb_act_quant_rows(LB_ACT_QUANT_INT8, xq, g->n_rows, n, 0, nt);
    for (int64_t r = 0; r < g->n_rows; r++)
        for (int64_t j = 0; j < n; j++) xq[r * n + j] *= s[j];
    free(s), free(codes), free(scales), free(zeros);
    return LB_OK;
}

static lb_status method_w8a8(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                             bool *applies)
{
    *applies = true;
    return w8a8(g, w, n_out, q, xq, nt, false);
}

static lb_status method_smoothquant(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                                    bool *applies)
{
    *applies = true;
    return w8a8(g, w, n_out, q, xq, nt, true);
}

// ---- the table ----

typedef lb_status (*method_fn)(const stats_group *g, const float *w, int64_t n_out, float *q, float *xq, int nt,
                               bool *applies);
static const struct {
    const char *name;
    method_fn fn;
} METHODS[] = {
    {"rtn", method_rtn}, {"awq", method_awq}, {"rotate", method_rotate}, {"w8a8", method_w8a8},
    {"smoothquant", method_smoothquant},
};
#define N_METHODS ((int)(sizeof METHODS / sizeof METHODS[0]))

const char *lb_stats_method_name(int k) { return k >= 0 && k < N_METHODS ? METHODS[k].name : "?"; }

lb_status lb_stats_method_run(int k, const stats_group *g, const float *w, int64_t n_out, float *q, float *xq,
                              int n_threads, bool *applies)
{
    LB_ASSERT(k >= 0 && k < N_METHODS);
    return METHODS[k].fn(g, w, n_out, q, xq, n_threads, applies);
}

lb_status lb_stats_parse_after(const char *after, int *idx, int *n)
{
    *n = 0;
    if (!after) return LB_OK;
    const char *p = after;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *a = p;
        p += len + (p[len] == ',');
        while (len && (*a == ' ')) a++, len--;
        while (len && a[len - 1] == ' ') len--;
        if (!len || (len == 4 && !strncmp(a, "none", 4))) continue;
        int k = 0;
        while (k < N_METHODS && !(strlen(METHODS[k].name) == len && !strncmp(a, METHODS[k].name, len))) k++;
        if (k == N_METHODS)
            return lb_fail(LB_ERR_ARG,
                           "stats: unknown method '%.*s' after which to measure (available: rtn, awq, rotate, w8a8, "
                           "smoothquant)",
                           (int)len, a);
        bool dup = false;
        for (int i = 0; i < *n; i++) dup |= idx[i] == k;
        if (!dup && *n < LB_STATS_MAX_METHODS - 1) idx[(*n)++] = k;
    }
    return LB_OK;
}
