/* Perplexity under two named protocols.
 *
 *   llamacpp  (llama.cpp tools/perplexity): the token stream is cut into chunks of n_ctx; the
 *             first token of each chunk is replaced by BOS when the model's vocabulary adds BOS
 *             (as llama-perplexity does); only the second half is scored:
 *             positions j in [n_ctx/2, n_ctx-1) predict token j+1. Uncertainty as llama.cpp:
 *             ppl * sqrt(var(nll) / (N - 1)).
 *   gptq      (GPTQ/AWQ papers' eval loop): non-overlapping windows of n_ctx tokens, no BOS
 *             inserted, every position j < n_ctx-1 predicts token j+1 (the loss of the
 *             shifted labels), ppl = exp(mean nll).
 * Chunks are evaluated n_batch at a time through the layer-major forward pass; logits are
 * produced in tiles of rows so memory stays at tile * n_vocab floats. */
#include "model/model.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define LOGIT_TILE 64

/* -log softmax(logits)[target], max-subtracted, sum of exponentials in double (as llama.cpp). */
static double nll_of(const float *logits, int64_t n_vocab, int32_t target)
{
    float mx = logits[0];
    for (int64_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int64_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    return log(sum) - (double)(logits[target] - mx);
}

lb_status lb_perplexity(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_ppl_params *p, lb_ppl_result *out)
{
    memset(out, 0, sizeof *out);
    const lb_llama_config *c = &m->cfg;
    if (p->protocol < 0 || p->protocol >= LB_PPL_PROTOCOL_COUNT) return lb_fail(LB_ERR_ARG, "unknown perplexity protocol");
    bool llamacpp = p->protocol == LB_PPL_LLAMACPP;
    int64_t n_ctx = p->n_ctx > 0 ? p->n_ctx : (llamacpp ? 512 : 2048);
    if (n_ctx < 4) return lb_fail(LB_ERR_ARG, "context of %lld tokens is too short", (long long)n_ctx);
    int64_t n_chunks = n_tokens / n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    if (n_chunks < 1)
        return lb_fail(LB_ERR_ARG, "text has %lld tokens, fewer than one chunk of %lld", (long long)n_tokens,
                       (long long)n_ctx);
    /* llama-perplexity overwrites each chunk's first token with BOS only when the vocabulary
     * adds BOS (llama_vocab_get_add_bos); SmolLM2's GGUF, for one, does not. */
    bool bos = llamacpp && c->bos_id >= 0 && (m->tok ? lb_tokenizer_adds_bos(m->tok) : true);
    int64_t n_batch = p->n_batch > 0 ? p->n_batch : 1;
    if (n_batch > n_chunks) n_batch = n_chunks;
    int64_t first = llamacpp ? n_ctx / 2 : 0;

    lb_kv_cache kv;
    lb_status st = lb_kv_cache_init(&kv, c, n_batch, n_ctx);
    if (st) return st;
    int32_t *batch = lb_malloc((size_t)(n_batch * n_ctx) * sizeof(int32_t), "perplexity batch");
    float *logits = lb_malloc((size_t)(LOGIT_TILE * c->n_vocab) * sizeof(float), "logits tile");
    double *nll = lb_malloc((size_t)LOGIT_TILE * sizeof(double), "nll tile");
    if (!batch || !logits || !nll) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    double sum = 0, sum2 = 0;
    int64_t count = 0;
    double t0 = lb_now_s();
    for (int64_t c0 = 0; c0 < n_chunks; c0 += n_batch) {
        int64_t nb = n_chunks - c0 < n_batch ? n_chunks - c0 : n_batch;
        memcpy(batch, tokens + c0 * n_ctx, (size_t)(nb * n_ctx) * sizeof(int32_t));
        if (bos)
            for (int64_t s = 0; s < nb; s++) batch[s * n_ctx] = c->bos_id;
        if ((st = lb_forward(m, &kv, batch, nb, n_ctx, 0, n_ctx - 1, NULL))) goto done;
        for (int64_t s = 0; s < nb; s++) {
            const int32_t *seq = tokens + (c0 + s) * n_ctx;
            for (int64_t j0 = first; j0 < n_ctx - 1; j0 += LOGIT_TILE) {
                int64_t nt = n_ctx - 1 - j0 < LOGIT_TILE ? n_ctx - 1 - j0 : LOGIT_TILE;
                lb_logits_rows(m, m->xn + (s * n_ctx + j0) * c->n_embd, nt, logits);
#pragma omp parallel for schedule(static) num_threads(m->n_threads) if (nt >= 8)
                for (int64_t j = 0; j < nt; j++) nll[j] = nll_of(logits + j * c->n_vocab, c->n_vocab, seq[j0 + j + 1]);
                for (int64_t j = 0; j < nt; j++) {
                    sum += nll[j];
                    sum2 += nll[j] * nll[j];
                }
                count += nt;
            }
        }
        if (p->progress) p->progress(p->progress_user, c0 + nb, n_chunks);
    }
    double mean = sum / (double)count;
    double var = sum2 / (double)count - mean * mean;
    out->nll_mean = mean;
    out->ppl = exp(mean);
    out->ppl_stderr = (var > 0 && count > 1) ? out->ppl * sqrt(var / (double)(count - 1)) : 0;
    out->n_scored = count;
    out->n_chunks = n_chunks;
    out->n_ctx = n_ctx;
    out->seconds = lb_now_s() - t0;
    out->tokens_per_s = (double)(n_chunks * n_ctx) / out->seconds;
done:
    free(batch);
    free(logits);
    free(nll);
    lb_kv_cache_free(&kv);
    return st;
}
