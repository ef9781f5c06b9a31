/* One table of type traits (after ggml's type_traits[]): every element or block type lowbit
 * reads has its name, block geometry and decoder here, so no caller switches on types.
 * Decoders are bit-exact with llama.cpp's reference dequantize_row_* (ggml-quants.c). */
#ifndef LB_QUANT_TYPES_H
#define LB_QUANT_TYPES_H

#include "core/dtype.h"

#include <stddef.h>
#include <stdint.h>

/* Decodes n elements (n a multiple of block_size) from src into dst. Pure: no allocation. */
typedef void (*lb_to_f32_fn)(const void *restrict src, float *restrict dst, int64_t n);

typedef struct lb_type_traits {
    const char *name;   /* ggml/safetensors spelling: "F32", "Q4_K", "F8_E4M3" */
    int64_t block_size; /* elements per block (1 for scalar types) */
    size_t type_size;   /* bytes per block */
    bool is_quantized;
    bool is_float;      /* decodes to floating values (to_f32 != NULL) */
    lb_to_f32_fn to_f32;
} lb_type_traits;

/* Traits of t, or NULL when t is not a type lowbit knows (use this to validate file input). */
const lb_type_traits *lb_type_traits_of(int64_t t);
/* Type by name (case-sensitive, ggml spelling); returns false if unknown. */
bool lb_type_from_name(const char *name, lb_type *out);
/* Bytes of n elements of type t; false when n is not a multiple of the block size or on overflow. */
bool lb_type_nbytes(lb_type t, uint64_t n, uint64_t *out);

#endif
