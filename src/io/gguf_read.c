/* GGUF v2/v3 reader (spec: ggml docs/gguf.md). The whole file is mapped read-only and every
 * header field is treated as hostile, after ggml's gguf.cpp: magic and version, every count
 * bounded by the bytes that could hold it, string lengths bounded by the remaining bytes,
 * n_dims <= 4, element counts overflow-checked, type ids validated against the type-traits
 * table, ne[0] a multiple of the block size, tensor offsets aligned and data inside the file,
 * no duplicate keys or tensor names. Nothing is read before it is known to be in the file.
 *
 * Layout (little-endian):
 *   "GGUF" u32 version | u64 n_tensors | u64 n_kv
 *   n_kv x { str key, u32 type, value }        str = u64 len + bytes (no NUL)
 *                                               array = u32 elem_type, u64 count, elements
 *   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32), then the data section; offsets are relative
 *   to its start.
 * v1 used u32 counts and lengths; it is rejected rather than guessed at.
 *
 * Not here: writing GGUF (gguf_write.c), interpreting keys (src/model, src/tok). */
#include "io/gguf.h"
#include "quant/types.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
/* Smallest encodings, used to bound counts by the bytes left: key(8) + type(4) + u8 value(1);
 * name(8) + n_dims(4) + ne(0) + type(4) + offset(8). */
#define KV_MIN_BYTES 13
#define TENSOR_MIN_BYTES 24
/* ggml's own type ids end below the safetensors-only float8 ids in lb_type. */
#define GGML_TYPE_LIMIT LB_TYPE_F8_E4M3
/* Keeps names in messages readable when a hostile file supplies megabyte-long ones. */
#define NAME_SHOWN 200

// ---- types ----

/* A name with the index it came from: sorted to find duplicates and to look names up. */
typedef struct named {
    lb_str name;
    int64_t idx;
} named;

typedef struct kv_entry {
    lb_str key;
    lb_gguf_type type;
    uint64_t offset;       /* of the key's length prefix, for messages */
    const uint8_t *val;    /* scalar: its bytes; string: its u64 length; array: first element */
    lb_gguf_type arr_type; /* arrays only */
    uint64_t arr_len;
    uint64_t *str_off; /* string arrays: file offset of each element's u64 length (O(1) access) */
} kv_entry;

struct lb_gguf {
    lb_mapping map;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv, cap_kv;
    kv_entry *kv;
    int64_t n_tensors, cap_tensors;
    lb_tensor_info *tensors;
    struct named *by_name; /* tensors sorted by name, for lb_gguf_find_tensor */
};

static const size_t g_scalar_size[LB_GGUF_TYPE_COUNT] = {
    [LB_GGUF_UINT8] = 1, [LB_GGUF_INT8] = 1, [LB_GGUF_UINT16] = 2, [LB_GGUF_INT16] = 2,
    [LB_GGUF_UINT32] = 4, [LB_GGUF_INT32] = 4, [LB_GGUF_FLOAT32] = 4, [LB_GGUF_BOOL] = 1,
    [LB_GGUF_UINT64] = 8, [LB_GGUF_INT64] = 8, [LB_GGUF_FLOAT64] = 8,
};

static const char *const g_type_names[LB_GGUF_TYPE_COUNT] = {
    [LB_GGUF_UINT8] = "uint8",     [LB_GGUF_INT8] = "int8",       [LB_GGUF_UINT16] = "uint16",
    [LB_GGUF_INT16] = "int16",     [LB_GGUF_UINT32] = "uint32",   [LB_GGUF_INT32] = "int32",
    [LB_GGUF_FLOAT32] = "float32", [LB_GGUF_BOOL] = "bool",       [LB_GGUF_STRING] = "string",
    [LB_GGUF_ARRAY] = "array",     [LB_GGUF_UINT64] = "uint64",   [LB_GGUF_INT64] = "int64",
    [LB_GGUF_FLOAT64] = "float64",
};

static bool is_scalar(uint32_t t) { return t < LB_GGUF_TYPE_COUNT && g_scalar_size[t] != 0; }

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

bool lb_str_eq(lb_str s, const char *z)
{
    size_t n = strlen(z);
    return s.len == n && (n == 0 || memcmp(s.ptr, z, n) == 0);
}

