/* Quantizers for every llama.cpp block type, bit-exact with llama.cpp (ggml-quants.c): the
 * same bytes as ggml_quantize_chunk(type, src, dst, start, n_rows, n_per_row, imatrix). Without
 * importance weights that is quantize_row_<type>_ref for most types (IQ4_NL is the exception:
 * quantize_iq4_nl searches with x^2 weights), with them (an imatrix row of per-column weights)
 * quantize_<type>_impl. Pure row functions: no allocation, no I/O. */
#ifndef LB_QUANT_QUANTIZE_H
#define LB_QUANT_QUANTIZE_H

#include "core/core.h"
#include "core/dtype.h"

/* Quantizes one row of n_per_row elements (a multiple of the block size) from src into dst.
 * imatrix: NULL, or n_per_row non-negative importance weights for this row's columns. */
typedef void (*lb_quantize_row_fn)(const float *restrict src, void *restrict dst, int64_t n_per_row,
                                   const float *restrict imatrix);

/* The quantizer of t (NULL when lowbit cannot produce t). */
lb_quantize_row_fn lb_quantizer_of(lb_type t);

/* n_rows rows of n_per_row elements, as ggml_quantize_chunk. Rejects NaN/Inf in src and in
 * imatrix with LB_ERR_NUMERIC naming `what`, the row and the column; rejects a row length that
 * is not a multiple of the block size with LB_ERR_ARG. */
lb_status lb_quantize_rows(lb_type t, const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                           const float *imatrix, const char *what);

#endif
