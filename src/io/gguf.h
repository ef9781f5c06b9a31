/* GGUF v2/v3 reader (spec: ggml docs/gguf.md; hostile-header checks after ggml gguf.cpp).
 * The file is mmapped; keys, string values and tensor data point into the mapping and are
 * borrowed until lb_gguf_close. Every length, count, offset and n_dims is checked against
 * the file size before use; the first problem is reported with the byte offset. */
#ifndef LB_IO_GGUF_H
#define LB_IO_GGUF_H

#include "core/core.h"
#include "io/tensor.h"

typedef enum lb_gguf_type {
    LB_GGUF_UINT8 = 0,
    LB_GGUF_INT8 = 1,
    LB_GGUF_UINT16 = 2,
    LB_GGUF_INT16 = 3,
    LB_GGUF_UINT32 = 4,
    LB_GGUF_INT32 = 5,
    LB_GGUF_FLOAT32 = 6,
    LB_GGUF_BOOL = 7,
    LB_GGUF_STRING = 8,
    LB_GGUF_ARRAY = 9,
    LB_GGUF_UINT64 = 10,
    LB_GGUF_INT64 = 11,
    LB_GGUF_FLOAT64 = 12,
    LB_GGUF_TYPE_COUNT
} lb_gguf_type;

/* A string inside the mapping: NOT NUL-terminated. */
typedef struct lb_str {
    const char *ptr;
    uint64_t len;
} lb_str;

bool lb_str_eq(lb_str s, const char *z);

typedef struct lb_gguf lb_gguf;

lb_status lb_gguf_open(const char *path, lb_gguf **out);
void lb_gguf_close(lb_gguf *g);

uint32_t lb_gguf_version(const lb_gguf *g);
uint64_t lb_gguf_alignment(const lb_gguf *g);
const char *lb_gguf_path(const lb_gguf *g);

/* ---- metadata ---- */
int64_t lb_gguf_n_kv(const lb_gguf *g);
lb_str lb_gguf_kv_key(const lb_gguf *g, int64_t i);
lb_gguf_type lb_gguf_kv_type(const lb_gguf *g, int64_t i);
int64_t lb_gguf_find(const lb_gguf *g, const char *key); /* -1 when absent */

/* Scalar getters: false when the key is absent or its type does not convert
 * (any integer type converts to i64 if in range; any numeric to f64; bool only from BOOL). */
bool lb_gguf_get_i64(const lb_gguf *g, const char *key, int64_t *out);
bool lb_gguf_get_f64(const lb_gguf *g, const char *key, double *out);
bool lb_gguf_get_bool(const lb_gguf *g, const char *key, bool *out);
bool lb_gguf_get_str(const lb_gguf *g, const char *key, lb_str *out);

/* Arrays (kv i must be LB_GGUF_ARRAY; nested arrays are rejected at open). */
lb_gguf_type lb_gguf_arr_type(const lb_gguf *g, int64_t i);
uint64_t lb_gguf_arr_len(const lb_gguf *g, int64_t i);
/* Numeric element j converted (false when not numeric or out of range). */
bool lb_gguf_arr_i64(const lb_gguf *g, int64_t i, uint64_t j, int64_t *out);
bool lb_gguf_arr_f64(const lb_gguf *g, int64_t i, uint64_t j, double *out);
/* String element j (O(1): offsets are indexed at open). */
lb_str lb_gguf_arr_str(const lb_gguf *g, int64_t i, uint64_t j);

/* Human-readable value of kv i into buf (arrays summarized as "[type x N] first, ..."). */
void lb_gguf_kv_format(const lb_gguf *g, int64_t i, char *buf, size_t cap);

/* ---- tensors (shape outermost first; data inside the mapping) ---- */
int64_t lb_gguf_n_tensors(const lb_gguf *g);
const lb_tensor_info *lb_gguf_tensor(const lb_gguf *g, int64_t i);
const lb_tensor_info *lb_gguf_find_tensor(const lb_gguf *g, const char *name);

#endif
