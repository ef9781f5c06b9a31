/* Tokenizer loading and dispatch: finds the model's tokenizer (tokenizer.json, tokenizer.model,
 * GGUF vocabulary, llama2.c tokenizer.bin), reads BOS/EOS conventions from the files beside it,
 * and owns the shared vocabulary setup used by every loader. Encoding lives in encode.c and the
 * model files (byte_bpe.c, spm_bpe.c, llama2c_tok.c), decoding in decode.c. */
#include "tok/tok_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

// ---- vocabulary setup ----

lb_status tok_vocab_alloc(lb_tokenizer *t, int32_t n, size_t total_bytes, bool with_scores)
{
    t->n_vocab = n;
    t->blob = lb_malloc(total_bytes + 1, "tokenizer vocabulary");
    t->off = lb_calloc((size_t)n, sizeof *t->off, "tokenizer vocabulary");
    t->len = lb_calloc((size_t)n, sizeof *t->len, "tokenizer vocabulary");
    t->type = lb_malloc((size_t)n, "tokenizer vocabulary");
    t->score = with_scores ? lb_calloc((size_t)n, sizeof *t->score, "tokenizer scores") : NULL;
    if (!t->blob || !t->off || !t->len || !t->type || (with_scores && !t->score)) return LB_ERR_NOMEM;
    memset(t->type, TOK_NORMAL, (size_t)n);
    t->blob[0] = '\0';
    t->bos = t->eos = t->unk_id = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    return LB_OK;
}

lb_status tok_vocab_set(lb_tokenizer *t, int32_t id, const char *s, size_t n, size_t *blob_used)
{
    LB_ASSERT(id >= 0 && id < t->n_vocab);
    if (n > UINT32_MAX) return lb_fail(LB_ERR_FORMAT, "%s: token %d is %zu bytes long", t->path, id, n);
    memcpy(t->blob + *blob_used, s, n);
    t->off[id] = *blob_used;
    t->len[id] = (uint32_t)n;
    if (n > t->max_len) t->max_len = (uint32_t)n;
    *blob_used += n;
    return LB_OK;
}

lb_status tok_vocab_index(lb_tokenizer *t, bool dup_is_error)
{
    lb_status st = tok_strmap_init(&t->vocab, (uint64_t)t->n_vocab);
    if (st != LB_OK) return st;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (t->len[i] == 0) continue;
        int32_t v = tok_strmap_put(&t->vocab, tok_piece_text(t, i), t->len[i], i);
        if (v == -2) return lb_fail(LB_ERR_NOMEM, "out of memory indexing %s", t->path);
        if (v != i && dup_is_error)
            return lb_fail(LB_ERR_FORMAT, "%s: duplicate token '%.*s' (ids %d and %d)", t->path,
                           (int)(t->len[i] < 64 ? t->len[i] : 64), tok_piece_text(t, i), v, i);
    }
    /* <0xNN> pieces, as HF ("<{b:#04X}>") and sentencepiece (ByteToPiece) spell them */
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_strmap_get(&t->vocab, name, 6);
    }
    return LB_OK;
}

lb_status tok_add_added(lb_tokenizer *t, int32_t id, bool special, bool normalized, bool lstrip, bool rstrip,
                        bool single_word)
{
    tok_added *v = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *v);
    if (!v) return lb_fail(LB_ERR_NOMEM, "out of memory loading %s", t->path);
    t->added = v;
    t->added[t->n_added++] = (tok_added){.id = id, .text = tok_piece_text(t, id), .len = t->len[id],
                                         .special = special, .normalized = normalized, .lstrip = lstrip,
                                         .rstrip = rstrip, .single_word = single_word};
    return LB_OK;
}

lb_status tok_set_template(lb_tokenizer *t, const int32_t *prefix, int n_prefix, const int32_t *suffix, int n_suffix)
{
    free(t->prefix);
    free(t->suffix);
    t->prefix = lb_malloc(((size_t)n_prefix + 1) * sizeof(int32_t), "tokenizer template");
    t->suffix = lb_malloc(((size_t)n_suffix + 1) * sizeof(int32_t), "tokenizer template");
    if (!t->prefix || !t->suffix) return LB_ERR_NOMEM;
    if (n_prefix) memcpy(t->prefix, prefix, (size_t)n_prefix * sizeof(int32_t));
    if (n_suffix) memcpy(t->suffix, suffix, (size_t)n_suffix * sizeof(int32_t));
    t->n_prefix = n_prefix;
    t->n_suffix = n_suffix;
    return LB_OK;
}

