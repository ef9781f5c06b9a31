/* Opening whatever lowbit was pointed at as one lb_source: the kind is told by what the path
 * is (a directory is a Hugging Face model), then by its extension (.gguf, .safetensors,
 * .safetensors.index.json), then by the first bytes ("GGUF", a safetensors header length
 * followed by '{', "ak42", a plausible legacy llama2.c header); a .bin with none of these
 * is read as llama2.c so that its parser can say what is wrong with it.
 *
 * Hugging Face layout (transformers' own lookup order): config.json is required; weights are
 * model.safetensors, else the shards listed in model.safetensors.index.json's weight_map.
 * Each shard is mapped once; tensors of all shards form one list, in shard order and file
 * order within a shard. Every weight_map entry must be found in the shard it names, and no
 * tensor name may appear twice across the whole source.
 *
 * Not here: parsing individual formats (gguf_read.c, safetensors.c, llama2c.c), interpreting
 * config or tensor names (src/model). */
#include "io/source.h"

#include <inttypes.h>
#include <string.h>

#define NAME_SHOWN 200

// ---- small helpers ----

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Parses a small JSON file that must hold an object; the message gives the byte offset. */
static lb_status load_json(const char *path, cJSON **out)
{
    *out = NULL;
    char *text;
    size_t len;
    lb_status st = lb_read_file(path, &text, &len);
    if (st) return st;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j) {
        uint64_t at = end && end >= text ? (uint64_t)(end - text) : 0;
        free(text);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": invalid JSON", path, at);
    }
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: expected a JSON object", path);
    }
    *out = j;
    return LB_OK;
}

static lb_status add_map(lb_source *s, const char *path, lb_mapping **out)
{
    lb_mapping *m = realloc(s->maps, (size_t)(s->n_maps + 1) * sizeof *m);
    if (!m) return lb_fail(LB_ERR_NOMEM, "%s: out of memory", path);
    s->maps = m;
    lb_status st = lb_map_file(path, &m[s->n_maps]);
    if (st) return st;
    *out = &m[s->n_maps++];
    return LB_OK;
}

// ---- names unique across the source ----

typedef struct name_ref {
    const char *name;
    int64_t idx;
} name_ref;

static int name_ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorted (name, index) pairs over all tensors; rejects a name that appears twice. */
static lb_status sorted_names(const lb_source *s, name_ref **out)
{
    *out = NULL;
    name_ref *r = lb_malloc((size_t)(s->n_tensors + 1) * sizeof *r, "tensor name index");
    if (!r) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < s->n_tensors; i++) r[i] = (name_ref){s->tensors[i].name, i};
    qsort(r, (size_t)s->n_tensors, sizeof *r, name_ref_cmp);
    for (int64_t i = 1; i < s->n_tensors; i++) {
        if (strcmp(r[i - 1].name, r[i].name) == 0) {
            const lb_tensor_info *a = &s->tensors[r[i - 1].idx], *b = &s->tensors[r[i].idx];
            lb_status st = lb_fail(LB_ERR_FORMAT,
                                   "%s: tensor '%.*s' at offset %" PRIu64 ": duplicate of the tensor in %s at offset %" PRIu64,
                                   b->file, NAME_SHOWN, b->name, b->offset, a->file, a->offset);
            free(r);
            return st;
        }
    }
    *out = r;
    return LB_OK;
}

// ---- safetensors, single and sharded ----

