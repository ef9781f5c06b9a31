/* Streaming GGUF v3 writer (see gguf_write.h for the contract; layout in gguf_read.c).
 *
 * Metadata and tensor infos are serialized into memory as they are added (a vocabulary of 150k
 * tokens is a few MB); tensor data is streamed through a 1 MiB buffer straight to the file, so
 * peak memory is one tensor of the caller's plus that buffer. The first error of any kind is
 * kept with its byte offset and reported once by finish (Redis rio's sticky-error pattern):
 * a full disk (ENOSPC) in the middle of a 10 GB tensor stream costs the caller no checks.
 *
 * Not here: reading (gguf_read.c), choosing keys or tensor types (src/model/convert.c). */
#include "io/gguf_write.h"
#include "quant/types.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF writer assumes a little-endian host");

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGML_MAX_NAME 64 /* llama.cpp keeps tensor names in char[64], NUL included */
#define GGML_TYPE_LIMIT LB_TYPE_F8_E4M3
#define OUT_BUF_SIZE (1u << 20)

// ---- types ----

typedef struct tensor_rec {
    char *name;
    lb_type type;
    int n_dims;
    int64_t shape[LB_MAX_DIMS];
    uint64_t nbytes, offset; /* offset relative to the data section */
} tensor_rec;

/* A growable byte buffer for the serialized metadata and tensor infos. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

struct lb_gguf_writer {
    char *path, *tmp;
    int fd;
    uint64_t alignment;

    bytes meta; /* serialized kvs */
    uint64_t n_kv;
    char **keys; /* for the duplicate check */
    int64_t n_keys, cap_keys;
    uint64_t arr_left; /* strings still expected by an open lb_gguf_arr_str_begin */
    bool in_arr;

    tensor_rec *tensors;
    int64_t n_tensors, cap_tensors;
    uint64_t data_size; /* bytes of the data section so far (aligned) */

    bool header_written;
    int64_t cur;          /* tensor being written */
    uint64_t cur_written; /* its bytes so far */

    uint8_t *buf; /* output buffer */
    size_t buf_len;
    uint64_t flushed; /* bytes handed to the file */
    uint64_t data_start; /* file offset of the data section (after the header) */

    bool keep_tmp; /* resumable: the temporary file is the caller's and outlives failures */
    bool verify;   /* resuming: the header is compared with the file instead of written */

    lb_status err; /* sticky */
    char msg[768];
};

// ---- sticky errors ----

static void set_err(lb_gguf_writer *w, lb_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(lb_gguf_writer *w, lb_status st, const char *fmt, ...)
{
    if (w->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    w->err = st;
    lb_fail(st, "%s", w->msg);
}

static uint64_t out_offset(const lb_gguf_writer *w) { return w->flushed + w->buf_len; }

// ---- file output ----

/* Resuming: the bytes that would be written must already be in the file, unchanged. */
static void verify_buf(lb_gguf_writer *w)
{
    uint8_t tmp[4096];
    for (size_t done = 0; !w->err && done < w->buf_len;) {
        size_t k = w->buf_len - done < sizeof tmp ? w->buf_len - done : sizeof tmp;
        ssize_t n = pread(w->fd, tmp, k, (off_t)(w->flushed + done));
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)k || memcmp(tmp, w->buf + done, k) != 0)
            set_err(w, LB_ERR_FORMAT, "%s: the partial output %s differs from this run's header at byte offset %" PRIu64
                    " (written by another version or other options): cannot resume", w->path, w->tmp, w->flushed + done);
        done += k;
    }
    w->flushed += w->buf_len;
    w->buf_len = 0;
}

static void flush_buf(lb_gguf_writer *w)
{
    if (w->verify) {
        verify_buf(w);
        return;
    }
    size_t done = 0;
    while (!w->err && done < w->buf_len) {
        ssize_t n = write(w->fd, w->buf + done, w->buf_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            set_err(w, LB_ERR_IO, "%s: writing failed at byte offset %" PRIu64 " (temporary file %s): %s", w->path,
                    w->flushed + done, w->tmp, strerror(e));
            break;
        }
        done += (size_t)n;
    }
    w->flushed += done;
    w->buf_len = 0;
}