lb_status tok_set_spm_decoder(lb_tokenizer *t)
{
    /* Meta's Llama-2 tokenizer.json decoder: Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0) */
    static const tok_dec_step steps[] = {
        {.type = TOK_DEC_REPLACE, .a = "\xE2\x96\x81", .a_len = 3, .b = " ", .b_len = 1},
        {.type = TOK_DEC_BYTE_FALLBACK},
        {.type = TOK_DEC_FUSE},
        {.type = TOK_DEC_STRIP, .content = ' ', .start = 1, .stop = 0},
    };
    t->dec = lb_malloc(sizeof steps, "tokenizer decoder");
    if (!t->dec) return LB_ERR_NOMEM;
    memcpy(t->dec, steps, sizeof steps);
    t->n_dec = 4;
    t->dec_set = true;
    return LB_OK;
}

lb_status tok_set_bytelevel_decoder(lb_tokenizer *t)
{
    t->dec = lb_malloc(sizeof *t->dec, "tokenizer decoder");
    if (!t->dec) return LB_ERR_NOMEM;
    t->dec[0] = (tok_dec_step){.type = TOK_DEC_BYTELEVEL};
    t->n_dec = 1;
    t->dec_set = true;
    return LB_OK;
}

// ---- BOS/EOS from the files beside the tokenizer ----

static cJSON *read_json_beside(const char *dir, const char *name)
{
    char *p = lb_path_join(dir, name);
    if (!p) return NULL;
    char *text = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    if (lb_file_exists(p) && lb_read_file(p, &text, &len) == LB_OK) j = cJSON_ParseWithLength(text, len);
    free(text);
    free(p);
    lb_clear_error();
    return j;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static int32_t token_named(const lb_tokenizer *t, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    const char *s = v->valuestring;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == strlen(s) && memcmp(t->added[i].text, s, t->added[i].len) == 0) return t->added[i].id;
    return tok_strmap_get(&t->vocab, s, strlen(s));
}

static int32_t id_field(const lb_tokenizer *t, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= t->n_vocab) return -1;
    return v->valueint;
}

void tok_read_side_configs(lb_tokenizer *t, const char *path, int *add_bos, int *add_eos)
{
    char *dir = lb_path_dir(path);
    if (!dir) return;
    cJSON *cfg = read_json_beside(dir, "config.json");
    cJSON *tcfg = read_json_beside(dir, "tokenizer_config.json");
    cJSON *smap = read_json_beside(dir, "special_tokens_map.json");
    if (t->bos < 0) t->bos = id_field(t, cfg, "bos_token_id");
    if (t->bos < 0) t->bos = token_named(t, tcfg, "bos_token");
    if (t->bos < 0) t->bos = token_named(t, smap, "bos_token");
    if (t->eos < 0) t->eos = id_field(t, cfg, "eos_token_id");
    if (t->eos < 0) t->eos = token_named(t, tcfg, "eos_token");
    if (t->eos < 0) t->eos = token_named(t, smap, "eos_token");
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(tcfg, "add_bos_token");
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(tcfg, "add_eos_token");
    if (cJSON_IsBool(ab)) *add_bos = cJSON_IsTrue(ab);
    if (cJSON_IsBool(ae)) *add_eos = cJSON_IsTrue(ae);
    cJSON_Delete(cfg);
    cJSON_Delete(tcfg);
    cJSON_Delete(smap);
    free(dir);
}

// ---- open / close ----

void lb_tokenizer_free(lb_tokenizer *t)
{
    if (!t) return;
    free(t->path);
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->type);
    tok_strmap_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    free(t->merge_list);
    free(t->added);
    free(t->grp_idx[0]);
    free(t->grp_idx[1]);
    free(t->norm);
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].re) tok_regex_free(t->pre[i].re);
    free(t->pre);
    free(t->pre_name);
    free(t->dec);
    free(t->prefix);
    free(t->suffix);
    tok_arena_free(&t->arena);
    free(t);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef enum { F_UNKNOWN, F_JSON, F_SPM, F_GGUF, F_L2C } file_kind;

