/* A quantization grid walked one column at a time, as GPTQ needs it: when GPTQ reaches a group
 * of columns, the group's grid is fitted for each row (the type's own scale/min search, with
 * optional per-column importance); then each weight of the group is rounded to the nearest point
 * of that fitted grid as GPTQ reaches its column (its value has changed since the fit: GPTQ
 * has pushed earlier columns' errors into it); at the end the rows are the type's own packed
 * format, whose decoder gives back exactly the values lb_grid_round returned.
 *
 *   GGUF block types (Q4_0 .. Q8_0, Q2_K .. Q6_K, IQ4_NL, IQ4_XS): a group is one block
 *   (32 or 256 columns), fitted by the type's llama.cpp quantizer (src/quant/quantize*.c) on
 *   the group's current values; the packed rows are ordinary tensor bytes of that type.
 *   INT-N (src/quant/intn.h): a group is group_size columns, fitted as AutoGPTQ's Quantizer;
 *   scales are rounded to f16 (what GPTQ checkpoints store); codes one per byte. A column ->
 *   group map may be set (GPTQ act-order with g_idx): group g then holds the columns c with
 *   g_idx[c] == g, in any order.
 *
 * Rows are independent: different rows may be fitted and rounded from different threads. */
#ifndef LB_QUANT_GRID_H
#define LB_QUANT_GRID_H

#include "core/core.h"
#include "core/dtype.h"
#include "quant/intn.h"

typedef struct lb_grid lb_grid;

typedef struct lb_grid_spec {
    lb_type type;        /* a GGUF block type; ignored when intn.bits > 0 */
    lb_intn_params intn; /* bits > 0: group-wise INT-N instead */
} lb_grid_spec;

/* A grid for a [rows][cols] weight. LB_ERR_ARG when cols is not a multiple of the group (or
 * block) size or the type has no quantizer; LB_ERR_NOMEM. */
lb_status lb_grid_create(const lb_grid_spec *spec, int64_t rows, int64_t cols, lb_grid **out);
void lb_grid_free(lb_grid *g);

/* Columns fitted together (block size or INT-N group size; cols for a whole-row group). */
int64_t lb_grid_group_size(const lb_grid *g);
/* INT-N only: column c belongs to group g_idx[c] (each group exactly group_size columns);
 * NULL restores contiguous groups. LB_ERR_ARG for block types or a bad map. Copied. */
lb_status lb_grid_set_groups(lb_grid *g, const int32_t *g_idx);
/* The group of column c (g_idx[c], or c / group_size). */
int64_t lb_grid_group_of(const lb_grid *g, int64_t c);

/* Fits row r's group gi to the current values w[group_size] of its columns (in increasing column
 * order for contiguous groups; in g_idx order = increasing column order of that group's columns
 * otherwise), with importance imp[group_size] (same order; NULL = none). */
void lb_grid_fit(lb_grid *g, int64_t r, int64_t gi, const float *w, const float *imp);
/* Rounds w, the current value of weight (r, c), to the nearest point of its group's fitted grid,
 * records the code, and returns the dequantized value: bit-identical to what decoding the
 * packed row gives for (r, c). The group must have been fitted. */
float lb_grid_round(lb_grid *g, int64_t r, int64_t c, float w);

/* GGUF block types: the packed tensor, [rows][row_bytes] (lb_type_nbytes of cols). */
const void *lb_grid_bytes(const lb_grid *g, size_t *row_bytes);
/* INT-N: codes [rows][cols], f16-exact scales [rows][n_groups] and zeros [rows][n_groups]. */
void lb_grid_intn(const lb_grid *g, const uint8_t **codes, const float **scales, const uint8_t **zeros);
/* Decodes the packed rows to y[rows][cols] (f32): the values lb_grid_round returned. */
void lb_grid_dequantize(const lb_grid *g, float *y);

#endif
