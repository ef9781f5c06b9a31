/* The Llama-family forward pass, layer-major over a batch of sequences, f32 throughout.
 *
 *   x = embed(tokens)                                   [rows][n_embd], rows = n_seq * n_tokens
 *   for each block:
 *     h = rmsnorm(x) * attn_norm
 *     q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv); rope(q, k); append k, v to the cache
 *     x += softmax(q k^T / sqrt(head_dim), causal) v  Wo^T       (grouped-query heads)
 *     h = rmsnorm(x) * ffn_norm
 *     x += (silu(h Wgate^T) * (h Wup^T)) Wdown^T                    (SwiGLU)
 *   logits = (rmsnorm(x) * out_norm) Wout^T
 *
 * With activation quantization (act_quant.h) the input of each block linear group is quantized
 * and decoded back in place right after the observer sees it.
 *
 * Every linear is one OpenBLAS sgemm over all rows of the batch; attention is split over
 * (sequence, head) pairs, each computed by one thread from start to end, so results do not
 * depend on the thread count. */
#include "model/model.h"
#include "model/act_quant.h"
#include "model/rope.h"
#include "kernels/dot_half.h"
#include "kernels/ref/vec_dot.h"
#include "model/stream.h"
#include "model/weights.h"
#include "quant/types.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* From this many new tokens per sequence on, attention runs as sgemms (see attention()). */
#define ATTN_GEMM_MIN_TOKENS 4
/* Loops with less work than this (in multiply-adds or elements) run on one thread: waking a
 * team costs more, and on a busy machine its spinning barrier costs far more (token
 * generation went from 22 to 1.4 tokens/s with 2 threads on a loaded 2-core machine). */
#define PAR_MIN_WORK 200000

// ---- kv cache ----

lb_status lb_kv_cache_init(lb_kv_cache *kv, const lb_llama_config *cfg, int64_t n_seq, int64_t n_ctx)
{
    memset(kv, 0, sizeof *kv);
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->n_layer = cfg->n_layer;
    kv->kv_dim = cfg->n_head_kv * cfg->head_dim;
    uint64_t n;
    if (!lb_mul_ok((uint64_t)n_seq * (uint64_t)n_ctx, (uint64_t)(kv->n_layer * kv->kv_dim), &n) ||
        !lb_mul_ok(n, sizeof(float), &n))
        return lb_fail(LB_ERR_ARG, "kv cache of %lld sequences x %lld positions is too large", (long long)n_seq,
                       (long long)n_ctx);
    kv->k = lb_malloc(n, "kv cache (keys)");
    kv->v = lb_malloc(n, "kv cache (values)");
    if (!kv->k || !kv->v) {
        lb_kv_cache_free(kv);
        return LB_ERR_NOMEM;
    }
    return LB_OK;
}

void lb_kv_cache_free(lb_kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

static float *kv_row(const lb_kv_cache *kv, float *base, int64_t s, int64_t layer, int64_t pos)
{
    return base + ((s * kv->n_layer + layer) * kv->n_ctx + pos) * kv->kv_dim;
}

// ---- scratch ----

/* Row widths of the forward scratch buffers, in lb_model_reserve's order: x, xn, q, k, v, att,
 * gate, up. */
static void scratch_widths(const lb_llama_config *c, int64_t w[8])
{
    int64_t q_dim = c->n_head * c->head_dim, kv_dim = c->n_head_kv * c->head_dim;
    int64_t widths[8] = {c->n_embd, c->n_embd, q_dim, kv_dim, kv_dim, q_dim, c->n_ff, c->n_ff};
    memcpy(w, widths, sizeof widths);
}

/* Widest input a linear reads: the activations quantized for the vec_dot kernels are sized by
 * it (at most 4 bytes per input element, for f32 partners; block headers fit in that). */
static int64_t widest_in(const lb_llama_config *c)
{
    int64_t w = c->n_embd, dims[] = {c->n_ff, c->n_head * c->head_dim};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] > w) w = dims[i];
    return w;
}