static file_kind sniff(const char *path)
{
    if (ends_with(path, ".json")) return F_JSON;
    if (ends_with(path, ".model")) return F_SPM;
    if (ends_with(path, ".gguf")) return F_GGUF;
    if (ends_with(path, ".bin")) return F_L2C;
    FILE *f = fopen(path, "rb");
    unsigned char m[4] = {0};
    size_t got = f ? fread(m, 1, 4, f) : 0;
    if (f) fclose(f);
    if (got == 4 && memcmp(m, "GGUF", 4) == 0) return F_GGUF;
    if (got >= 1 && (m[0] == '{' || m[0] == ' ' || m[0] == '\n')) return F_JSON;
    if (got >= 1 && m[0] == 0x0A) return F_SPM; /* protobuf: field 1, length-delimited */
    return F_UNKNOWN;
}

/* Runs a loader on a fresh tokenizer and finishes it; *out NULL on failure. */
static lb_status finish(lb_tokenizer *t, lb_status st, lb_tokenizer **out)
{
    if (st == LB_OK) st = tok_finalize(t);
    if (st == LB_OK && t->bos >= t->n_vocab) t->bos = -1;
    if (st == LB_OK && t->eos >= t->n_vocab) t->eos = -1;
    if (st != LB_OK) {
        if (st == LB_ERR_NOMEM && !lb_errmsg()[0]) lb_fail(st, "%s: out of memory loading the tokenizer", t->path);
        lb_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LB_OK;
}

static lb_tokenizer *fresh(const char *path)
{
    lb_tokenizer *t = lb_calloc(1, sizeof *t, "tokenizer");
    if (!t) return NULL;
    t->path = lb_strdup(path);
    t->bos = t->eos = t->unk_id = -1;
    if (!t->path) {
        free(t);
        return NULL;
    }
    return t;
}

static lb_status load_kind(const char *path, file_kind k, int64_t l2c_vocab, lb_tokenizer **out)
{
    lb_tokenizer *t = fresh(path);
    if (!t) return LB_ERR_NOMEM;
    lb_status st;
    switch (k) {
    case F_JSON: st = tok_load_hf_json(t, path); break;
    case F_SPM: st = tok_load_spm_model(t, path); break;
    case F_L2C: st = tok_load_llama2c(t, path, l2c_vocab); break;
    case F_GGUF: {
        lb_gguf *g = NULL;
        st = lb_gguf_open(path, &g);
        if (st == LB_OK) st = tok_load_gguf(t, g, path);
        lb_gguf_close(g);
        break;
    }
    default:
        st = lb_fail(LB_ERR_UNSUPPORTED, "%s: not a tokenizer lowbit knows (tokenizer.json, tokenizer.model, .gguf, "
                     "llama2.c .bin)", path);
    }
    return finish(t, st, out);
}

lb_status lb_tokenizer_load(const char *path, lb_tokenizer **out)
{
    if (out) *out = NULL;
    if (!path || !out) return lb_fail(LB_ERR_ARG, "lb_tokenizer_load: NULL argument");
    if (!lb_file_exists(path)) return lb_fail(LB_ERR_IO, "%s: no such tokenizer file", path);
    return load_kind(path, sniff(path), 0, out);
}

/* llama2.c: tokenizer.bin or tok*.bin in dir whose token count matches the checkpoint. */
static lb_status find_llama2c(const lb_source *src, lb_tokenizer **out)
{
    int64_t want = src->l2c.vocab_size < 0 ? -(int64_t)src->l2c.vocab_size : src->l2c.vocab_size;
    char *names[64];
    int n = 0;
    char *p = lb_path_join(src->dir, "tokenizer.bin");
    if (p && lb_file_exists(p)) names[n++] = p;
    else free(p);
    DIR *d = opendir(src->dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64) {
        if (strncmp(e->d_name, "tok", 3) != 0 || !ends_with(e->d_name, ".bin") || strcmp(e->d_name, "tokenizer.bin") == 0)
            continue;
        if ((p = lb_path_join(src->dir, e->d_name))) names[n++] = p;
    }
    if (d) closedir(d);
    char seen[1024] = "";
    int pick = -1;
    int64_t counts[64];
    for (int i = 0; i < n; i++) {
        counts[i] = tok_llama2c_count(names[i]);
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof seen - used, "%s%s (%lld tokens)", i ? ", " : "", names[i], (long long)counts[i]);
        if (pick < 0 && counts[i] == want) pick = i;
    }
    for (int i = 0; pick < 0 && i < n; i++) /* none exact: the first large enough (run.c reads a prefix) */
        if (counts[i] >= want && counts[i] > 0) pick = i;
    lb_status st;
    if (pick >= 0) st = load_kind(names[pick], F_L2C, want, out);
    else if (n == 0)
        st = lb_fail(LB_ERR_FORMAT, "no llama2.c tokenizer found: looked for tokenizer.bin and tok*.bin in %s", src->dir);
    else
        st = lb_fail(LB_ERR_FORMAT, "no llama2.c tokenizer in %s has the checkpoint's %lld tokens: %s", src->dir,
                     (long long)want, seen);
    for (int i = 0; i < n; i++) free(names[i]);
    return st;
}

