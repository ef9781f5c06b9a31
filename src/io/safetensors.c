/* safetensors reader (spec: huggingface/safetensors README, "Format"). One file is
 *   u64 N (little-endian) | N bytes of JSON header | data section
 * and the header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * with offsets relative to the first byte after the header; "__metadata__" holds free-form
 * string pairs. Every field is hostile: N within the file, JSON well formed (cJSON, with our
 * own NUL-terminated copy so the parser can never run off the mapping), dtype known, shape
 * dims non-negative integers (JSON numbers are doubles: anything above 2^53 is rejected as
 * inexact), shape product x dtype size == end - begin, offsets inside the data section, no
 * duplicate names, no two tensors sharing bytes.
 *
 * Not here: sharded checkpoints and config.json (source.c), weight decoding (src/quant). */
#include "io/source.h"
#include "quant/types.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the safetensors reader assumes a little-endian host");

#define NAME_SHOWN 200
#define MAX_EXACT_JSON_INT 9007199254740992.0 /* 2^53 */

// ---- dtypes ----

static const struct {
    const char *name;
    lb_type type;
} g_dtypes[] = {
    {"F32", LB_TYPE_F32},         {"F16", LB_TYPE_F16},         {"BF16", LB_TYPE_BF16}, {"F64", LB_TYPE_F64},
    {"F8_E4M3", LB_TYPE_F8_E4M3}, {"F8_E5M2", LB_TYPE_F8_E5M2}, {"I8", LB_TYPE_I8},     {"I16", LB_TYPE_I16},
    {"I32", LB_TYPE_I32},         {"I64", LB_TYPE_I64},
    /* U8 only as bitsandbytes NF4 parts; io/nf4_links.c refuses any other U8 tensor */
    {"U8", LB_TYPE_U8},
};

