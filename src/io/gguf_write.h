/* Streaming GGUF v3 writer (spec: ggml docs/gguf.md; the layout gguf_read.c describes).
 *
 * Use: open, add metadata and tensor infos (held in memory: they are small), write_header, then
 * each tensor's bytes in the order the infos were added (in as many pieces as convenient; the
 * writer pads to the alignment between tensors), then finish. The file is written to
 * "<path>.tmp.<pid>" and renamed to path only after every byte is written and fsync'd, so a
 * failed or abandoned write never leaves a half-written path, and a previous file stays as it was.
 *
 * Errors are sticky (after Redis rio): the first failure (a write error such as ENOSPC, a bad
 * argument, out of memory) is recorded with the byte offset it happened at, every later call is
 * a no-op, and lb_gguf_writer_finish reports it once, naming the file and offset, after removing
 * the temporary file. Callers therefore need not check each add/write. */
#ifndef LB_IO_GGUF_WRITE_H
#define LB_IO_GGUF_WRITE_H

#include "core/core.h"
#include "io/gguf.h"

typedef struct lb_gguf_writer lb_gguf_writer;

/* Creates the temporary file beside path. alignment: a power of two, 0 = 32 (GGUF's default;
 * any other value is recorded as general.alignment). Fails at once when the file cannot be
 * created (directory missing or unwritable). */
lb_status lb_gguf_writer_open(const char *path, uint64_t alignment, lb_gguf_writer **out);

/* Resumable output (checkpointed quantization): the temporary file is tmp, chosen by the caller,
 * kept on failure and abort (the caller removes it), renamed to path by finish. resume: tmp
 * holds an earlier run's output; lb_gguf_write_header then compares the header it would write
 * with the file (a mismatch is LB_ERR_FORMAT) and lb_gguf_writer_resume_at continues after the
 * first n_done tensors. */
lb_status lb_gguf_writer_open_resumable(const char *path, const char *tmp, bool resume, uint64_t alignment,
                                        lb_gguf_writer **out);
/* Between tensors: flushes and fsyncs; *n_done tensors are complete and end at byte *offset. */
lb_status lb_gguf_writer_sync(lb_gguf_writer *w, int64_t *n_done, uint64_t *offset);
/* Resuming, after lb_gguf_write_header: checks that n_done tensors end at offset in this
 * layout and that the file holds them, cuts anything after offset, and continues there. */
lb_status lb_gguf_writer_resume_at(lb_gguf_writer *w, int64_t n_done, uint64_t offset);

/* ---- metadata (before lb_gguf_write_header; keys must be unique) ---- */
void lb_gguf_add_u8(lb_gguf_writer *w, const char *key, uint8_t v);
void lb_gguf_add_i8(lb_gguf_writer *w, const char *key, int8_t v);
void lb_gguf_add_u16(lb_gguf_writer *w, const char *key, uint16_t v);
void lb_gguf_add_i16(lb_gguf_writer *w, const char *key, int16_t v);
void lb_gguf_add_u32(lb_gguf_writer *w, const char *key, uint32_t v);
void lb_gguf_add_i32(lb_gguf_writer *w, const char *key, int32_t v);
void lb_gguf_add_u64(lb_gguf_writer *w, const char *key, uint64_t v);
void lb_gguf_add_i64(lb_gguf_writer *w, const char *key, int64_t v);
void lb_gguf_add_f32(lb_gguf_writer *w, const char *key, float v);
void lb_gguf_add_f64(lb_gguf_writer *w, const char *key, double v);
void lb_gguf_add_bool(lb_gguf_writer *w, const char *key, bool v);
void lb_gguf_add_str(lb_gguf_writer *w, const char *key, const char *v);
void lb_gguf_add_strn(lb_gguf_writer *w, const char *key, const char *v, size_t len);
/* Array of n numeric/bool elements of type elem (little-endian values, packed, as in the file). */
void lb_gguf_add_arr(lb_gguf_writer *w, const char *key, lb_gguf_type elem, const void *data, uint64_t n);
/* Array of n strings; lens may be NULL for NUL-terminated strings. */
void lb_gguf_add_arr_str(lb_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n);
/* String arrays built one element at a time (vocabularies): begin, n x push, end. No other add
 * may come between begin and end. */
void lb_gguf_arr_str_begin(lb_gguf_writer *w, const char *key, uint64_t n);
void lb_gguf_arr_str_push(lb_gguf_writer *w, const char *s, size_t len);
void lb_gguf_arr_str_end(lb_gguf_writer *w);

/* ---- tensors ---- */

/* Shape outermost first, as lb_tensor_info (written as ggml ne[], innermost first). The row
 * length shape[n_dims-1] must be a multiple of the type's block size. */
void lb_gguf_add_tensor_info(lb_gguf_writer *w, const char *name, lb_type type, int n_dims, const int64_t *shape);
/* Writes header, metadata and tensor infos (and the padding before the data section). */
lb_status lb_gguf_write_header(lb_gguf_writer *w);
/* Appends bytes of the current tensor; may be called several times per tensor. Writing past
 * the current tensor's size is an error. */
void lb_gguf_write_data(lb_gguf_writer *w, const void *data, size_t n);

/* The first error so far (LB_OK when none); its message is in lb_errmsg() when it happened. */
lb_status lb_gguf_writer_status(const lb_gguf_writer *w);
/* Checks every tensor was written in full, flushes, fsyncs, renames to the final path and frees
 * w. On any error (now or recorded earlier) the temporary file is removed, the final path is left
 * untouched, and the error is reported naming the file and the byte offset. */
lb_status lb_gguf_writer_finish(lb_gguf_writer *w);
/* Abandons the file: removes the temporary file and frees w. NULL is a no-op. */
void lb_gguf_writer_abort(lb_gguf_writer *w);

#endif
