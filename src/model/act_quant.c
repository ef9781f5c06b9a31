/* Activation fake-quantization of the block linears' inputs (see act_quant.h).
 *
 * Per-token dynamic INT8 is what vLLM's W8A8 "dynamic" schemes and SmoothQuant's
 * per-token variant do; per-tensor static INT8/FP8 is SmoothQuant O1-O3 / compressed-tensors'
 * static activation scales: absmax over a calibration set divided by qmax (Xiao et al. 2023,
 * "SmoothQuant", section 3; NVIDIA TensorRT-LLM / vLLM FP8 static "input_scale"). */
#include "model/act_quant.h"
#include "calib/calib_data.h"
#include "quant/fp8.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Fewer multiply-adds than this run on one thread (as in forward.c: waking a team costs more). */
#define PAR_MIN_WORK 200000
#define DEFAULT_CALIB_SAMPLES 16
#define DEFAULT_CALIB_LEN 256
/* The linear inputs that are quantized: QKV, O, GATE_UP, DOWN (not OUTPUT). */
#define N_ROLES LB_LINEAR_OUTPUT

// ---- names ----

static const char *const NAMES[LB_ACT_QUANT_COUNT] = {
    [LB_ACT_QUANT_NONE] = "none",
    [LB_ACT_QUANT_INT8] = "int8",
    [LB_ACT_QUANT_FP8] = "fp8",
    [LB_ACT_QUANT_INT8_STATIC] = "int8-static",
    [LB_ACT_QUANT_FP8_STATIC] = "fp8-static",
};

const char *lb_act_quant_name(lb_act_quant q)
{
    return (unsigned)q < LB_ACT_QUANT_COUNT ? NAMES[q] : NULL;
}

lb_status lb_act_quant_from_name(const char *name, lb_act_quant *out)
{
    for (int i = 0; i < LB_ACT_QUANT_COUNT; i++)
        if (name && strcmp(name, NAMES[i]) == 0) {
            *out = (lb_act_quant)i;
            return LB_OK;
        }
    return lb_fail(LB_ERR_ARG, "activation quantization '%s' is not one of none, int8, fp8, int8-static, fp8-static",
                   name ? name : "(null)");
}

static bool is_static(lb_act_quant q) { return q == LB_ACT_QUANT_INT8_STATIC || q == LB_ACT_QUANT_FP8_STATIC; }
static bool is_fp8(lb_act_quant q) { return q == LB_ACT_QUANT_FP8 || q == LB_ACT_QUANT_FP8_STATIC; }

// ---- row kernels ----

float lb_act_absmax(const float *x, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

void lb_act_quant_row_int8_ref(float *x, int64_t n, float scale)
{
    if (!(scale > 0)) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        /* nearbyintf rounds half to even in the default rounding mode, as vLLM's
         * float_to_int8_rn (__float2int_rn) and torch.round do; the clamp only bites for
         * static scales, where a token may exceed the calibrated absmax */
        float q = nearbyintf(x[i] / scale);
        q = q > LB_ACT_INT8_MAX ? LB_ACT_INT8_MAX : q < -LB_ACT_INT8_MAX ? -LB_ACT_INT8_MAX : q;
        x[i] = q * scale;
    }
}

void lb_act_quant_row_fp8_ref(float *x, int64_t n, float scale)
{
    if (!(scale > 0)) {
        memset(x, 0, (size_t)n * sizeof *x);
        return;
    }
    for (int64_t i = 0; i < n; i++) x[i] = lb_fp8_e4m3_to_f32(lb_f32_to_fp8_e4m3(x[i] / scale, true)) * scale;
}

void lb_act_quant_rows(lb_act_quant q, float *x, int64_t n_rows, int64_t n, float static_scale, int n_threads)
{
    if (q == LB_ACT_QUANT_NONE) return;
    LB_ASSERT((unsigned)q < LB_ACT_QUANT_COUNT);
    bool fp8 = is_fp8(q), dyn = !is_static(q);
    float qmax = fp8 ? LB_FP8_E4M3_MAX : LB_ACT_INT8_MAX;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * n >= PAR_MIN_WORK)
    for (int64_t r = 0; r < n_rows; r++) {
        float *row = x + r * n;
        float scale = dyn ? lb_act_absmax(row, n) / qmax : static_scale;
        if (fp8)
            lb_act_quant_row_fp8_ref(row, n, scale);
        else
            lb_act_quant_row_int8_ref(row, n, scale);
    }
}

// ---- in the model ----

void lb_act_quant_input(lb_model *m, int64_t layer, lb_linear_role role, float *x, int64_t n_rows, int64_t n)
{
    lb_act_quant q = m->params.act_quant;
    if (q == LB_ACT_QUANT_NONE) return;
    LB_ASSERT(role < N_ROLES && layer >= 0 && layer < m->cfg.n_layer);
    float s = 0;
    if (is_static(q)) {
        LB_ASSERT(m->act_scale);
        s = m->act_scale[layer * N_ROLES + role];
    }
    lb_act_quant_rows(q, x, n_rows, n, s, m->n_threads);
}