/* Valid safetensors dtypes that lowbit does not read. */
static const char *const g_unsupported[] = {"BOOL", "U16", "U32", "U64", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

static lb_status dtype_of(const char *s, lb_type *out)
{
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (strcmp(s, g_dtypes[i].name) == 0) {
            *out = g_dtypes[i].type;
            return LB_OK;
        }
    for (size_t i = 0; i < sizeof g_unsupported / sizeof g_unsupported[0]; i++)
        if (strcmp(s, g_unsupported[i]) == 0) return LB_ERR_UNSUPPORTED;
    return LB_ERR_FORMAT;
}

// ---- header fields ----

/* A JSON number that is an exact non-negative integer. */
static bool json_u64(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0) || d > MAX_EXACT_JSON_INT || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

typedef struct ctx {
    const char *path;
    uint64_t data_start, data_size, file_size;
} ctx;

/* Fills t from one header entry; messages name the tensor and the absolute data offset. */
static lb_status parse_entry(const ctx *c, const cJSON *e, lb_tensor_info *t)
{
    const char *path = c->path, *name = t->name;
    if (!cJSON_IsObject(e))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' in the header at offset 8: entry is not a JSON object", path,
                       NAME_SHOWN, name);

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_u64(cJSON_GetArrayItem(offs, 0), &begin) ||
        !json_u64(cJSON_GetArrayItem(offs, 1), &end))
        return lb_fail(LB_ERR_FORMAT,
                       "%s: tensor '%.*s' in the header at offset 8: \"data_offsets\" must be two non-negative integers", path,
                       NAME_SHOWN, name);
    if (begin > end)
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": data_offsets [%" PRIu64 ", %" PRIu64 ") are reversed",
                       path, NAME_SHOWN, name, c->data_start + begin, begin, end);
    if (end > c->data_size)
        return lb_fail(LB_ERR_FORMAT,
                       "%s: tensor '%.*s' at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64 ") beyond end of file (size %" PRIu64
                       "; data_offsets [%" PRIu64 ", %" PRIu64 ") outside the %" PRIu64 "-byte data section)",
                       path, NAME_SHOWN, name, c->data_start + begin, c->data_start + begin, c->data_start + end, c->file_size,
                       begin, end, c->data_size);
    uint64_t abs_begin = c->data_start + begin; /* <= file size: no overflow */

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": \"dtype\" missing or not a string", path,
                       NAME_SHOWN, name, abs_begin);
    lb_status st = dtype_of(dt->valuestring, &t->type);
    if (st == LB_ERR_UNSUPPORTED)
        return lb_fail(st, "%s: tensor '%.*s' at offset %" PRIu64 ": dtype %s is not supported", path, NAME_SHOWN, name,
                       abs_begin, dt->valuestring);
    if (st)
        return lb_fail(st, "%s: tensor '%.*s' at offset %" PRIu64 ": unknown dtype '%.40s'", path, NAME_SHOWN, name,
                       abs_begin, dt->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(shape))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": \"shape\" missing or not an array", path,
                       NAME_SHOWN, name, abs_begin);
    int rank = cJSON_GetArraySize(shape);
    if (rank > LB_MAX_DIMS)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' at offset %" PRIu64 ": rank %d > %d is not supported", path,
                       NAME_SHOWN, name, abs_begin, rank, LB_MAX_DIMS);
    uint64_t n_el = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        uint64_t v;
        if (!json_u64(dim, &v))
            return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": shape[%d] is not a non-negative integer",
                           path, NAME_SHOWN, name, abs_begin, d);
        if (!lb_mul_ok(n_el, v, &n_el) || n_el > INT64_MAX)
            return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": element count overflows", path, NAME_SHOWN,
                           name, abs_begin);
        t->shape[d++] = (int64_t)v;
    }
    /* a rank-0 tensor (a scalar) is exposed as [1] */
    t->n_dims = rank ? rank : 1;
    if (!rank) t->shape[0] = 1;
    t->n_elements = (int64_t)n_el;

    const lb_type_traits *tr = lb_type_traits_of(t->type);
    uint64_t nbytes;
    if (!lb_type_nbytes(t->type, n_el, &nbytes) || nbytes != end - begin) {
        char dims[128] = "";
        size_t k = 0;
        for (int j = 0; j < t->n_dims && k < sizeof dims; j++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%" PRId64, j ? ", " : "", t->shape[j]);
        return lb_fail(LB_ERR_FORMAT,
                       "%s: tensor '%.*s' at offset %" PRIu64 ": shape [%s] of %s needs %" PRIu64 " x %zu bytes but data_offsets [%" PRIu64
                       ", %" PRIu64 ") hold %" PRIu64,
                       path, NAME_SHOWN, name, abs_begin, dims, tr->name, n_el, tr->type_size, begin, end, end - begin);
    }
    t->nbytes = nbytes;
    t->offset = abs_begin;
    return LB_OK;
}

// ---- checks across tensors ----

static int by_offset(const void *a, const void *b)
{
    const lb_tensor_info *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const lb_tensor_info *const *)a)->name, (*(const lb_tensor_info *const *)b)->name);
}

/* t[0..n) sorted by offset: no byte may belong to two tensors. */
static lb_status check_overlap(const char *path, const lb_tensor_info *t, int64_t n)
{
    const lb_tensor_info *prev = NULL;
    for (int64_t i = 0; i < n; i++) {
        if (t[i].nbytes == 0) continue;
        if (prev && t[i].offset < prev->offset + prev->nbytes)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%.*s' at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%.*s' [%" PRIu64
                           ", %" PRIu64 ")",
                           path, NAME_SHOWN, t[i].name, t[i].offset, t[i].offset, t[i].offset + t[i].nbytes, NAME_SHOWN,
                           prev->name, prev->offset, prev->offset + prev->nbytes);
        prev = &t[i];
    }
    return LB_OK;
}