static int str_cmp(lb_str a, lb_str b)
{
    uint64_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

// ---- cursor over the mapping ----

typedef struct cursor {
    const uint8_t *data;
    uint64_t size, pos;
    const char *path;
    char ctx[256]; /* what is being read ("kv 'x' (index 3)"), for messages */
} cursor;

static void set_ctx(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_ctx(cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->ctx, sizeof c->ctx, fmt, ap);
    va_end(ap);
}

static uint64_t left(const cursor *c) { return c->size - c->pos; }

/* Reads a u32/u64 at the cursor; what names the field in the message. */
static lb_status read_u32(cursor *c, uint32_t *out, const char *what)
{
    *out = 0;
    if (left(c) < 4)
        return lb_fail(LB_ERR_FORMAT, "%s: %s%s%s at offset %" PRIu64 ": truncated (file size %" PRIu64 ")", c->path,
                       c->ctx, *c->ctx ? ": " : "", what, c->pos, c->size);
    *out = get_u32(c->data + c->pos);
    c->pos += 4;
    return LB_OK;
}

static lb_status read_u64(cursor *c, uint64_t *out, const char *what)
{
    *out = 0;
    if (left(c) < 8)
        return lb_fail(LB_ERR_FORMAT, "%s: %s%s%s at offset %" PRIu64 ": truncated (file size %" PRIu64 ")", c->path,
                       c->ctx, *c->ctx ? ": " : "", what, c->pos, c->size);
    *out = get_u64(c->data + c->pos);
    c->pos += 8;
    return LB_OK;
}

/* A GGUF string: u64 length, then that many bytes, all within the file. */
static lb_status read_str(cursor *c, lb_str *out, const char *what)
{
    uint64_t at = c->pos, len;
    *out = (lb_str){NULL, 0};
    lb_status st = read_u64(c, &len, what);
    if (st) return st;
    if (len > left(c))
        return lb_fail(LB_ERR_FORMAT,
                       "%s: %s%s%s at offset %" PRIu64 ": string length %" PRIu64 " exceeds the %" PRIu64
                       " bytes left in the file (size %" PRIu64 ")",
                       c->path, c->ctx, *c->ctx ? ": " : "", what, at, len, left(c), c->size);
    out->ptr = (const char *)c->data + c->pos;
    out->len = len;
    c->pos += len;
    return LB_OK;
}

// ---- metadata ----

static int named_cmp(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = str_cmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Parses the value of e (key and type already read) at the cursor. */
static lb_status parse_value(cursor *c, kv_entry *e, int64_t idx)
{
    const char *path = c->path;
    int kl = e->key.len > NAME_SHOWN ? NAME_SHOWN : (int)e->key.len;
    uint64_t at = c->pos;
    if (is_scalar(e->type)) {
        size_t n = g_scalar_size[e->type];
        if (left(c) < n)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: kv '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": %s value truncated (file size %" PRIu64 ")",
                           path, kl, e->key.ptr, idx, at, g_type_names[e->type], c->size);
        e->val = c->data + c->pos;
        c->pos += n;
        return LB_OK;
    }
    if (e->type == LB_GGUF_STRING) {
        lb_str s;
        e->val = c->data + c->pos;
        return read_str(c, &s, "string value");
    }
    LB_ASSERT(e->type == LB_GGUF_ARRAY); /* parse_kvs rejected ids past the last type */
    uint32_t et;
    uint64_t count;
    lb_status st = read_u32(c, &et, "array element type");
    if (!st) st = read_u64(c, &count, "array length");
    if (st) return st;
    if (et == LB_GGUF_ARRAY)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: kv '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": nested arrays are not supported",
                       path, kl, e->key.ptr, idx, at);
    if (et != LB_GGUF_STRING && !is_scalar(et))
        return lb_fail(LB_ERR_FORMAT, "%s: kv '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": unknown array element type %u",
                       path, kl, e->key.ptr, idx, at, (unsigned)et);
    e->arr_type = (lb_gguf_type)et;
    e->arr_len = count;
    e->val = c->data + c->pos;
    if (et == LB_GGUF_STRING) {
        /* every element needs at least its 8-byte length: bound count before allocating */
        if (count > left(c) / 8)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: kv '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": array of %" PRIu64
                           " strings cannot fit in the %" PRIu64 " bytes left (file size %" PRIu64 ")",
                           path, kl, e->key.ptr, idx, at, count, left(c), c->size);
        e->str_off = lb_malloc(count * sizeof *e->str_off, "GGUF string array index");
        if (!e->str_off) return LB_ERR_NOMEM;
        for (uint64_t j = 0; j < count; j++) {
            e->str_off[j] = c->pos;
            uint64_t len = left(c) >= 8 ? get_u64(c->data + c->pos) : 0;
            if (left(c) < 8 || len > left(c) - 8) { /* read_str words the failure */
                lb_str s;
                set_ctx(c, "kv '%.*s' (index %" PRId64 ") element %" PRIu64, kl, e->key.ptr, idx, j);
                return read_str(c, &s, "string");
            }
            c->pos += 8 + len;
        }
        return LB_OK;
    }
    uint64_t nbytes;
    if (!lb_mul_ok(count, g_scalar_size[et], &nbytes) || nbytes > left(c))
        return lb_fail(LB_ERR_FORMAT,
                       "%s: kv '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": array of %" PRIu64 " %s exceeds the %" PRIu64
                       " bytes left (file size %" PRIu64 ")",
                       path, kl, e->key.ptr, idx, at, count, g_type_names[et], left(c), c->size);
    c->pos += nbytes;
    return LB_OK;
}

