/* Simulated quantization of a weight in place: its values replaced by what its quantized form
 * decodes to, for searches that try many candidates (AWQ scales and clipping) before anything is
 * written. GGUF block types go through their llama.cpp quantizer and decoder (the bytes convert
 * would write, without an imatrix); INT-N through the GPTQ/AWQ grid (intn_sim.h). */
#ifndef LB_PIPELINE_FAKE_QUANT_H
#define LB_PIPELINE_FAKE_QUANT_H

#include "core/core.h"
#include "core/dtype.h"
#include "quant/intn.h"

typedef struct lb_fake_quant {
    lb_type type;        /* a GGUF block type; F32/F16/BF16 = left as is */
    lb_intn_params intn; /* bits > 0: INT-N instead of type */
} lb_fake_quant;

/* Whether q changes values at all (a quantized type or INT-N). */
bool lb_fake_quant_active(const lb_fake_quant *q);
/* Columns that share a scale: INT-N group (cols for a whole row), 32 for the GGUF block types
 * (the sub-block of the K-quants with 32-wide scales, the block of the legacy ones; Q2_K, Q3_K
 * and Q6_K have 16-wide sub-blocks, where 32 is a coarser clipping group). */
int64_t lb_fake_quant_group(const lb_fake_quant *q, int64_t cols);
/* w[rows][cols] <- decode(quantize(w)), rows split over n_threads. name for messages. */
lb_status lb_fake_quant_rows(const lb_fake_quant *q, float *w, int64_t rows, int64_t cols, int n_threads,
                             const char *name);

#endif