uint64_t lb_scratch_bytes(const lb_llama_config *c, int n_threads, int64_t n_rows, int64_t n_ctx)
{
    int64_t w[8], floats = 0;
    scratch_widths(c, w);
    for (int i = 0; i < 8; i++) floats += n_rows * w[i];
    floats += n_rows * (c->n_embd + widest_in(c));                    /* qout, act */
    floats += (int64_t)n_threads * (n_rows < n_ctx ? n_rows : n_ctx) * n_ctx; /* scores */
    return (uint64_t)floats * sizeof(float) + 4096;
}

lb_status lb_model_reserve(lb_model *m, int64_t n_rows, int64_t n_ctx)
{
    const lb_llama_config *c = &m->cfg;
    if (n_rows <= m->cap_rows && n_ctx <= m->cap_ctx) return LB_OK;
    if (n_rows < m->cap_rows) n_rows = m->cap_rows;
    if (n_ctx < m->cap_ctx) n_ctx = m->cap_ctx;
    int64_t w[8];
    scratch_widths(c, w);
    float **bufs[8] = {&m->x, &m->xn, &m->q, &m->k, &m->v, &m->att, &m->gate, &m->up};
    for (int i = 0; i < 8; i++) {
        free(*bufs[i]);
        *bufs[i] = lb_malloc((size_t)(n_rows * w[i]) * sizeof(float), "forward scratch");
        if (!*bufs[i]) return LB_ERR_NOMEM;
    }
    /* quantized linears: the product of the two that accumulate (attn_output, ffn_down, both
     * n_embd wide) before it is added, and the quantized activations */
    free(m->qout);
    free(m->act);
    m->qout = lb_malloc((size_t)(n_rows * c->n_embd) * sizeof(float), "forward scratch");
    m->act = lb_malloc((size_t)(n_rows * widest_in(c)) * sizeof(float) + 4096, "quantized activations");
    if (!m->qout || !m->act) return LB_ERR_NOMEM;
    /* per thread: a [tokens][n_ctx] score block, tokens <= min(rows, n_ctx) */
    int64_t per_thread = (n_rows < n_ctx ? n_rows : n_ctx) * n_ctx;
    free(m->scores);
    m->scores = lb_malloc((size_t)(m->n_threads * per_thread) * sizeof(float), "attention scores");
    if (!m->scores) return LB_ERR_NOMEM;
    m->cap_scores = per_thread;
    m->cap_rows = n_rows;
    m->cap_ctx = n_ctx;
    return LB_OK;
}

// ---- pieces ----