static void out(lb_gguf_writer *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (!w->err && n > 0) {
        size_t room = OUT_BUF_SIZE - w->buf_len;
        size_t k = n < room ? n : room;
        memcpy(w->buf + w->buf_len, p, k);
        w->buf_len += k, p += k, n -= k;
        if (w->buf_len == OUT_BUF_SIZE) flush_buf(w);
    }
}

static void out_zeros(lb_gguf_writer *w, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        out(w, zeros, k);
        n -= k;
    }
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (a - x % a) % a; }

// ---- metadata serialization ----

static void put(lb_gguf_writer *w, const void *data, size_t n)
{
    if (w->err) return;
    bytes *b = &w->meta;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            set_err(w, LB_ERR_NOMEM, "%s: out of memory for %zu bytes of GGUF metadata", w->path, cap);
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(lb_gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(lb_gguf_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_str(lb_gguf_writer *w, const char *s, size_t len)
{
    put_u64(w, len);
    put(w, s, len);
}

static const size_t SCALAR_SIZE[LB_GGUF_TYPE_COUNT] = {
    [LB_GGUF_UINT8] = 1, [LB_GGUF_INT8] = 1, [LB_GGUF_UINT16] = 2, [LB_GGUF_INT16] = 2,
    [LB_GGUF_UINT32] = 4, [LB_GGUF_INT32] = 4, [LB_GGUF_FLOAT32] = 4, [LB_GGUF_BOOL] = 1,
    [LB_GGUF_UINT64] = 8, [LB_GGUF_INT64] = 8, [LB_GGUF_FLOAT64] = 8,
};

/* Starts kv `key` of type t: checks the state and the key, writes key and type. */
static bool begin_kv(lb_gguf_writer *w, const char *key, lb_gguf_type t)
{
    if (w->err) return false;
    if (w->header_written || w->in_arr) {
        set_err(w, LB_ERR_ARG, "%s: metadata key '%s' added %s", w->path, key,
                w->in_arr ? "inside an unfinished string array" : "after the header was written");
        return false;
    }
    if (!key || !*key) {
        set_err(w, LB_ERR_ARG, "%s: empty metadata key", w->path);
        return false;
    }
    for (int64_t i = 0; i < w->n_keys; i++) {
        if (strcmp(w->keys[i], key) == 0) {
            set_err(w, LB_ERR_ARG, "%s: duplicate metadata key '%s'", w->path, key);
            return false;
        }
    }
    if (w->n_keys == w->cap_keys) {
        int64_t cap = w->cap_keys ? w->cap_keys * 2 : 64;
        char **k = realloc(w->keys, (size_t)cap * sizeof *k);
        if (!k) {
            set_err(w, LB_ERR_NOMEM, "%s: out of memory for metadata keys", w->path);
            return false;
        }
        w->keys = k, w->cap_keys = cap;
    }
    if (!(w->keys[w->n_keys] = strdup(key))) {
        set_err(w, LB_ERR_NOMEM, "%s: out of memory for metadata keys", w->path);
        return false;
    }
    w->n_keys++;
    w->n_kv++;
    put_str(w, key, strlen(key));
    put_u32(w, (uint32_t)t);
    return !w->err;
}

static void add_scalar(lb_gguf_writer *w, const char *key, lb_gguf_type t, const void *v)
{
    if (begin_kv(w, key, t)) put(w, v, SCALAR_SIZE[t]);
}

void lb_gguf_add_u8(lb_gguf_writer *w, const char *key, uint8_t v) { add_scalar(w, key, LB_GGUF_UINT8, &v); }
void lb_gguf_add_i8(lb_gguf_writer *w, const char *key, int8_t v) { add_scalar(w, key, LB_GGUF_INT8, &v); }
void lb_gguf_add_u16(lb_gguf_writer *w, const char *key, uint16_t v) { add_scalar(w, key, LB_GGUF_UINT16, &v); }
void lb_gguf_add_i16(lb_gguf_writer *w, const char *key, int16_t v) { add_scalar(w, key, LB_GGUF_INT16, &v); }
void lb_gguf_add_u32(lb_gguf_writer *w, const char *key, uint32_t v) { add_scalar(w, key, LB_GGUF_UINT32, &v); }
void lb_gguf_add_i32(lb_gguf_writer *w, const char *key, int32_t v) { add_scalar(w, key, LB_GGUF_INT32, &v); }
void lb_gguf_add_u64(lb_gguf_writer *w, const char *key, uint64_t v) { add_scalar(w, key, LB_GGUF_UINT64, &v); }
void lb_gguf_add_i64(lb_gguf_writer *w, const char *key, int64_t v) { add_scalar(w, key, LB_GGUF_INT64, &v); }
void lb_gguf_add_f32(lb_gguf_writer *w, const char *key, float v) { add_scalar(w, key, LB_GGUF_FLOAT32, &v); }
void lb_gguf_add_f64(lb_gguf_writer *w, const char *key, double v) { add_scalar(w, key, LB_GGUF_FLOAT64, &v); }

void lb_gguf_add_bool(lb_gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    add_scalar(w, key, LB_GGUF_BOOL, &b);
}

void lb_gguf_add_strn(lb_gguf_writer *w, const char *key, const char *v, size_t len)
{
    if (begin_kv(w, key, LB_GGUF_STRING)) put_str(w, v, len);
}

void lb_gguf_add_str(lb_gguf_writer *w, const char *key, const char *v) { lb_gguf_add_strn(w, key, v, strlen(v)); }

void lb_gguf_add_arr(lb_gguf_writer *w, const char *key, lb_gguf_type elem, const void *data, uint64_t n)
{
    if (w->err) return;
    if (elem >= LB_GGUF_TYPE_COUNT || SCALAR_SIZE[elem] == 0) {
        set_err(w, LB_ERR_ARG, "%s: metadata key '%s': array element type %d is not numeric or bool", w->path, key,
                (int)elem);
        return;
    }
    uint64_t nbytes;
    if (!lb_mul_ok(n, SCALAR_SIZE[elem], &nbytes) || nbytes > SIZE_MAX) {
        set_err(w, LB_ERR_ARG, "%s: metadata key '%s': array of %" PRIu64 " elements is too large", w->path, key, n);
        return;
    }
    if (!begin_kv(w, key, LB_GGUF_ARRAY)) return;
    put_u32(w, (uint32_t)elem);
    put_u64(w, n);
    put(w, data, (size_t)nbytes);
}

void lb_gguf_arr_str_begin(lb_gguf_writer *w, const char *key, uint64_t n)
{
    if (!begin_kv(w, key, LB_GGUF_ARRAY)) return;
    put_u32(w, LB_GGUF_STRING);
    put_u64(w, n);
    w->in_arr = true;
    w->arr_left = n;
}

void lb_gguf_arr_str_push(lb_gguf_writer *w, const char *s, size_t len)
{
    if (w->err) return;
    if (!w->in_arr || w->arr_left == 0) {
        set_err(w, LB_ERR_ARG, "%s: string array element pushed %s", w->path,
                w->in_arr ? "beyond the announced count" : "outside lb_gguf_arr_str_begin/end");
        return;
    }
    put_str(w, s, len);
    w->arr_left--;
}

void lb_gguf_arr_str_end(lb_gguf_writer *w)
{
    if (w->err) return;
    if (!w->in_arr || w->arr_left != 0) {
        set_err(w, LB_ERR_ARG, "%s: string array ended with %" PRIu64 " elements missing", w->path, w->arr_left);
        return;
    }
    w->in_arr = false;
}

void lb_gguf_add_arr_str(lb_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens, uint64_t n)
{
    lb_gguf_arr_str_begin(w, key, n);
    for (uint64_t i = 0; i < n && !w->err; i++) lb_gguf_arr_str_push(w, strs[i], lens ? lens[i] : strlen(strs[i]));
    lb_gguf_arr_str_end(w);
}

// ---- tensors ----

void lb_gguf_add_tensor_info(lb_gguf_writer *w, const char *name, lb_type type, int n_dims, const int64_t *shape)
{
    if (w->err) return;
    if (w->header_written) {
        set_err(w, LB_ERR_ARG, "%s: tensor '%s' added after the header was written", w->path, name);
        return;
    }
    size_t nl = strlen(name);
    if (nl == 0 || nl >= GGML_MAX_NAME) {
        set_err(w, LB_ERR_ARG, "%s: tensor name '%s' must have 1 to %d bytes", w->path, name, GGML_MAX_NAME - 1);
        return;
    }
    const lb_type_traits *tr = (int)type < GGML_TYPE_LIMIT ? lb_type_traits_of(type) : NULL;
    if (!tr) {
        set_err(w, LB_ERR_ARG, "%s: tensor '%s': type %d has no GGUF id", w->path, name, (int)type);
        return;
    }
    if (n_dims < 1 || n_dims > LB_MAX_DIMS) {
        set_err(w, LB_ERR_ARG, "%s: tensor '%s': n_dims %d is not 1..%d", w->path, name, n_dims, LB_MAX_DIMS);
        return;
    }
    uint64_t n_el = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 1 || !lb_mul_ok(n_el, (uint64_t)shape[d], &n_el)) {
            set_err(w, LB_ERR_ARG, "%s: tensor '%s': dimension %d = %lld is not positive or overflows", w->path, name, d,
                    (long long)shape[d]);
            return;
        }
    }
    uint64_t nbytes;
    if (shape[n_dims - 1] % tr->block_size != 0 || !lb_type_nbytes(type, n_el, &nbytes)) {
        set_err(w, LB_ERR_ARG, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %lld", w->path,
                name, (long long)shape[n_dims - 1], tr->name, (long long)tr->block_size);
        return;
    }
    for (int64_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            set_err(w, LB_ERR_ARG, "%s: duplicate tensor name '%s'", w->path, name);
            return;
        }
    }
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        tensor_rec *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) {
            set_err(w, LB_ERR_NOMEM, "%s: out of memory for tensor infos", w->path);
            return;
        }
        w->tensors = t, w->cap_tensors = cap;
    }
    tensor_rec *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) {
        set_err(w, LB_ERR_NOMEM, "%s: out of memory for tensor infos", w->path);
        return;
    }
    w->n_tensors++;
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
    t->nbytes = nbytes;
    t->offset = w->data_size;
    w->data_size += nbytes + pad_to(nbytes, w->alignment);
}