static lb_status parse_kvs(lb_gguf *g, cursor *c, uint64_t n_kv)
{
    for (uint64_t i = 0; i < n_kv; i++) {
        if (g->n_kv == g->cap_kv) {
            int64_t cap = g->cap_kv ? g->cap_kv * 2 : 64;
            kv_entry *nk = realloc(g->kv, (size_t)cap * sizeof *nk);
            if (!nk) return lb_fail(LB_ERR_NOMEM, "%s: out of memory for %" PRIu64 " metadata entries", c->path, n_kv);
            g->kv = nk;
            g->cap_kv = cap;
        }
        kv_entry *e = &g->kv[g->n_kv];
        memset(e, 0, sizeof *e);
        g->n_kv++;
        e->offset = c->pos;
        uint32_t type;
        set_ctx(c, "kv index %" PRIu64, i);
        lb_status st = read_str(c, &e->key, "key");
        int kl = e->key.len > NAME_SHOWN ? NAME_SHOWN : (int)e->key.len;
        if (!st) set_ctx(c, "kv '%.*s' (index %" PRIu64 ")", kl, e->key.ptr, i);
        if (!st) st = read_u32(c, &type, "value type");
        if (st) return st;
        e->type = (lb_gguf_type)type;
        if (type >= LB_GGUF_TYPE_COUNT) {
            return lb_fail(LB_ERR_FORMAT, "%s: kv '%.*s' (index %" PRIu64 ") at offset %" PRIu64 ": unknown value type %u",
                           c->path, kl, e->key.ptr, i, c->pos - 4, type);
        }
        if ((st = parse_value(c, e, (int64_t)i))) return st;
    }
    /* duplicate keys make lookups ambiguous (ggml rejects them too) */
    if (g->n_kv > 1) {
        named *idx = lb_malloc((size_t)g->n_kv * sizeof *idx, "GGUF key index");
        if (!idx) return LB_ERR_NOMEM;
        for (int64_t i = 0; i < g->n_kv; i++) idx[i] = (named){g->kv[i].key, i};
        qsort(idx, (size_t)g->n_kv, sizeof *idx, named_cmp);
        for (int64_t i = 1; i < g->n_kv; i++) {
            if (str_cmp(idx[i - 1].name, idx[i].name) == 0) {
                const kv_entry *later = &g->kv[idx[i].idx]; /* ties sort by index */
                int kl = later->key.len > NAME_SHOWN ? NAME_SHOWN : (int)later->key.len;
                lb_status st = lb_fail(LB_ERR_FORMAT, "%s: kv '%.*s' at offset %" PRIu64 ": duplicate key", c->path, kl,
                                       later->key.ptr, later->offset);
                free(idx);
                return st;
            }
        }
        free(idx);
    }
    return LB_OK;
}

