/* safetensors writer (spec: huggingface/safetensors README, "Format"). The header lists every
 * tensor's offsets before any data, so writing is two-phase: declare every tensor (name, dtype,
 * shape), then write their bytes in the declared order. The file is written to PATH.tmp.PID,
 * fsync'd and renamed to PATH by lb_st_writer_finish; any failure (sticky: the first error is
 * kept, later calls do nothing) removes the temp file and leaves PATH untouched. */
#ifndef LB_IO_SAFETENSORS_WRITE_H
#define LB_IO_SAFETENSORS_WRITE_H

#include "core/core.h"

#include <stdint.h>

typedef struct lb_st_writer lb_st_writer;

lb_status lb_st_writer_open(const char *path, lb_st_writer **out);
/* Declares a tensor; dtype is the safetensors spelling ("F32", "BF16", "F8_E4M3", "U8", ...),
 * nbytes must equal the shape's element count times the dtype's size (checked by readers). */
void lb_st_writer_declare(lb_st_writer *w, const char *name, const char *dtype, const int64_t *shape, int n_dims,
                          uint64_t nbytes);
/* Optional "__metadata__" string pair (e.g. "format": "pt"); before the first write. */
void lb_st_writer_meta(lb_st_writer *w, const char *key, const char *value);
/* Bytes of the next declared tensor, in one call or several (n adds up to its nbytes). */
void lb_st_writer_write(lb_st_writer *w, const void *data, uint64_t n);
/* Checks every tensor was written in full, fsyncs and renames; frees w in every case. */
lb_status lb_st_writer_finish(lb_st_writer *w);
/* Drops an unfinished file (temp removed); NULL is a no-op. */
void lb_st_writer_abort(lb_st_writer *w);

#endif
