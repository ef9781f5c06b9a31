/* What every reader produces for each tensor: name, type, shape and where its bytes are.
 * Shapes are outermost first, as PyTorch prints them: a linear weight is [n_out, n_in] and
 * shape[n_dims-1] is contiguous. (GGUF stores ne[] innermost first; its reader reverses.) */
#ifndef LB_IO_TENSOR_H
#define LB_IO_TENSOR_H

#include "core/dtype.h"

#include <stdint.h>

#define LB_MAX_DIMS 4

typedef struct lb_tensor_info {
    char *name; /* owned by the reader that produced it */
    lb_type type;
    int n_dims; /* 1..LB_MAX_DIMS */
    int64_t shape[LB_MAX_DIMS];
    int64_t n_elements;
    const uint8_t *data; /* inside a read-only mapping, borrowed until the reader closes */
    uint64_t nbytes;
    const char *file; /* path of the file holding the data, for messages */
    uint64_t offset;  /* absolute byte offset of data in that file */
    /* F8_* only: the sibling `<name>_scale` / `<name>_scale_inv` (F32, F16 or BF16) that
     * multiplies the decoded codes, or NULL (codes are the values); fp8_scaling is its
     * lb_fp8_scaling, read from the scale's shape (io/scale_links.c).
     * NF4: `<name>.absmax`, one per block of 64 elements (F32, or U8 codes under double quant). */
    const struct lb_tensor_info *scale;
    int fp8_scaling;
    /* NF4 only (io/nf4_links.c): `<name>.quant_map` F32[16], the value of each code; under
     * double quant `<name>.nested_absmax` F32[ceil(blocks/256)], `<name>.nested_quant_map`
     * F32[256] and the quant_state's nested_offset (absmax = map[code] * nested + offset),
     * else NULL and 0. */
    const struct lb_tensor_info *quant_map, *nested_absmax, *nested_quant_map;
    float nested_offset;
} lb_tensor_info;

#endif
