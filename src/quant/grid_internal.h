/* Per-type pieces of lb_grid for GGUF block types (grid_blocks.c), used by grid.c. */
#ifndef LB_QUANT_GRID_INTERNAL_H
#define LB_QUANT_GRID_INTERNAL_H

#include "core/dtype.h"
#include <stdint.h>

/* Rounds w to the nearest value that position pos (0 <= pos < block size) of the packed block
 * blk can take under the scales/mins already stored in blk, among the codes the type's own
 * quantizer produces; writes that code into blk; returns the value exactly as the type's
 * decoder (src/quant/dequant_*.c) computes it for that position. Ties go to the lower code. */
typedef float (*lb_block_round_fn)(void *blk, int64_t pos, float w);

/* The rounder of a GGUF block type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K, IQ4_NL, IQ4_XS), or NULL. */
lb_block_round_fn lb_block_rounder_of(lb_type t);

#endif