/* Raw integer value of a scalar of integer type; false for non-integers or u64 > INT64_MAX. */
static bool scalar_i64(lb_gguf_type t, const uint8_t *p, int64_t *out)
{
    switch (t) {
    case LB_GGUF_UINT8: *out = p[0]; return true;
    case LB_GGUF_INT8: *out = (int8_t)p[0]; return true;
    case LB_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case LB_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case LB_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case LB_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case LB_GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); if (v > INT64_MAX) return false; *out = (int64_t)v; return true; }
    case LB_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return true; }
    default: return false;
    }
}

static bool scalar_f64(lb_gguf_type t, const uint8_t *p, double *out)
{
    if (t == LB_GGUF_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    if (t == LB_GGUF_FLOAT64) {
        memcpy(out, p, 8);
        return true;
    }
    if (t == LB_GGUF_UINT64) { /* may exceed INT64_MAX, still a number */
        *out = (double)get_u64(p);
        return true;
    }
    int64_t i;
    if (!scalar_i64(t, p, &i)) return false;
    *out = (double)i;
    return true;
}

// ---- tensors ----

static lb_status parse_tensor_info(lb_gguf *g, cursor *c, int64_t i)
{
    const char *path = c->path;
    lb_tensor_info *t = &g->tensors[i];
    uint64_t at = c->pos;
    lb_str name;
    set_ctx(c, "tensor index %" PRId64, i);
    lb_status st = read_str(c, &name, "name");
    if (st) return st;
    if (memchr(name.ptr, '\0', name.len))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor index %" PRId64 " at offset %" PRIu64 ": name contains a NUL byte", path, i,
                       at);
    t->name = lb_strndup(name.ptr, name.len);
    if (!t->name) return LB_ERR_NOMEM;
    t->file = g->map.path;
    int nl = name.len > NAME_SHOWN ? NAME_SHOWN : (int)name.len;
    set_ctx(c, "tensor '%.*s' (index %" PRId64 ")", nl, t->name, i);

    uint32_t n_dims;
    uint64_t dims_at = c->pos;
    if ((st = read_u32(c, &n_dims, "n_dims"))) return st;
    if (n_dims > LB_MAX_DIMS)
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": n_dims %u > %d", path, nl,
                       t->name, i, dims_at, n_dims, LB_MAX_DIMS);
    uint64_t ne[LB_MAX_DIMS] = {1, 1, 1, 1}, n_el = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne_at = c->pos;
        if ((st = read_u64(c, &ne[d], "ne"))) return st;
        if (ne[d] > INT64_MAX || !lb_mul_ok(n_el, ne[d], &n_el) || n_el > INT64_MAX)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": ne[%u] = %" PRIu64
                           " makes the element count overflow",
                           path, nl, t->name, i, ne_at, d, ne[d]);
    }
    uint32_t type;
    uint64_t type_at = c->pos;
    if ((st = read_u32(c, &type, "type"))) return st;
    const lb_type_traits *tr = type < GGML_TYPE_LIMIT ? lb_type_traits_of(type) : NULL;
    if (!tr)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": unknown ggml type %u",
                       path, nl, t->name, i, type_at, type);
    if (ne[0] % (uint64_t)tr->block_size != 0)
        return lb_fail(LB_ERR_FORMAT,
                       "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": row length ne[0] = %" PRIu64
                       " is not a multiple of the %s block size %" PRId64,
                       path, nl, t->name, i, dims_at, ne[0], tr->name, tr->block_size);
    uint64_t nbytes;
    if (!lb_type_nbytes((lb_type)type, n_el, &nbytes))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": byte size overflows", path,
                       nl, t->name, i, dims_at);
    uint64_t off;
    if ((st = read_u64(c, &off, "data offset"))) return st;

    t->type = (lb_type)type;
    /* GGUF ne[] is innermost first; expose outermost first. n_dims 0 (a scalar) reads as [1]. */
    t->n_dims = n_dims ? (int)n_dims : 1;
    for (int d = 0; d < t->n_dims; d++) t->shape[d] = (int64_t)ne[t->n_dims - 1 - d];
    t->n_elements = (int64_t)n_el;
    t->nbytes = nbytes;
    t->offset = off; /* relative until the data section is known */
    return LB_OK;
}