lb_status lb_gguf_write_header(lb_gguf_writer *w)
{
    if (!w->err && (w->header_written || w->in_arr))
        set_err(w, LB_ERR_ARG, "%s: header written twice or inside an unfinished string array", w->path);
    if (w->err) return w->err;
    out(w, "GGUF", 4);
    uint32_t version = GGUF_VERSION;
    uint64_t counts[2] = {(uint64_t)w->n_tensors, w->n_kv};
    out(w, &version, 4);
    out(w, counts, sizeof counts);
    out(w, w->meta.p, w->meta.len);
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const tensor_rec *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        uint32_t n_dims = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        out(w, &len, 8);
        out(w, t->name, len);
        out(w, &n_dims, 4);
        for (int d = t->n_dims - 1; d >= 0; d--) { /* ggml ne[] is innermost first */
            uint64_t ne = (uint64_t)t->shape[d];
            out(w, &ne, 8);
        }
        out(w, &type, 4);
        out(w, &t->offset, 8);
    }
    out_zeros(w, pad_to(out_offset(w), w->alignment));
    w->data_start = out_offset(w);
    w->header_written = true;
    w->cur = 0;
    w->cur_written = 0;
    free(w->meta.p);
    w->meta = (bytes){0};
    return w->err;
}

void lb_gguf_write_data(lb_gguf_writer *w, const void *data, size_t n)
{
    if (w->err) return;
    if (!w->header_written) {
        set_err(w, LB_ERR_ARG, "%s: tensor data written before the header", w->path);
        return;
    }
    const uint8_t *p = data;
    while (n > 0 && !w->err) {
        if (w->cur >= w->n_tensors) {
            set_err(w, LB_ERR_ARG, "%s: %zu bytes of tensor data beyond the last tensor", w->path, n);
            return;
        }
        tensor_rec *t = &w->tensors[w->cur];
        uint64_t room = t->nbytes - w->cur_written;
        size_t k = n < room ? n : (size_t)room;
        out(w, p, k);
        p += k, n -= k;
        w->cur_written += k;
        if (w->cur_written == t->nbytes) { /* tensor complete: pad (gguf-py pads after the last one too) */
            out_zeros(w, pad_to(t->nbytes, w->alignment));
            w->cur++;
            w->cur_written = 0;
        }
    }
}

