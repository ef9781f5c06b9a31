/* Internal core: status messages, invariants, checked arithmetic, file mappings, timing.
 * Every module includes this; it depends on nothing but libc and the public header. */
#ifndef LB_CORE_H
#define LB_CORE_H

#include "lowbit.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- status ---- */

/* Records a printf-style message for lb_errmsg() and returns s, so failures read
 * `return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %llu: ...", ...)`. */
lb_status lb_fail(lb_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with more context ("loading model: ...") and returns s. */
lb_status lb_fail_context(lb_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_clear_error(void);

/* Our own broken invariant: always on, prints file:line and aborts. */
#define LB_ASSERT(x)                                                                           \
    do {                                                                                       \
        if (!(x)) lb_assert_fail(__FILE__, __LINE__, #x);                                      \
    } while (0)
_Noreturn void lb_assert_fail(const char *file, int line, const char *expr);

/* ---- checked sizes (anything computed from file contents goes through these) ---- */

static inline bool lb_mul_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool lb_add_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

/* ---- memory ---- */

/* malloc/calloc that set an LB_ERR_NOMEM message naming what was being allocated. */
void *lb_malloc(size_t n, const char *what);
void *lb_calloc(size_t count, size_t size, const char *what);
char *lb_strdup(const char *s);
char *lb_strndup(const char *s, size_t n);

/* ---- files ---- */

/* A read-only mapping of a whole file. */
typedef struct lb_mapping {
    char *path;
    const uint8_t *data;
    uint64_t size;
} lb_mapping;

lb_status lb_map_file(const char *path, lb_mapping *out);
void lb_unmap(lb_mapping *m); /* no-op on a zeroed mapping */
/* Drops the pages of [p, p+n) of a read-only file mapping from this process (they stay in the
 * page cache; a later access reads them again): a model decoded tensor by tensor does not keep
 * the whole file resident. */
void lb_release_pages(const void *p, size_t n);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
lb_status lb_read_file(const char *path, char **out, size_t *len);
bool lb_file_exists(const char *path);
bool lb_is_dir(const char *path);
/* dir + "/" + name, malloc'd. */
char *lb_path_join(const char *dir, const char *name);
/* Directory part of a path ("." when none), malloc'd. */
char *lb_path_dir(const char *path);

/* ---- time and threads ---- */

/* 64-bit FNV-1a of n bytes continuing from h (start with LB_FNV_OFFSET). */
#define LB_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t lb_fnv1a(uint64_t h, const void *data, size_t n);

double lb_now_s(void);        /* monotonic seconds */
int lb_n_cores(void);         /* online CPUs, >= 1 */

/* ---- progress bar on stderr, drawn only when stderr is a terminal or LOWBIT_PROGRESS=1 ---- */

typedef struct lb_progress {
    const char *label;
    int64_t total;
    double t_start, t_last;
    bool enabled;
} lb_progress;

void lb_progress_begin(lb_progress *p, const char *label, int64_t total, bool quiet);
void lb_progress_update(lb_progress *p, int64_t done);
void lb_progress_end(lb_progress *p);

#endif