static lb_status place_tensors(lb_gguf *g)
{
    const char *path = g->map.path;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lb_tensor_info *t = &g->tensors[i];
        uint64_t rel = t->offset, abs, end;
        if (rel % g->alignment != 0)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": data offset %" PRIu64
                           " is not a multiple of the alignment %" PRIu64,
                           path, NAME_SHOWN, t->name, i, g->data_offset + rel, rel, g->alignment);
        if (!lb_add_ok(g->data_offset, rel, &abs) || !lb_add_ok(abs, t->nbytes, &end))
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%.*s' (index %" PRId64 "): data offset %" PRIu64 " + %" PRIu64
                           " bytes from the data section at offset %" PRIu64 " overflows",
                           path, NAME_SHOWN, t->name, i, rel, t->nbytes, g->data_offset);
        if (end > g->map.size)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64
                           ") beyond end of file (size %" PRIu64 ")",
                           path, NAME_SHOWN, t->name, i, abs, abs, end, g->map.size);
        t->offset = abs;
        t->data = g->map.data + abs;
    }
    if (g->n_tensors == 0) return LB_OK;
    g->by_name = lb_malloc((size_t)g->n_tensors * sizeof *g->by_name, "GGUF tensor index");
    if (!g->by_name) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++)
        g->by_name[i] = (named){{g->tensors[i].name, strlen(g->tensors[i].name)}, i};
    qsort(g->by_name, (size_t)g->n_tensors, sizeof *g->by_name, named_cmp);
    for (int64_t k = 1; k < g->n_tensors; k++) {
        if (str_cmp(g->by_name[k - 1].name, g->by_name[k].name) == 0) {
            int64_t later = g->by_name[k].idx; /* ties sort by index */
            return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' (index %" PRId64 ") at offset %" PRIu64 ": duplicate tensor name",
                           path, NAME_SHOWN, g->tensors[later].name, later, g->tensors[later].offset);
        }
    }
    return LB_OK;
}

// ---- open / close ----

static lb_status parse(lb_gguf *g)
{
    const char *path = g->map.path;
    cursor c = {.data = g->map.data, .size = g->map.size, .pos = 0, .path = path};
    if (g->map.size < 4 || memcmp(g->map.data, GGUF_MAGIC, 4) != 0) {
        uint8_t m[4] = {0};
        if (g->map.size) memcpy(m, g->map.data, g->map.size < 4 ? g->map.size : 4);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: bad magic %02x %02x %02x %02x (want \"GGUF\"; file size %" PRIu64 ")",
                       path, m[0], m[1], m[2], m[3], g->map.size);
    }
    c.pos = 4;
    lb_status st = read_u32(&c, &g->version, "version");
    if (st) return st;
    if (g->version == 1)
        return lb_fail(LB_ERR_UNSUPPORTED,
                       "%s: at offset 4: GGUF version 1 is not supported (it used 32-bit counts); "
                       "re-convert the model with a current llama.cpp",
                       path);
    if (g->version != 2 && g->version != 3) {
        bool swapped = g->version > 0xffff && (g->version & 0xffff) == 0;
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: at offset 4: GGUF version %u is not supported (want 2 or 3)%s", path,
                       g->version, swapped ? "; this looks like a big-endian file" : "");
    }
    uint64_t n_tensors, n_kv;
    if ((st = read_u64(&c, &n_tensors, "tensor count")) || (st = read_u64(&c, &n_kv, "kv count"))) return st;
    /* Counts are bounded by the bytes that could hold them, so no allocation trusts them. */
    if (n_kv > left(&c) / KV_MIN_BYTES)
        return lb_fail(LB_ERR_FORMAT,
                       "%s: at offset 16: kv count %" PRIu64 " cannot fit in the %" PRIu64 " bytes of the file",
                       path, n_kv, g->map.size);
    if (n_tensors > left(&c) / TENSOR_MIN_BYTES)
        return lb_fail(LB_ERR_FORMAT,
                       "%s: at offset 8: tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes of the file",
                       path, n_tensors, g->map.size);
    if ((st = parse_kvs(g, &c, n_kv))) return st;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ki = lb_gguf_find(g, "general.alignment");
    if (ki >= 0) {
        int64_t a;
        if (!scalar_i64(g->kv[ki].type, g->kv[ki].val, &a) || a <= 0 || (a & (a - 1)) != 0)
            return lb_fail(LB_ERR_FORMAT, "%s: kv 'general.alignment' at offset %" PRIu64 ": must be a power-of-two integer",
                           path, g->kv[ki].offset);
        g->alignment = (uint64_t)a;
    }

    if (n_tensors) {
        g->tensors = lb_calloc((size_t)n_tensors, sizeof *g->tensors, "GGUF tensor infos");
        if (!g->tensors) return LB_ERR_NOMEM;
        g->cap_tensors = (int64_t)n_tensors;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1; /* so close() frees the name of a half-parsed entry */
        if ((st = parse_tensor_info(g, &c, (int64_t)i))) return st;
    }
    uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (!lb_add_ok(c.pos, pad, &g->data_offset))
        return lb_fail(LB_ERR_FORMAT, "%s: data section offset overflows", path);
    return place_tensors(g);
}