/* y = x / sqrt(mean(x^2) + eps) * w, the sum of squares in double as ggml does. */
static void rmsnorm(float *restrict y, const float *restrict x, const float *restrict w, int64_t n, float eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

/* C[rows][n_out] (+)= A[rows][n_in] W[n_out][n_in]^T.
 * Decoded weights: OpenBLAS; a row or two (token generation) through sgemv, since sgemm would
 * first pack (copy) all of W, which costs more than the product.
 * Quantized weights (llamacpp numerics): activations are quantized to the weight type's
 * 8-bit partner and multiplied block by block (lb_matmul_q), as llama.cpp does. */
static void linear(lb_model *m, float *C, const float *A, const lb_weight *W, int64_t rows, int64_t n_out, int64_t n_in,
                   bool accumulate)
{
    lb_weight dec;
    if (!W->f32 && !lb_weight_multiplies_stored(W->type, m->params.llamacpp_numerics)) {
        lb_dot_half_fn dot_half = lb_dot_half_of(W->type);
        if (dot_half && rows <= 2) {
            /* a 16-bit weight and a token or two: one pass over its 2-byte rows */
            uint64_t row_bytes = (uint64_t)n_in * 2;
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (n_out * n_in >= PAR_MIN_WORK)
            for (int64_t o = 0; o < n_out; o++) {
                const uint8_t *w = (const uint8_t *)W->q + (uint64_t)o * row_bytes;
                for (int64_t r = 0; r < rows; r++) {
                    float d = dot_half(w, A + r * n_in, n_in);
                    C[r * n_out + o] = accumulate ? C[r * n_out + o] + d : d;
                }
            }
            return;
        }
        /* a weight kept in its stored type (16-bit, or streamed): decoded whole into m->wdec,
         * so the product below is the very call a weight decoded at open gets */
        /* (FP8 with its scales: lb_weight_decode_rows is lb_tensor_to_f32's decoder, same bits) */
        LB_ASSERT(m->wdec);
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (n_out * n_in >= PAR_MIN_WORK)
        for (int64_t r = 0; r < n_out; r++) lb_weight_decode_rows(W, r, 1, n_in, m->wdec + r * n_in);
        dec = (lb_weight){.f32 = m->wdec, .type = LB_TYPE_F32};
        W = &dec;
    }
    if (!W->f32) {
        float *dst = accumulate ? m->qout : C;
        lb_status st = lb_matmul_q(W->type, W->q, n_out, n_in, A, rows, dst, m->act, m->n_threads);
        LB_ASSERT(st == LB_OK); /* types and shapes were validated when the model opened */
        if (accumulate)
            for (int64_t i = 0; i < rows * n_out; i++) C[i] += dst[i];
        return;
    }
    if (rows <= 2) {
        for (int64_t r = 0; r < rows; r++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_out, (int)n_in, 1.0f, W->f32, (int)n_in, A + r * n_in, 1,
                        accumulate ? 1.0f : 0.0f, C + r * n_out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_out, (int)n_in, 1.0f, A, (int)n_in, W->f32,
                (int)n_in, accumulate ? 1.0f : 0.0f, C, (int)n_out);
}

static void add_bias(float *y, const float *b, int64_t rows, int64_t n)
{
    if (!b) return;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) y[r * n + i] += b[i];
}

/* softmax over s[0..n) in place, max-subtracted. */
static void softmax(float *s, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        if (s[j] > mx) mx = s[j];
    float sum = 0;
    for (int64_t j = 0; j < n; j++) sum += (s[j] = expf(s[j] - mx));
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

/* One head of one sequence, many new tokens (prompt, perplexity): S = Q K^T / sqrt(d) and
 * O = softmax_causal(S) V as two sgemms over the cache, which is [pos][kv_dim] so a head's
 * keys are a strided matrix. Computes the full T x P block and masks it: twice the flops of a
 * triangle, many times faster than scalar dots. */
static void head_attention_gemm(const float *q, int64_t ldq, const float *k, const float *v, int64_t ldkv, float *o,
                                int64_t T, int64_t pos0, int64_t hd, float scale, float *S)
{
    int64_t P = pos0 + T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)P, (int)hd, scale, q, (int)ldq, k, (int)ldkv, 0.0f,
                S, (int)P);
    for (int64_t t = 0; t < T; t++) {
        float *row = S + t * P;
        int64_t n_pos = pos0 + t + 1;
        softmax(row, n_pos);
        memset(row + n_pos, 0, (size_t)(P - n_pos) * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)hd, (int)P, 1.0f, S, (int)P, v, (int)ldkv, 0.0f, o,
                (int)ldq);
}

/* One head, one new token (generation): scalar dots over the cache. */
static void head_attention_dot(const float *q, const float *k, const float *v, int64_t ldkv, float *o, int64_t n_pos,
                               int64_t hd, float scale, float *sc)
{
    for (int64_t j = 0; j < n_pos; j++) {
        const float *kj = k + j * ldkv;
        float d = 0;
        for (int64_t i = 0; i < hd; i++) d += q[i] * kj[i];
        sc[j] = d * scale;
    }
    softmax(sc, n_pos);
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int64_t j = 0; j < n_pos; j++) {
        const float *vj = v + j * ldkv;
        for (int64_t i = 0; i < hd; i++) o[i] += sc[j] * vj[i];
    }
}

/* Causal attention of every new token of every sequence over its cache, one (sequence, head)
 * pair per task; head h reads kv head h / (n_head / n_head_kv) (grouped-query attention). */