/* The calibration observer: absmax per (layer, role) into m->act_scale (scaled at the end). */
static void observe_absmax(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows, int64_t n_in)
{
    lb_model *m = user;
    if (layer < 0 || role >= N_ROLES) return;
    float *a = &m->act_scale[layer * N_ROLES + role];
    float mx = lb_act_absmax(x, n_rows * n_in);
    if (mx > *a) *a = mx;
}

/* Runs the calibration windows one at a time (scratch stays at one window) with quantization
 * off, so every layer sees the float model's activations, as SmoothQuant calibrates. */
static lb_status calibrate(lb_model *m)
{
    const lb_open_params *p = &m->params;
    if (!m->tok) return lb_fail(LB_ERR_ARG, "%s: the model has no tokenizer to read the calibration text with", p->act_calib);
    int64_t n_win = p->act_calib_samples > 0 ? p->act_calib_samples : DEFAULT_CALIB_SAMPLES;
    int64_t len = DEFAULT_CALIB_LEN;
    if (m->cfg.n_ctx_train > 1 && m->cfg.n_ctx_train < len) len = m->cfg.n_ctx_train;
    /* BOS first when the tokenizer adds one: its row carries the largest activations of many
     * models (attention sinks), and perplexity/generation put it there too */
    bool bos = m->cfg.bos_id >= 0 && lb_tokenizer_adds_bos(m->tok);
    int64_t text_len = len - (bos ? 1 : 0);
    int32_t *text = NULL, *win = NULL;
    uint64_t hash = 0;
    lb_status st = lb_calib_windows(m->tok, p->act_calib, n_win, text_len, 0, &text, &hash);
    if (st) return lb_fail_context(st, "activation calibration (act_calib)");
    win = lb_malloc((size_t)len * sizeof *win, "calibration window");
    lb_kv_cache kv = {0};
    if (!win) st = LB_ERR_NOMEM;
    if (!st) st = lb_kv_cache_init(&kv, &m->cfg, 1, len);
    m->act_scale = st ? NULL : lb_calloc((size_t)(m->cfg.n_layer * N_ROLES), sizeof(float), "activation scales");
    if (!st && !m->act_scale) st = LB_ERR_NOMEM;
    if (st) {
        free(text);
        free(win);
        lb_kv_cache_free(&kv);
        return st;
    }
    LB_ASSERT(!m->observe);
    lb_act_quant kind = m->params.act_quant;
    m->params.act_quant = LB_ACT_QUANT_NONE;
    m->observe = observe_absmax;
    m->observe_user = m;
    for (int64_t i = 0; i < n_win && !st; i++) {
        if (bos) win[0] = m->cfg.bos_id;
        memcpy(win + (bos ? 1 : 0), text + i * text_len, (size_t)text_len * sizeof *win);
        st = lb_forward(m, &kv, win, 1, len, 0, len - 1, NULL);
    }
    m->observe = NULL;
    m->observe_user = NULL;
    m->params.act_quant = kind;
    free(text);
    free(win);
    lb_kv_cache_free(&kv);
    if (st) return lb_fail_context(st, "activation calibration on %s", p->act_calib);
    float qmax = is_fp8(kind) ? LB_FP8_E4M3_MAX : LB_ACT_INT8_MAX;
    for (int64_t i = 0; i < m->cfg.n_layer * N_ROLES; i++) {
        if (!isfinite(m->act_scale[i]))
            return lb_fail(LB_ERR_NUMERIC, "activation calibration on %s: layer %lld input %d has a non-finite absmax",
                           p->act_calib, (long long)(i / N_ROLES), (int)(i % N_ROLES));
        m->act_scale[i] /= qmax;
    }
    if (!p->quiet)
        fprintf(stderr, "act-quant: %s scales from %lld windows of %lld tokens of %s\n", lb_act_quant_name(kind),
                (long long)n_win, (long long)len, p->act_calib);
    return LB_OK;
}

lb_status lb_act_quant_setup(lb_model *m)
{
    const lb_open_params *p = &m->params;
    if ((unsigned)p->act_quant >= LB_ACT_QUANT_COUNT)
        return lb_fail(LB_ERR_ARG, "act_quant %d is not a known activation quantization", (int)p->act_quant);
    if (p->act_calib_samples < 0)
        return lb_fail(LB_ERR_ARG, "act_calib_samples must be >= 0 (0 = %d), got %lld", DEFAULT_CALIB_SAMPLES,
                       (long long)p->act_calib_samples);
    if (is_static(p->act_quant)) {
        if (!p->act_calib || !*p->act_calib)
            return lb_fail(LB_ERR_ARG, "activation quantization %s needs a calibration text (act_calib, --act-calib FILE)",
                           lb_act_quant_name(p->act_quant));
        return calibrate(m);
    }
    if (p->act_calib && *p->act_calib)
        return lb_fail(LB_ERR_ARG, "a calibration text (act_calib %s) is only used by int8-static and fp8-static, not %s",
                       p->act_calib, lb_act_quant_name(p->act_quant));
    return LB_OK;
}
