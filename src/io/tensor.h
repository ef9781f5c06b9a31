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
} lb_tensor_info;

#endif
