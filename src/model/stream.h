/* Layer streaming: a model bigger than its memory budget keeps the blocks that fit resident and
 * reads the others from disk on every forward pass (see lb_open_params.mem_limit).
 *
 * A streamed block (or output head) is a unit: its tensors' bytes, read as stored with one
 * pread per contiguous file range into a reusable slot buffer, then used in place: linears stay
 * in their stored type and are decoded right before their product (forward.c), or multiplied
 * as stored under llamacpp numerics, exactly as a resident model computes them. With prefetch
 * there are two slots and a thread that reads the next unit in pass order while the current
 * one computes; read ranges are dropped from the page cache afterwards (or bypass it with
 * O_DIRECT), so a streamed model occupies its budget, not the machine's memory. Each unit is
 * checked for NaN/Inf the first time it is read. */
#ifndef LB_MODEL_STREAM_H
#define LB_MODEL_STREAM_H

#include "model/model.h"

typedef struct lb_stream lb_stream;

/* Loads m's weights under its memory plan: everything resident when the budget allows (or
 * there is none), else the blocks that fit, with the stream opened for the rest. Fills
 * m->sstats' plan fields and prints the plan unless quiet. */
lb_status lb_stream_load_weights(lb_model *m);
void lb_stream_close(lb_stream *s);

/* Block `layer`, ready to compute, and the output head; valid until the next call of either. */
lb_status lb_stream_block(lb_model *m, int64_t layer, const lb_block **out);
lb_status lb_stream_output(lb_model *m, const lb_weight **out);
/* Row `token` of the token embedding, read from disk and decoded into dst[n_embd]. */
lb_status lb_stream_embed(lb_model *m, int32_t token, float *dst);

#endif