static lb_status open_safetensors(lb_source *s, const char *path)
{
    lb_mapping *m;
    lb_status st = add_map(s, path, &m);
    if (!st) st = lb_safetensors_parse(m, &s->tensors, &s->n_tensors, &s->st_metadata);
    return st;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static bool shard_name_ok(const char *f)
{
    return f[0] != '\0' && strchr(f, '/') == NULL && strchr(f, '\\') == NULL && strcmp(f, ".") != 0 && strcmp(f, "..") != 0;
}

static lb_status open_sharded(lb_source *s, const char *index_path)
{
    cJSON *index;
    lb_status st = load_json(index_path, &index);
    if (st) return st;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
    const char **files = NULL;
    int64_t *first = NULL; /* first tensor index of each shard, plus the end */
    name_ref *names = NULL;
    int n_files = 0;
    if (!cJSON_IsObject(wm) || !wm->child) {
        st = lb_fail(LB_ERR_FORMAT, "%s: \"weight_map\" is missing, empty or not an object", index_path);
        goto done;
    }

    /* distinct shard files, sorted (model-00001-of-00003 ... sorts in shard order) */
    int n_entries = cJSON_GetArraySize(wm);
    files = lb_malloc((size_t)n_entries * sizeof *files, "shard list");
    if (!files) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    const cJSON *e;
    int k = 0;
    cJSON_ArrayForEach(e, wm)
    {
        if (!cJSON_IsString(e)) {
            st = lb_fail(LB_ERR_FORMAT, "%s: weight_map entry for tensor '%.*s' is not a file name string", index_path,
                         NAME_SHOWN, e->string);
            goto done;
        }
        if (!shard_name_ok(e->valuestring)) {
            st = lb_fail(LB_ERR_FORMAT, "%s: weight_map entry for tensor '%.*s' names '%.*s', which is not a plain file name",
                         index_path, NAME_SHOWN, e->string, NAME_SHOWN, e->valuestring);
            goto done;
        }
        files[k++] = e->valuestring;
    }
    qsort(files, (size_t)k, sizeof *files, cmp_str_ptr);
    for (int i = 0; i < k; i++)
        if (n_files == 0 || strcmp(files[n_files - 1], files[i]) != 0) files[n_files++] = files[i];

    first = lb_malloc((size_t)(n_files + 1) * sizeof *first, "shard ranges");
    if (!first) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n_files; i++) {
        char *p = lb_path_join(s->dir, files[i]);
        if (!p) {
            st = LB_ERR_NOMEM;
            goto done;
        }
        first[i] = s->n_tensors;
        lb_mapping *m;
        cJSON *meta = NULL;
        st = add_map(s, p, &m);
        if (st) st = lb_fail_context(st, "%s: weight_map names shard '%s'", index_path, files[i]);
        else st = lb_safetensors_parse(m, &s->tensors, &s->n_tensors, &meta);
        free(p);
        if (st) goto done;
        if (!s->st_metadata) s->st_metadata = meta;
        else cJSON_Delete(meta);
    }
    first[n_files] = s->n_tensors;

    if ((st = sorted_names(s, &names))) goto done;
    cJSON_ArrayForEach(e, wm)
    {
        name_ref key = {e->string, -1}, *hit = NULL;
        /* lower bound on name: idx -1 sorts before every real entry of the same name */
        int64_t lo = 0, hi = s->n_tensors;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (name_ref_cmp(&names[mid], &key) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo < s->n_tensors && strcmp(names[lo].name, e->string) == 0) hit = &names[lo];
        if (!hit) {
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' is listed in weight_map for shard '%s', but %s/%s has no such tensor",
                         index_path, NAME_SHOWN, e->string, e->valuestring, s->dir, e->valuestring);
            goto done;
        }
        const char **f = bsearch(&e->valuestring, files, (size_t)n_files, sizeof *files, cmp_str_ptr);
        LB_ASSERT(f != NULL); /* every weight_map file was collected above */
        int64_t fi = f - files;
        if (hit->idx < first[fi] || hit->idx >= first[fi + 1]) {
            const lb_tensor_info *t = &s->tensors[hit->idx];
            st = lb_fail(LB_ERR_FORMAT,
                         "%s: tensor '%.*s' is listed in weight_map for shard '%s', but that shard lacks it (it is in %s at offset %" PRIu64
                         ")",
                         index_path, NAME_SHOWN, e->string, e->valuestring, t->file, t->offset);
            goto done;
        }
    }
done:
    free(names);
    free(first);
    free(files);
    cJSON_Delete(index);
    return st;
}

/* config.json beside a weights file: optional, but when present it must parse. */
static lb_status load_config_beside(lb_source *s)
{
    char *p = lb_path_join(s->dir, "config.json");
    if (!p) return LB_ERR_NOMEM;
    lb_status st = lb_file_exists(p) ? load_json(p, &s->config) : LB_OK;
    free(p);
    return st;
}