// ---- open / finish ----

lb_status lb_gguf_writer_status(const lb_gguf_writer *w) { return w->err; }

static void free_writer(lb_gguf_writer *w)
{
    for (int64_t i = 0; i < w->n_keys; i++) free(w->keys[i]);
    free(w->keys);
    for (int64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->meta.p);
    free(w->buf);
    free(w->path);
    free(w->tmp);
    free(w);
}

static lb_status writer_open(const char *path, const char *tmp, bool resume, uint64_t alignment,
                             lb_gguf_writer **out_w)
{
    *out_w = NULL;
    if (!alignment) alignment = GGUF_DEFAULT_ALIGNMENT;
    if ((alignment & (alignment - 1)) != 0 || alignment > UINT32_MAX)
        return lb_fail(LB_ERR_ARG, "%s: alignment %" PRIu64 " is not a power of two", path, alignment);
    lb_gguf_writer *w = lb_calloc(1, sizeof *w, "GGUF writer");
    if (!w) return LB_ERR_NOMEM;
    w->fd = -1;
    w->alignment = alignment;
    size_t cap = strlen(path) + 32;
    w->path = lb_strdup(path);
    w->tmp = tmp ? lb_strdup(tmp) : lb_malloc(cap, "GGUF writer");
    w->buf = lb_malloc(OUT_BUF_SIZE, "GGUF writer buffer");
    if (!w->path || !w->tmp || !w->buf) {
        free_writer(w);
        return LB_ERR_NOMEM;
    }
    if (!tmp) snprintf(w->tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    w->keep_tmp = tmp != NULL;
    w->verify = resume;
    w->fd = open(w->tmp, resume ? O_RDWR | O_CLOEXEC : O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        int e = errno;
        lb_status st = lb_fail(LB_ERR_IO, "%s: cannot %s the temporary file %s: %s", path, resume ? "open" : "create",
                               w->tmp, strerror(e));
        free_writer(w);
        return st;
    }
    if (alignment != GGUF_DEFAULT_ALIGNMENT) lb_gguf_add_u32(w, "general.alignment", (uint32_t)alignment);
    *out_w = w;
    return LB_OK;
}

lb_status lb_gguf_writer_open(const char *path, uint64_t alignment, lb_gguf_writer **out_w)
{
    return writer_open(path, NULL, false, alignment, out_w);
}

lb_status lb_gguf_writer_open_resumable(const char *path, const char *tmp, bool resume, uint64_t alignment,
                                        lb_gguf_writer **out_w)
{
    return writer_open(path, tmp, resume, alignment, out_w);
}

lb_status lb_gguf_writer_sync(lb_gguf_writer *w, int64_t *n_done, uint64_t *offset)
{
    if (!w->err && (!w->header_written || w->cur_written != 0 || w->verify))
        set_err(w, LB_ERR_ARG, "%s: sync in the middle of a tensor", w->path);
    if (!w->err) flush_buf(w);
    if (!w->err && fsync(w->fd) != 0)
        set_err(w, LB_ERR_IO, "%s: fsync failed after %" PRIu64 " bytes (temporary file %s): %s", w->path, w->flushed,
                w->tmp, strerror(errno));
    if (w->err) return lb_fail(w->err, "%s", w->msg);
    *n_done = w->cur;
    *offset = w->flushed;
    return LB_OK;
}

lb_status lb_gguf_writer_resume_at(lb_gguf_writer *w, int64_t n_done, uint64_t offset)
{
    if (!w->err && (!w->verify || !w->header_written || n_done < 0 || n_done > w->n_tensors))
        set_err(w, LB_ERR_ARG, "%s: resume_at needs a resumable writer after its header", w->path);
    if (!w->err) verify_buf(w);
    uint64_t expect = w->data_start;
    for (int64_t i = 0; !w->err && i < n_done; i++)
        expect += w->tensors[i].nbytes + pad_to(w->tensors[i].nbytes, w->alignment);
    struct stat sb;
    if (!w->err && expect != offset)
        set_err(w, LB_ERR_FORMAT, "%s: the checkpoint says %" PRId64 " tensors end at byte %" PRIu64
                ", this run's layout puts them at %" PRIu64 ": cannot resume", w->path, n_done, offset, expect);
    if (!w->err && (fstat(w->fd, &sb) != 0 || (uint64_t)sb.st_size < offset))
        set_err(w, LB_ERR_FORMAT, "%s: the partial output %s is shorter than the %" PRIu64 " bytes its checkpoint says",
                w->path, w->tmp, offset);
    if (!w->err && (ftruncate(w->fd, (off_t)offset) != 0 || lseek(w->fd, (off_t)offset, SEEK_SET) < 0))
        set_err(w, LB_ERR_IO, "%s: cannot cut the partial output %s back to byte %" PRIu64 ": %s", w->path, w->tmp,
                offset, strerror(errno));
    if (w->err) return lb_fail(w->err, "%s", w->msg);
    w->verify = false;
    w->flushed = offset;
    w->cur = n_done;
    w->cur_written = 0;
    return LB_OK;
}

void lb_gguf_writer_abort(lb_gguf_writer *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (!w->keep_tmp) unlink(w->tmp);
    free_writer(w);
}

lb_status lb_gguf_writer_finish(lb_gguf_writer *w)
{
    if (!w->err && !w->header_written) set_err(w, LB_ERR_ARG, "%s: finished before the header was written", w->path);
    if (!w->err && w->cur < w->n_tensors)
        set_err(w, LB_ERR_ARG, "%s: tensor '%s' has %" PRIu64 " of its %" PRIu64 " bytes at finish (%" PRId64
                " of %" PRId64 " tensors complete)",
                w->path, w->tensors[w->cur].name, w->cur_written, w->tensors[w->cur].nbytes, w->cur, w->n_tensors);
    if (!w->err) flush_buf(w);
    if (!w->err && fsync(w->fd) != 0)
        set_err(w, LB_ERR_IO, "%s: fsync failed after %" PRIu64 " bytes (temporary file %s): %s", w->path, w->flushed,
                w->tmp, strerror(errno));
    if (w->fd >= 0) {
        int rc = close(w->fd);
        w->fd = -1;
        if (rc != 0 && !w->err) /* NFS and some FUSE file systems report write errors only here */
            set_err(w, LB_ERR_IO, "%s: close failed after %" PRIu64 " bytes (temporary file %s): %s", w->path,
                    w->flushed, w->tmp, strerror(errno));
    }
    if (!w->err && rename(w->tmp, w->path) != 0)
        set_err(w, LB_ERR_IO, "%s: cannot rename the finished temporary file %s to it: %s", w->path, w->tmp,
                strerror(errno));
    if (!w->err) { /* make the rename itself durable (best effort: some file systems refuse) */
        char *dir = lb_path_dir(w->path);
        int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    lb_status st = w->err;
    if (st) {
        if (!w->keep_tmp) unlink(w->tmp);
        lb_fail(st, "%s", w->msg); /* reported once, now, whatever happened on this thread since */
    }
    free_writer(w);
    return st;
}