lb_status lb_gguf_open(const char *path, lb_gguf **out)
{
    *out = NULL;
    lb_gguf *g = lb_calloc(1, sizeof *g, "GGUF reader");
    if (!g) return LB_ERR_NOMEM;
    lb_status st = lb_map_file(path, &g->map);
    if (!st) st = parse(g);
    if (st) {
        lb_gguf_close(g);
        return st;
    }
    *out = g;
    return LB_OK;
}

void lb_gguf_close(lb_gguf *g)
{
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    free(g->by_name);
    lb_unmap(&g->map);
    free(g);
}

uint32_t lb_gguf_version(const lb_gguf *g) { return g->version; }
uint64_t lb_gguf_alignment(const lb_gguf *g) { return g->alignment; }
const char *lb_gguf_path(const lb_gguf *g) { return g->map.path; }

// ---- metadata access ----

static const kv_entry *kv_at(const lb_gguf *g, int64_t i)
{
    LB_ASSERT(i >= 0 && i < g->n_kv);
    return &g->kv[i];
}

int64_t lb_gguf_n_kv(const lb_gguf *g) { return g->n_kv; }
lb_str lb_gguf_kv_key(const lb_gguf *g, int64_t i) { return kv_at(g, i)->key; }
lb_gguf_type lb_gguf_kv_type(const lb_gguf *g, int64_t i) { return kv_at(g, i)->type; }

int64_t lb_gguf_find(const lb_gguf *g, const char *key)
{
    for (int64_t i = 0; i < g->n_kv; i++)
        if (lb_str_eq(g->kv[i].key, key)) return i;
    return -1;
}

bool lb_gguf_get_i64(const lb_gguf *g, const char *key, int64_t *out)
{
    int64_t i = lb_gguf_find(g, key);
    return i >= 0 && scalar_i64(g->kv[i].type, g->kv[i].val, out);
}

bool lb_gguf_get_f64(const lb_gguf *g, const char *key, double *out)
{
    int64_t i = lb_gguf_find(g, key);
    return i >= 0 && scalar_f64(g->kv[i].type, g->kv[i].val, out);
}

bool lb_gguf_get_bool(const lb_gguf *g, const char *key, bool *out)
{
    int64_t i = lb_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != LB_GGUF_BOOL) return false;
    *out = g->kv[i].val[0] != 0;
    return true;
}

static lb_str str_at(const uint8_t *p)
{
    return (lb_str){(const char *)p + 8, get_u64(p)};
}

bool lb_gguf_get_str(const lb_gguf *g, const char *key, lb_str *out)
{
    int64_t i = lb_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != LB_GGUF_STRING) return false;
    *out = str_at(g->kv[i].val);
    return true;
}

lb_gguf_type lb_gguf_arr_type(const lb_gguf *g, int64_t i)
{
    const kv_entry *e = kv_at(g, i);
    return e->type == LB_GGUF_ARRAY ? e->arr_type : LB_GGUF_TYPE_COUNT;
}

uint64_t lb_gguf_arr_len(const lb_gguf *g, int64_t i)
{
    const kv_entry *e = kv_at(g, i);
    return e->type == LB_GGUF_ARRAY ? e->arr_len : 0;
}

bool lb_gguf_arr_i64(const lb_gguf *g, int64_t i, uint64_t j, int64_t *out)
{
    const kv_entry *e = kv_at(g, i);
    if (e->type != LB_GGUF_ARRAY || j >= e->arr_len || !is_scalar(e->arr_type)) return false;
    return scalar_i64(e->arr_type, e->val + j * g_scalar_size[e->arr_type], out);
}