lb_status lb_tokenizer_from_source(const lb_source *src, lb_tokenizer **out)
{
    if (out) *out = NULL;
    if (!src || !out) return lb_fail(LB_ERR_ARG, "lb_tokenizer_from_source: NULL argument");
    switch (src->kind) {
    case LB_SOURCE_HF_DIR:
    case LB_SOURCE_SAFETENSORS: {
        const char *dir = src->dir ? src->dir : ".";
        static const char *const names[] = {"tokenizer.json", "tokenizer.model"};
        for (int i = 0; i < 2; i++) {
            char *p = lb_path_join(dir, names[i]);
            if (!p) return LB_ERR_NOMEM;
            lb_status st = LB_ERR_FORMAT;
            bool found = lb_file_exists(p);
            if (found) st = load_kind(p, i == 0 ? F_JSON : F_SPM, 0, out);
            free(p);
            if (found) return st;
        }
        return lb_fail(LB_ERR_FORMAT, "no tokenizer found: looked for tokenizer.json and tokenizer.model in %s", dir);
    }
    case LB_SOURCE_GGUF: {
        if (!src->gguf) return lb_fail(LB_ERR_ARG, "%s: GGUF source is not open", src->path);
        lb_tokenizer *t = fresh(src->path);
        if (!t) return LB_ERR_NOMEM;
        return finish(t, tok_load_gguf(t, src->gguf, src->path), out);
    }
    case LB_SOURCE_LLAMA2C:
        return find_llama2c(src, out);
    default:
        return lb_fail(LB_ERR_ARG, "lb_tokenizer_from_source: unknown source kind %d", (int)src->kind);
    }
}

// ---- accessors ----

const char *lb_tokenizer_kind(const lb_tokenizer *t)
{
    static const char *const names[] = {"spm-bpe", "byte-bpe", "llama2c"};
    return t ? names[t->kind] : "none";
}

int64_t lb_tokenizer_n_vocab(const lb_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t lb_tokenizer_bos(const lb_tokenizer *t) { return t ? t->bos : -1; }
int32_t lb_tokenizer_eos(const lb_tokenizer *t) { return t ? t->eos : -1; }

bool lb_tokenizer_adds_bos(const lb_tokenizer *t)
{
    if (!t || t->bos < 0) return false;
    for (int i = 0; i < t->n_prefix; i++)
        if (t->prefix[i] == t->bos) return true;
    return false;
}

bool lb_tokenizer_token(const lb_tokenizer *t, int32_t id, const char **text, size_t *len, float *score, int *type)
{
    if (!t || id < 0 || id >= t->n_vocab) return false;
    if (text) *text = tok_piece_text(t, id);
    if (len) *len = t->len[id];
    if (score) *score = t->score ? t->score[id] : 0.0f;
    if (type) *type = t->type[id];
    return true;
}

int64_t lb_tokenizer_n_merges(const lb_tokenizer *t) { return t ? t->n_merges : 0; }

bool lb_tokenizer_merge(const lb_tokenizer *t, int64_t i, int32_t *left, int32_t *right)
{
    if (!t || i < 0 || i >= t->n_merges) return false;
    *left = t->merge_list[i][0];
    *right = t->merge_list[i][1];
    return true;
}

const char *lb_tokenizer_pre_name(const lb_tokenizer *t) { return t ? t->pre_name : NULL; }