static lb_status check_duplicates(const char *path, const lb_tensor_info *t, int64_t n)
{
    if (n < 2) return LB_OK;
    const lb_tensor_info **p = lb_malloc((size_t)n * sizeof *p, "safetensors name index");
    if (!p) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) p[i] = &t[i];
    qsort(p, (size_t)n, sizeof *p, by_name);
    lb_status st = LB_OK;
    for (int64_t i = 1; i < n && !st; i++)
        if (strcmp(p[i - 1]->name, p[i]->name) == 0)
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": duplicate tensor name in the header", path,
                         NAME_SHOWN, p[i]->name, p[i]->offset);
    free(p);
    return st;
}

// ---- parse ----

static lb_status parse_header(const lb_mapping *map, const cJSON *root, lb_tensor_info **tensors, int64_t *n,
                              uint64_t data_start)
{
    ctx c = {map->path, data_start, map->size - data_start, map->size};
    int64_t count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) if (strcmp(e->string, "__metadata__") != 0) count++;

    int64_t base = *n;
    lb_tensor_info *all = realloc(*tensors, (size_t)(base + count + 1) * sizeof *all);
    if (!all) return lb_fail(LB_ERR_NOMEM, "%s: out of memory for %" PRId64 " tensor infos", map->path, count);
    *tensors = all;
    lb_tensor_info *t = all + base;
    memset(t, 0, (size_t)count * sizeof *t);

    lb_status st = LB_OK;
    int64_t k = 0;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        t[k].name = lb_strdup(e->string);
        t[k].file = map->path;
        if (!t[k].name) {
            st = LB_ERR_NOMEM;
            break;
        }
        k++;
        if ((st = parse_entry(&c, e, &t[k - 1]))) break;
    }
    if (!st) st = check_duplicates(map->path, t, count);
    if (!st) {
        /* file order: streaming readers then walk the file front to back */
        qsort(t, (size_t)count, sizeof *t, by_offset);
        st = check_overlap(map->path, t, count);
    }
    if (st) {
        for (int64_t i = 0; i < k; i++) free(t[i].name);
        memset(t, 0, (size_t)count * sizeof *t);
        return st;
    }
    for (int64_t i = 0; i < count; i++) t[i].data = map->data + t[i].offset;
    *n = base + count;
    return LB_OK;
}

lb_status lb_safetensors_parse(const lb_mapping *map, lb_tensor_info **tensors, int64_t *n, cJSON **metadata)
{
    if (metadata) *metadata = NULL;
    const char *path = map->path ? map->path : "(safetensors)";
    if (map->size < 8)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: file of %" PRIu64 " bytes is too small for a safetensors header", path,
                       map->size);
    uint64_t hlen;
    memcpy(&hlen, map->data, 8);
    if (hlen > map->size - 8)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: header length %" PRIu64 " runs past the end of the file (size %" PRIu64 ")",
                       path, hlen, map->size);
    if (hlen < 2)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: header length %" PRIu64 " is too small for a JSON object", path, hlen);

    /* cJSON gets a NUL-terminated copy: it must never depend on the mapping's end */
    char *text = lb_malloc(hlen + 1, "safetensors header");
    if (!text) return LB_ERR_NOMEM;
    memcpy(text, map->data + 8, hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hlen, &end, false);
    if (!root) {
        uint64_t at = 8 + (end && end >= text ? (uint64_t)(end - text) : 0);
        free(text);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": invalid JSON in the safetensors header", path, at);
    }
    /* only padding (spaces) may follow the JSON object */
    for (const char *q = end; q < text + hlen; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            uint64_t at = 8 + (uint64_t)(q - text);
            free(text);
            cJSON_Delete(root);
            return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": unexpected bytes after the JSON header", path, at);
        }
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 8: the safetensors header is not a JSON object", path);
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    if (meta && !cJSON_IsObject(meta)) {
        cJSON_Delete(root);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 8: \"__metadata__\" is not a JSON object", path);
    }
    lb_mapping named = *map;
    named.path = (char *)path;
    lb_status st = parse_header(&named, root, tensors, n, 8 + hlen);
    if (!st && meta && metadata) *metadata = cJSON_DetachItemViaPointer(root, meta);
    cJSON_Delete(root);
    return st;
}