static void attention(lb_model *m, const lb_kv_cache *kv, int64_t kv_layer, int64_t n_seq, int64_t n_tokens, int64_t pos0)
{
    const lb_llama_config *c = &m->cfg;
    int64_t hd = c->head_dim, q_dim = c->n_head * hd, group = c->n_head / c->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    int64_t work = n_seq * c->n_head * n_tokens * (pos0 + n_tokens) * hd;
#pragma omp parallel for collapse(2) schedule(static) num_threads(m->n_threads) if (work >= PAR_MIN_WORK)
    for (int64_t s = 0; s < n_seq; s++) {
        for (int64_t h = 0; h < c->n_head; h++) {
            float *scratch = m->scores + (int64_t)omp_get_thread_num() * m->cap_scores;
            const float *k = kv_row(kv, kv->k, s, kv_layer, 0) + (h / group) * hd;
            const float *v = kv_row(kv, kv->v, s, kv_layer, 0) + (h / group) * hd;
            const float *q = m->q + s * n_tokens * q_dim + h * hd;
            float *o = m->att + s * n_tokens * q_dim + h * hd;
            if (n_tokens >= ATTN_GEMM_MIN_TOKENS) {
                head_attention_gemm(q, q_dim, k, v, kv->kv_dim, o, n_tokens, pos0, hd, scale, scratch);
            } else {
                for (int64_t t = 0; t < n_tokens; t++)
                    head_attention_dot(q + t * q_dim, k, v, kv->kv_dim, o + t * q_dim, pos0 + t + 1, hd, scale, scratch);
            }
        }
    }
}

void lb_block_forward(lb_model *m, lb_kv_cache *kv, const lb_block *b, int64_t layer, int64_t kv_layer, int64_t n_seq,
                      int64_t n_tokens, int64_t pos0)
{
    const lb_llama_config *c = &m->cfg;
    int64_t rows = n_seq * n_tokens, E = c->n_embd, hd = c->head_dim;
    int64_t q_dim = c->n_head * hd, kv_dim = c->n_head_kv * hd, F = c->n_ff;

#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (rows * E >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) rmsnorm(m->xn + r * E, m->x + r * E, b->attn_norm, E, c->norm_eps);
    if (m->observe) m->observe(m->observe_user, (int)layer, LB_LINEAR_QKV, m->xn, rows, E);
    lb_act_quant_input(m, layer, LB_LINEAR_QKV, m->xn, rows, E);
    linear(m, m->q, m->xn, &b->wq, rows, q_dim, E, false);
    linear(m, m->k, m->xn, &b->wk, rows, kv_dim, E, false);
    linear(m, m->v, m->xn, &b->wv, rows, kv_dim, E, false);
    add_bias(m->q, b->bq, rows, q_dim);
    add_bias(m->k, b->bk, rows, kv_dim);
    add_bias(m->v, b->bv, rows, kv_dim);
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (rows * (q_dim + kv_dim) * hd >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        int64_t s = r / n_tokens, pos = pos0 + r % n_tokens;
        lb_rope_apply(&m->rope, m->q + r * q_dim, c->n_head, pos);
        lb_rope_apply(&m->rope, m->k + r * kv_dim, c->n_head_kv, pos);
        memcpy(kv_row(kv, kv->k, s, kv_layer, pos), m->k + r * kv_dim, (size_t)kv_dim * sizeof(float));
        memcpy(kv_row(kv, kv->v, s, kv_layer, pos), m->v + r * kv_dim, (size_t)kv_dim * sizeof(float));
    }
    attention(m, kv, kv_layer, n_seq, n_tokens, pos0);
    if (m->observe) m->observe(m->observe_user, (int)layer, LB_LINEAR_O, m->att, rows, q_dim);
    lb_act_quant_input(m, layer, LB_LINEAR_O, m->att, rows, q_dim);
    linear(m, m->x, m->att, &b->wo, rows, E, q_dim, true);

#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (rows * E >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) rmsnorm(m->xn + r * E, m->x + r * E, b->ffn_norm, E, c->norm_eps);
    if (m->observe) m->observe(m->observe_user, (int)layer, LB_LINEAR_GATE_UP, m->xn, rows, E);
    lb_act_quant_input(m, layer, LB_LINEAR_GATE_UP, m->xn, rows, E);
    linear(m, m->gate, m->xn, &b->w_gate, rows, F, E, false);
    linear(m, m->up, m->xn, &b->w_up, rows, F, E, false);
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (rows * F >= PAR_MIN_WORK)
    for (int64_t i = 0; i < rows * F; i++) {
        float g = m->gate[i];
        m->gate[i] = g / (1.0f + expf(-g)) * m->up[i];
    }
    /* QuaRot's online R4: ffn_down holds W R, so x R (W R)^T = x W^T with flatter x R */
    if (m->down_rot.n) lb_kron_rotate_rows(&m->down_rot, m->gate, rows, m->down_rot_tmp, m->n_threads);
    if (m->observe) m->observe(m->observe_user, (int)layer, LB_LINEAR_DOWN, m->gate, rows, F);
    lb_act_quant_input(m, layer, LB_LINEAR_DOWN, m->gate, rows, F);
    linear(m, m->x, m->gate, &b->w_down, rows, E, F, true);
}