static lb_status open_hf_dir(lb_source *s)
{
    const char *dir = s->dir;
    char *cfg = lb_path_join(dir, "config.json");
    char *single = lb_path_join(dir, "model.safetensors");
    char *index = lb_path_join(dir, "model.safetensors.index.json");
    char *pt = lb_path_join(dir, "pytorch_model.bin");
    char *pt_index = lb_path_join(dir, "pytorch_model.bin.index.json");
    lb_status st = LB_OK;
    if (!cfg || !single || !index || !pt || !pt_index) st = LB_ERR_NOMEM;
    else if (!lb_file_exists(cfg))
        st = lb_fail(LB_ERR_FORMAT,
                     "%s: not a Hugging Face model directory: config.json is missing "
                     "(for a .gguf or llama2.c .bin, pass the file itself)",
                     dir);
    if (!st) st = load_json(cfg, &s->config);
    if (!st) {
        if (lb_file_exists(single)) st = open_safetensors(s, single);
        else if (lb_file_exists(index)) st = open_sharded(s, index);
        else if (lb_file_exists(pt) || lb_file_exists(pt_index))
            st = lb_fail(LB_ERR_UNSUPPORTED, "%s: only safetensors weights are supported; found PyTorch pickle weights (%s)",
                         dir, lb_file_exists(pt) ? "pytorch_model.bin" : "pytorch_model.bin.index.json");
        else st = lb_fail(LB_ERR_FORMAT, "%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(cfg);
    free(single);
    free(index);
    free(pt);
    free(pt_index);
    return st;
}

// ---- GGUF and llama2.c ----

static lb_status open_gguf(lb_source *s, const char *path)
{
    lb_status st = lb_gguf_open(path, &s->gguf);
    if (st) return st;
    int64_t n = lb_gguf_n_tensors(s->gguf);
    s->tensors = lb_calloc((size_t)n + 1, sizeof *s->tensors, "tensor infos");
    if (!s->tensors) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        s->tensors[i] = *lb_gguf_tensor(s->gguf, i);
        s->tensors[i].name = lb_strdup(s->tensors[i].name); /* the source owns all its names */
        if (!s->tensors[i].name) return LB_ERR_NOMEM;
        s->n_tensors = i + 1;
    }
    return LB_OK;
}

static lb_status open_llama2c(lb_source *s, lb_mapping *m)
{
    return lb_llama2c_parse(m, &s->l2c, &s->tensors, &s->n_tensors);
}

// ---- detection ----

/* Kind of an already mapped file from its first bytes; LB_SOURCE_KIND_COUNT when unknown. */
static lb_source_kind sniff(const lb_mapping *m)
{
    const uint8_t *d = m->data;
    if (m->size >= 4 && memcmp(d, "GGUF", 4) == 0) return LB_SOURCE_GGUF;
    if (m->size >= 4 && memcmp(d, "\x32\x34\x6b\x61", 4) == 0) return LB_SOURCE_LLAMA2C; /* 0x616b3432 LE */
    if (m->size >= 10) {
        uint64_t n;
        memcpy(&n, d, 8);
        if (n >= 2 && n <= m->size - 8 && d[8] == '{') return LB_SOURCE_SAFETENSORS;
    }
    if (m->size >= 28) { /* legacy llama2.c: seven positive int32 (vocab may be negative) */
        int32_t p[7];
        memcpy(p, d, sizeof p);
        bool ok = true;
        for (int k = 0; k < 7; k++) ok = ok && (k == 5 ? p[k] != 0 && p[k] != INT32_MIN : p[k] > 0);
        if (ok) return LB_SOURCE_LLAMA2C;
    }
    return LB_SOURCE_KIND_COUNT;
}

static lb_status open_file(lb_source *s, const char *path)
{
    if (ends_with(path, ".gguf")) {
        s->kind = LB_SOURCE_GGUF;
        return open_gguf(s, path);
    }
    if (ends_with(path, ".safetensors")) {
        s->kind = LB_SOURCE_SAFETENSORS;
        lb_status st = open_safetensors(s, path);
        return st ? st : load_config_beside(s);
    }
    if (ends_with(path, ".safetensors.index.json")) {
        s->kind = LB_SOURCE_SAFETENSORS;
        lb_status st = open_sharded(s, path);
        return st ? st : load_config_beside(s);
    }
    lb_mapping *m;
    lb_status st = add_map(s, path, &m);
    if (st) return st;
    if (m->size >= 4 && memcmp(m->data, "PK\x03\x04", 4) == 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: at offset 0: a PyTorch (zip) checkpoint; convert it to safetensors or GGUF", path);
    lb_source_kind k = sniff(m);
    /* a .bin that is nothing else is a llama2.c checkpoint; its parser says what is wrong */
    if (k == LB_SOURCE_KIND_COUNT && ends_with(path, ".bin")) k = LB_SOURCE_LLAMA2C;
    s->kind = k;
    switch (k) {
    case LB_SOURCE_GGUF:
        lb_unmap(m); /* the GGUF reader maps the file itself */
        s->n_maps--;
        return open_gguf(s, path);
    case LB_SOURCE_SAFETENSORS:
        st = lb_safetensors_parse(m, &s->tensors, &s->n_tensors, &s->st_metadata);
        return st ? st : load_config_beside(s);
    case LB_SOURCE_LLAMA2C: return open_llama2c(s, m);
    default:
        return lb_fail(LB_ERR_UNSUPPORTED,
                       "%s: at offset 0: unknown format (not a directory; no .gguf/.safetensors/.bin extension; "
                       "no GGUF, safetensors or llama2.c signature)",
                       path);
    }
}

lb_status lb_source_open(const char *path, lb_source **out)
{
    *out = NULL;
    lb_source *s = lb_calloc(1, sizeof *s, "model source");
    if (!s) return LB_ERR_NOMEM;
    lb_status st = LB_OK;
    s->path = lb_strdup(path);
    if (!s->path) st = LB_ERR_NOMEM;
    else if (lb_is_dir(path)) {
        s->kind = LB_SOURCE_HF_DIR;
        s->dir = lb_strdup(path);
        st = s->dir ? open_hf_dir(s) : LB_ERR_NOMEM;
    } else if (!lb_file_exists(path)) {
        st = lb_fail(LB_ERR_IO, "%s: no such file or directory", path);
    } else {
        s->dir = lb_path_dir(path);
        st = s->dir ? open_file(s, path) : LB_ERR_NOMEM;
    }
    if (!st) { /* also catches a name repeated across shards */
        name_ref *names;
        st = sorted_names(s, &names);
        free(names);
    }
    if (!st) st = lb_source_link_scales(s); /* after every shard: pointers into s->tensors are final */
    if (!st) st = lb_source_link_nf4(s);
    if (st) {
        lb_source_close(s);
        return st;
    }
    *out = s;
    return LB_OK;
}

void lb_source_close(lb_source *s)
{
    if (!s) return;
    for (int64_t i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    free(s->tensors);
    cJSON_Delete(s->config);
    cJSON_Delete(s->st_metadata);
    lb_gguf_close(s->gguf);
    for (int i = 0; i < s->n_maps; i++) lb_unmap(&s->maps[i]);
    free(s->maps);
    free(s->path);
    free(s->dir);
    free(s);
}

const char *lb_source_kind_name(lb_source_kind k)
{
    static const char *const names[LB_SOURCE_KIND_COUNT] = {
        [LB_SOURCE_HF_DIR] = "hf-dir",
        [LB_SOURCE_SAFETENSORS] = "safetensors",
        [LB_SOURCE_GGUF] = "gguf",
        [LB_SOURCE_LLAMA2C] = "llama2c",
    };
    return (k >= 0 && k < LB_SOURCE_KIND_COUNT) ? names[k] : "unknown";
}

const lb_tensor_info *lb_source_find(const lb_source *s, const char *name)
{
    for (int64_t i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}
