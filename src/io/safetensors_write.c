/* safetensors writer (see safetensors_write.h). Layout: u64 header length | JSON header padded
 * with spaces so the data section starts 8-byte aligned | tensors back to back in declared
 * order. No padding between tensors: the reference loader (safetensors' Rust validate) rejects
 * holes in the data section, so only the section's start is aligned. The header is built
 * with cJSON; data offsets are exact integers below 2^53 (cJSON prints doubles). */
#include "io/safetensors_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct lb_st_writer {
    char *path, *tmp;
    int fd;
    cJSON *header, *meta;
    uint64_t *sizes; /* declared tensors' byte counts, in order */
    char **names;
    int64_t n, cap;
    uint64_t total;  /* bytes of the data section */
    bool started;    /* header written */
    int64_t cur;     /* tensor being written */
    uint64_t cur_done;
    lb_status st;    /* first error (sticky) */
};

static void fail(lb_st_writer *w, lb_status st)
{
    if (!w->st) w->st = st;
}

lb_status lb_st_writer_open(const char *path, lb_st_writer **out)
{
    *out = NULL;
    lb_st_writer *w = lb_calloc(1, sizeof *w, "safetensors writer");
    if (!w) return LB_ERR_NOMEM;
    w->fd = -1;
    size_t n = strlen(path) + 32;
    w->path = lb_strdup(path);
    w->tmp = lb_malloc(n, "temp path");
    w->header = cJSON_CreateObject();
    if (!w->path || !w->tmp || !w->header) {
        lb_st_writer_abort(w);
        return lb_fail(LB_ERR_NOMEM, "%s: out of memory opening the safetensors writer", path);
    }
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        lb_status st = lb_fail(LB_ERR_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        lb_st_writer_abort(w);
        return st;
    }
    *out = w;
    return LB_OK;
}

void lb_st_writer_meta(lb_st_writer *w, const char *key, const char *value)
{
    if (w->st) return;
    if (w->started) return fail(w, lb_fail(LB_ERR_ARG, "%s: metadata '%s' after the header was written", w->path, key));
    if (!w->meta && !(w->meta = cJSON_AddObjectToObject(w->header, "__metadata__"))) return fail(w, LB_ERR_NOMEM);
    if (!cJSON_AddStringToObject(w->meta, key, value)) fail(w, LB_ERR_NOMEM);
}

void lb_st_writer_declare(lb_st_writer *w, const char *name, const char *dtype, const int64_t *shape, int n_dims,
                          uint64_t nbytes)
{
    if (w->st) return;
    if (w->started)
        return fail(w, lb_fail(LB_ERR_ARG, "%s: tensor '%s' declared after the header was written", w->path, name));
    if (cJSON_GetObjectItemCaseSensitive(w->header, name))
        return fail(w, lb_fail(LB_ERR_ARG, "%s: tensor '%s' declared twice", w->path, name));
    if (w->n == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 64;
        uint64_t *s = realloc(w->sizes, (size_t)cap * sizeof *s);
        if (s) w->sizes = s;
        char **nm = realloc(w->names, (size_t)cap * sizeof *nm);
        if (nm) w->names = nm;
        if (!s || !nm) return fail(w, lb_fail(LB_ERR_NOMEM, "%s: out of memory declaring tensors", w->path));
        w->cap = cap;
    }
    cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *off = cJSON_CreateArray();
    char *nm = lb_strdup(name);
    if (!e || !sh || !off || !nm) {
        cJSON_Delete(e), cJSON_Delete(sh), cJSON_Delete(off), free(nm);
        return fail(w, LB_ERR_NOMEM);
    }
    cJSON_AddStringToObject(e, "dtype", dtype);
    for (int i = 0; i < n_dims; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[i]));
    cJSON_AddItemToObject(e, "shape", sh);
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)w->total));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(w->total + nbytes)));
    cJSON_AddItemToObject(e, "data_offsets", off);
    cJSON_AddItemToObject(w->header, name, e);
    w->names[w->n] = nm;
    w->sizes[w->n++] = nbytes;
    w->total += nbytes;
}

static void put(lb_st_writer *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n && !w->st) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return fail(w, lb_fail(LB_ERR_IO, "%s: write failed: %s", w->tmp, strerror(errno)));
        p += k;
        n -= (size_t)k;
    }
}

static void start(lb_st_writer *w)
{
    char *json = cJSON_PrintUnformatted(w->header);
    if (!json) return fail(w, lb_fail(LB_ERR_NOMEM, "%s: out of memory printing the header", w->path));
    size_t len = strlen(json), padded = (8 + len + 7) / 8 * 8 - 8;
    uint64_t hlen = padded;
    put(w, &hlen, 8);
    put(w, json, len);
    free(json);
    static const char spaces[8] = "        ";
    put(w, spaces, padded - len);
    w->started = true;
}

void lb_st_writer_write(lb_st_writer *w, const void *data, uint64_t n)
{
    if (w->st) return;
    if (!w->started) start(w);
    while (w->cur < w->n && w->cur_done == w->sizes[w->cur] && w->sizes[w->cur] == 0) w->cur++;
    if (w->cur >= w->n || w->cur_done + n > w->sizes[w->cur])
        return fail(w, lb_fail(LB_ERR_ARG, "%s: %" PRIu64 " bytes written past the declared tensors", w->path, n));
    put(w, data, (size_t)n);
    w->cur_done += n;
    if (w->cur_done == w->sizes[w->cur]) w->cur++, w->cur_done = 0;
}

static void free_writer(lb_st_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    cJSON_Delete(w->header);
    for (int64_t i = 0; i < w->n; i++) free(w->names[i]);
    free(w->names);
    free(w->sizes);
    free(w->path);
    free(w->tmp);
    free(w);
}

void lb_st_writer_abort(lb_st_writer *w)
{
    if (!w) return;
    if (w->tmp && w->fd >= 0) unlink(w->tmp);
    free_writer(w);
}

lb_status lb_st_writer_finish(lb_st_writer *w)
{
    if (!w->st && !w->started) start(w);
    while (!w->st && w->cur < w->n && w->sizes[w->cur] == 0) w->cur++;
    if (!w->st && w->cur < w->n)
        fail(w, lb_fail(LB_ERR_ARG, "%s: tensor '%s' was declared but %s", w->path, w->names[w->cur],
                        w->cur_done ? "not written in full" : "never written"));
    if (!w->st && fsync(w->fd) != 0) fail(w, lb_fail(LB_ERR_IO, "%s: fsync failed: %s", w->tmp, strerror(errno)));
    if (!w->st) {
        int rc = close(w->fd);
        w->fd = -1;
        if (rc != 0) fail(w, lb_fail(LB_ERR_IO, "%s: close failed: %s", w->tmp, strerror(errno)));
    }
    if (!w->st && rename(w->tmp, w->path) != 0)
        fail(w, lb_fail(LB_ERR_IO, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno)));
    lb_status st = w->st;
    if (st) {
        unlink(w->tmp);
        if (w->fd >= 0) close(w->fd), w->fd = -1;
    }
    free_writer(w);
    return st;
}
