/* Text generation: prompt processing in one batch, then one token at a time through the same
 * layer-major forward pass with a KV cache, sampling each next token (sampler.h). */
#include "model/model.h"
#include "model/sampler.h"

#include <string.h>

lb_status lb_generate(lb_model *m, const int32_t *prompt, int64_t n_prompt, int64_t n_predict,
                      const lb_sample_params *sp, lb_token_fn on_token, void *user, lb_gen_stats *stats)
{
    lb_gen_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (n_prompt < 1) return lb_fail(LB_ERR_ARG, "generate: the prompt is empty (no tokens)");
    if (n_predict < 0) return lb_fail(LB_ERR_ARG, "generate: negative number of tokens to predict");
    const int64_t n_vocab = m->cfg.n_vocab;
    lb_kv_cache kv;
    lb_sampler smp;
    memset(&smp, 0, sizeof smp);
    float *logits = NULL;
    lb_status st = lb_kv_cache_init(&kv, &m->cfg, 1, n_prompt + (n_predict > 0 ? n_predict : 1));
    if (st) return st;
    if ((st = lb_sampler_init(&smp, sp, n_vocab))) goto done;
    if (!(logits = lb_malloc((size_t)n_vocab * sizeof(float), "logits"))) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    if ((st = lb_model_reserve(m, n_prompt, n_prompt + n_predict))) goto done;

    double t0 = lb_now_s();
    if ((st = lb_forward(m, &kv, prompt, 1, n_prompt, 0, n_prompt - 1, logits))) goto done;
    stats->n_prompt = n_prompt;
    stats->prompt_seconds = lb_now_s() - t0;
    t0 = lb_now_s();
    for (int64_t i = 0; i < n_predict; i++) {
        int32_t tok = lb_sample(&smp, logits);
        if (tok < 0) {
            st = lb_fail(LB_ERR_NUMERIC, "generate: logits hold NaN or Inf at step %lld", (long long)i);
            goto done;
        }
        bool eos = tok == m->cfg.eos_id;
        if (!eos) stats->n_generated++; /* EOS ends the text; it is not part of it */
        bool go_on = on_token ? on_token(user, tok) : true;
        if (!go_on || eos || i + 1 == n_predict) break;
        if ((st = lb_forward(m, &kv, &tok, 1, 1, n_prompt + i, 0, logits))) goto done;
    }
    stats->gen_seconds = lb_now_s() - t0;
done:
    free(logits);
    lb_sampler_free(&smp);
    lb_kv_cache_free(&kv);
    return st;
}
