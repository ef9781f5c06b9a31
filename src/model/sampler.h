/* Token sampling for generation: greedy, temperature, top-k and top-p (nucleus), drawn from an
 * explicit seeded random state (xoshiro256**, seeded through splitmix64). No global state: two
 * samplers with the same parameters and seed draw the same tokens on every machine (up to the
 * libm's expf).
 *
 * Order of the filters, after Holtzman et al. 2020 ("The Curious Case of Neural Text
 * Degeneration") as HF transformers and llama2.c apply them:
 *   1. top-k: keep the k largest logits (ties broken towards the lower token id)
 *   2. softmax with temperature: p_i = exp((l_i - max l) / temp) / Z over the kept tokens
 *   3. top-p: keep the smallest prefix of the tokens sorted by p (descending, lower id first on
 *      ties) whose cumulative probability is >= top_p (at least one token)
 *   4. renormalize over what is left and draw one token.
 * Note: llama.cpp's default chain applies temperature after top-p, so its nucleus is computed at
 * temperature 1; with temp != 1 and top_p < 1 the two differ by design.
 *
 * Greedy (temp == 0, or top_k == 1) is argmax with the lowest index on ties and consumes no
 * random numbers. */
#ifndef LB_SAMPLER_H
#define LB_SAMPLER_H

#include "core/core.h"

/* ---- random numbers ---- */

/* xoshiro256** (Blackman & Vigna 2018); the state is never all zero. */
typedef struct lb_rng {
    uint64_t s[4];
} lb_rng;

/* Fills the state from seed with splitmix64, as the xoshiro authors recommend. */
void lb_rng_seed(lb_rng *r, uint64_t seed);
uint64_t lb_rng_next(lb_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double lb_rng_uniform(lb_rng *r);

/* ---- sampler ---- */

/* One candidate token: its logit, its probability once computed, its id. */
typedef struct lb_sample_cand {
    float logit, p;
    int32_t id;
} lb_sample_cand;

typedef struct lb_sampler {
    lb_sample_params p;
    int64_t n_vocab;
    lb_rng rng;
    lb_sample_cand *cand; /* [n_vocab] scratch */
} lb_sampler;

/* Validates the parameters (temp >= 0, top_k >= 0, 0 <= top_p; top_p >= 1 is off, top_p == 0
 * keeps only the most likely token) and allocates the scratch for n_vocab logits. All
 * allocation happens here. On failure *s is zeroed (lb_sampler_free is still safe). */
lb_status lb_sampler_init(lb_sampler *s, const lb_sample_params *p, int64_t n_vocab);
void lb_sampler_free(lb_sampler *s); /* zeroed or NULL: no-op */

/* Draws one token id from logits[n_vocab] (as given to init). Returns -1 when the logits
 * considered hold a NaN or +Inf (a broken forward pass; the caller reports LB_ERR_NUMERIC). */
int32_t lb_sample(lb_sampler *s, const float *logits);

/* Index of the largest finite-or-(-inf) logit, the lowest on ties; -1 on NaN/+Inf or n <= 0. */
int32_t lb_argmax(const float *logits, int64_t n);

#endif
