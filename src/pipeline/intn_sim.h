/* Group-wise INT-N (GPTQ/AWQ grid) as `lowbit quantize --type INT4 --group-size 128`: until a
 * packed GPTQ-checkpoint writer exists, the block linears are written as F32 holding exactly
 * the values the packed format decodes to (simulated quantization, as the GPTQ paper evaluates),
 * so perplexity measures the format. See lb_quantize_params.group_size. */
#ifndef LB_PIPELINE_INTN_SIM_H
#define LB_PIPELINE_INTN_SIM_H

#include "lowbit.h"
#include "quant/intn.h"

/* "INT2" .. "INT8" (case-insensitive) -> true and *bits. */
bool lb_intn_type(const char *type, int *bits);
/* The grid of one weight with rows of cols: the requested group size (0 = 128), or one group
 * per row when it does not divide cols. */
lb_intn_params lb_intn_for_cols(const lb_quantize_params *p, int64_t cols);
/* Round to nearest on that grid, in place (RTN, the baseline GPTQ improves on). */
lb_status lb_intn_round_rows(const lb_intn_params *ip, float *x, int64_t rows, int64_t cols);
/* Bits per weight of the packed format: bits + (16-bit scale + bits-wide zero) per group. */
double lb_intn_bpw(const lb_intn_params *ip, int64_t cols);

#endif