bool lb_gguf_arr_f64(const lb_gguf *g, int64_t i, uint64_t j, double *out)
{
    const kv_entry *e = kv_at(g, i);
    if (e->type != LB_GGUF_ARRAY || j >= e->arr_len || !is_scalar(e->arr_type)) return false;
    return scalar_f64(e->arr_type, e->val + j * g_scalar_size[e->arr_type], out);
}

lb_str lb_gguf_arr_str(const lb_gguf *g, int64_t i, uint64_t j)
{
    const kv_entry *e = kv_at(g, i);
    if (e->type != LB_GGUF_ARRAY || e->arr_type != LB_GGUF_STRING || j >= e->arr_len) return (lb_str){NULL, 0};
    return str_at(g->map.data + e->str_off[j]);
}

// ---- display ----

typedef struct outbuf {
    char *p;
    size_t cap, len;
    bool full;
} outbuf;

static void out_raw(outbuf *o, const char *s, size_t n)
{
    if (o->full || o->cap == 0) return;
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        o->full = true;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_fmt(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(outbuf *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) out_raw(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A string, quoted, with control bytes escaped; at most max_chars bytes of it. */
static void out_str(outbuf *o, lb_str s, uint64_t max_chars)
{
    out_raw(o, "\"", 1);
    uint64_t n = s.len < max_chars ? s.len : max_chars;
    for (uint64_t k = 0; k < n && !o->full; k++) {
        unsigned char ch = (unsigned char)s.ptr[k];
        if (ch == '\n') out_raw(o, "\\n", 2);
        else if (ch == '\t') out_raw(o, "\\t", 2);
        else if (ch == '"' || ch == '\\') { char esc[2] = {'\\', (char)ch}; out_raw(o, esc, 2); }
        else if (ch < 0x20 || ch == 0x7f) out_fmt(o, "\\x%02x", ch);
        else out_raw(o, (const char *)&s.ptr[k], 1);
    }
    if (n < s.len) out_raw(o, "...", 3);
    out_raw(o, "\"", 1);
}

static void out_scalar(outbuf *o, lb_gguf_type t, const uint8_t *p)
{
    int64_t i;
    double d;
    if (t == LB_GGUF_BOOL) out_raw(o, p[0] ? "true" : "false", p[0] ? 4 : 5);
    else if (t == LB_GGUF_UINT64) out_fmt(o, "%" PRIu64, get_u64(p));
    else if (scalar_i64(t, p, &i)) out_fmt(o, "%" PRId64, i);
    else if (scalar_f64(t, p, &d)) out_fmt(o, t == LB_GGUF_FLOAT32 ? "%.7g" : "%.17g", d);
}

void lb_gguf_kv_format(const lb_gguf *g, int64_t i, char *buf, size_t cap)
{
    const kv_entry *e = kv_at(g, i);
    outbuf o = {buf, cap, 0, false};
    if (cap) buf[0] = '\0';
    if (e->type == LB_GGUF_STRING) {
        out_str(&o, str_at(e->val), 1000);
    } else if (e->type == LB_GGUF_ARRAY) {
        out_fmt(&o, "[%s x %" PRIu64 "]", g_type_names[e->arr_type], e->arr_len);
        uint64_t shown = e->arr_len < 8 ? e->arr_len : 8;
        for (uint64_t j = 0; j < shown && !o.full; j++) {
            out_raw(&o, j ? ", " : " ", j ? 2 : 1);
            if (e->arr_type == LB_GGUF_STRING) out_str(&o, str_at(g->map.data + e->str_off[j]), 40);
            else out_scalar(&o, e->arr_type, e->val + j * g_scalar_size[e->arr_type]);
        }
        if (shown < e->arr_len) out_raw(&o, ", ...", 5);
    } else {
        out_scalar(&o, e->type, e->val);
    }
}

// ---- tensors ----

int64_t lb_gguf_n_tensors(const lb_gguf *g) { return g->n_tensors; }

const lb_tensor_info *lb_gguf_tensor(const lb_gguf *g, int64_t i)
{
    if (i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const lb_tensor_info *lb_gguf_find_tensor(const lb_gguf *g, const char *name)
{
    lb_str key = {name, strlen(name)};
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) { /* binary search over the name-sorted index built at open */
        int64_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(g->by_name[mid].name, key);
        if (c == 0) return &g->tensors[g->by_name[mid].idx];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
