/* Rotary position embedding tables and application (see rope.c). */
#ifndef LB_MODEL_ROPE_H
#define LB_MODEL_ROPE_H

#include "model/model.h"

/* src may be NULL; when it holds a rope_freqs tensor (GGUF llama3), its divisors are used. */
lb_status lb_rope_init(lb_rope *r, const lb_llama_config *c, const lb_source *src);
void lb_rope_free(lb_rope *r);
/* Rotates n_heads consecutive heads of x ([n_heads][head_dim]) for position pos. */
void lb_rope_apply(const lb_rope *r, float *restrict x, int64_t n_heads, int64_t pos);

#endif