void lb_logits_rows(lb_model *m, const float *hidden, int64_t n_rows, float *logits)
{
    linear(m, logits, hidden, m->output_now ? m->output_now : &m->output, n_rows, m->cfg.n_vocab, m->cfg.n_embd, false);
}

lb_status lb_forward(lb_model *m, lb_kv_cache *kv, const int32_t *tokens, int64_t n_seq, int64_t n_tokens, int64_t pos0,
                     int64_t first_logit, float *logits)
{
    const lb_llama_config *c = &m->cfg;
    if (!m->blocks) return lb_fail(LB_ERR_ARG, "model was opened without weights");
    if (n_seq < 1 || n_tokens < 1 || n_seq > kv->n_seq || pos0 < 0 || pos0 + n_tokens > kv->n_ctx ||
        first_logit < 0 || first_logit >= n_tokens)
        return lb_fail(LB_ERR_ARG, "forward: batch of %lld x %lld tokens at position %lld does not fit the cache (%lld x %lld)",
                       (long long)n_seq, (long long)n_tokens, (long long)pos0, (long long)kv->n_seq, (long long)kv->n_ctx);
    int64_t rows = n_seq * n_tokens, E = c->n_embd;
    lb_status st = lb_model_reserve(m, rows, pos0 + n_tokens);
    if (st) return st;
    for (int64_t r = 0; r < rows; r++) {
        if (tokens[r] < 0 || tokens[r] >= c->n_vocab)
            return lb_fail(LB_ERR_ARG, "forward: token id %d at index %lld is outside the vocabulary (%lld)", tokens[r],
                           (long long)r, (long long)c->n_vocab);
        if (m->tok_embd)
            memcpy(m->x + r * E, m->tok_embd + (int64_t)tokens[r] * E, (size_t)E * sizeof(float));
        else if ((st = lb_stream_embed(m, tokens[r], m->x + r * E)))
            return st;
    }
    if (m->stream) m->sstats.n_passes++;
    for (int64_t l = 0; l < c->n_layer; l++) {
        const lb_block *b = &m->blocks[l];
        if (m->stream && (st = lb_stream_block(m, l, &b))) return st;
        lb_block_forward(m, kv, b, l, l, n_seq, n_tokens, pos0);
    }
    m->output_now = &m->output;
    if (m->stream && (st = lb_stream_output(m, &m->output_now))) return st;
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (rows * E >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) rmsnorm(m->xn + r * E, m->x + r * E, m->out_norm, E, c->norm_eps);
    /* every row's final hidden state, whether or not its logits are asked for (llama-imatrix
     * requests all logits so that output.weight sees every token) */
    if (m->observe) m->observe(m->observe_user, -1, LB_LINEAR_OUTPUT, m->xn, rows, E);
    if (logits) {
        int64_t per_seq = n_tokens - first_logit;
        for (int64_t s = 0; s < n_seq; s++)
            lb_logits_rows(m, m->xn + (s * n_tokens + first_logit) * E, per_seq, logits + s * per_seq * c->n_vocab);
    }
    return LB_OK;
}
