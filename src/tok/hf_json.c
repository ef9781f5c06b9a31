/* HF tokenizers tokenizer.json reader (format of huggingface/tokenizers 0.13+). Supported:
 *   model          BPE (vocab, merges as "a b" strings or [a, b] pairs, unk_token, byte_fallback,
 *                  fuse_unk, ignore_merges)
 *   normalizer     null, Sequence, Prepend, Replace (String pattern), Strip, NFC (as identity:
 *                  text is assumed to be NFC already, as nearly all text is)
 *   pre_tokenizer  null, Sequence, Split (Regex or String; all behaviours; invert), ByteLevel,
 *                  Digits, Metaspace
 *   decoder        null, Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace
 *   post_processor TemplateProcessing (single), Bert/RobertaProcessing, ByteLevel, Sequence
 *   added_tokens   with special / normalized / lstrip / rstrip / single_word
 * Anything else is refused with LB_ERR_UNSUPPORTED naming the JSON path, so that we never
 * tokenize differently from the reference without saying so. */
#include "tok/tok_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

// ---- JSON helpers ----

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static bool jnull(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return !v || cJSON_IsNull(v);
}

static char *keep(lb_tokenizer *t, const char *s, size_t n)
{
    char *d = tok_arena_alloc(&t->arena, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static lb_status bad(const lb_tokenizer *t, const char *where, const char *what)
{
    return lb_fail(LB_ERR_FORMAT, "%s: %s: %s", t->path, where, what);
}

static lb_status unsupported(const lb_tokenizer *t, const char *where, const char *type)
{
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: %s type '%s' is not supported", t->path, where, type ? type : "(none)");
}

/* {"String": s} or {"Regex": r} */
static lb_status pattern_of(const lb_tokenizer *t, const cJSON *o, const char *where, const char **s, bool *is_regex)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    if ((*s = jstr(p, "String"))) return (*is_regex = false), LB_OK;
    if ((*s = jstr(p, "Regex"))) return (*is_regex = true), LB_OK;
    return bad(t, where, "pattern is neither {\"String\"} nor {\"Regex\"}");
}

static tok_prepend prepend_of(const cJSON *o)
{
    const char *ps = jstr(o, "prepend_scheme");
    if (ps) return strcmp(ps, "first") == 0 ? TOK_PREPEND_FIRST : strcmp(ps, "never") == 0 ? TOK_PREPEND_NEVER
                                                                                            : TOK_PREPEND_ALWAYS;
    return jbool(o, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

// ---- model ----

static lb_status load_model(lb_tokenizer *t, const cJSON *root)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = jstr(m, "type");
    if (!cJSON_IsObject(m)) return bad(t, "model", "missing");
    if (type && strcmp(type, "BPE") != 0) return unsupported(t, "model", type);
    if (!jnull(m, "continuing_subword_prefix") || !jnull(m, "end_of_word_suffix"))
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: model: continuing_subword_prefix / end_of_word_suffix not supported",
                       t->path);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(dr) && dr->valuedouble > 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: model: BPE dropout %g is not supported", t->path, dr->valuedouble);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) return bad(t, "model.vocab", "missing or not an object");

    /* ids: vocab entries and added tokens share one id space */
    int64_t max_id = -1;
    size_t total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= INT32_MAX || e->valuedouble != (int32_t)e->valuedouble)
            return lb_fail(LB_ERR_FORMAT, "%s: model.vocab[\"%.64s\"]: id is not a non-negative integer", t->path,
                           e->string);
        max_id = e->valueint > max_id ? e->valueint : max_id;
        total += strlen(e->string);
    }
    cJSON_ArrayForEach(e, added)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *content = jstr(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= INT32_MAX || !content)
            return bad(t, "added_tokens", "entry without integer id and content");
        max_id = id->valueint > max_id ? id->valueint : max_id;
        total += strlen(content);
    }
    if (max_id < 0) return bad(t, "model.vocab", "empty");
    /* ids index dense tables: a hostile id of 2^31-1 must not become a 2^31-entry allocation.
     * Real vocabularies are dense (a few reserved holes at most). */
    int64_t n_entries = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
    if (max_id >= n_entries + 1024)
        return lb_fail(LB_ERR_FORMAT, "%s: token id %lld is far beyond the %lld vocabulary entries", t->path, (long long)max_id,
                       (long long)n_entries);
    lb_status st = tok_vocab_alloc(t, (int32_t)(max_id + 1), total, false);
    if (st != LB_OK) return st;
    size_t used = 0;
    bool *set = calloc((size_t)max_id + 1, 1);
    if (!set) return lb_fail(LB_ERR_NOMEM, "out of memory loading %s", t->path);
    cJSON_ArrayForEach(e, vocab)
    {
        if (set[e->valueint]) continue; /* two strings with one id: the first stays */
        set[e->valueint] = true;
        if ((st = tok_vocab_set(t, e->valueint, e->string, strlen(e->string), &used)) != LB_OK) break;
    }
    cJSON_ArrayForEach(e, added)
    {
        int32_t id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        if (st != LB_OK || set[id]) continue;
        set[id] = true;
        const char *content = jstr(e, "content");
        st = tok_vocab_set(t, id, content, strlen(content), &used);
    }
    for (int64_t i = 0; st == LB_OK && i <= max_id; i++)
        if (!set[i]) t->type[i] = TOK_UNUSED; /* a hole in the id space */
    free(set);
    if (st != LB_OK) return st;
    if ((st = tok_vocab_index(t, false)) != LB_OK) return st;

    t->byte_fallback = jbool(m, "byte_fallback", false);
    t->fuse_unk = jbool(m, "fuse_unk", false);
    t->ignore_merges = jbool(m, "ignore_merges", false);
    const char *unk = jstr(m, "unk_token");
    t->unk_id = unk ? tok_strmap_get(&t->vocab, unk, strlen(unk)) : -1;
    if (t->unk_id >= 0) t->type[t->unk_id] = TOK_UNKNOWN;
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] >= 0) t->type[t->byte_id[b]] = TOK_BYTE;

    /* merges: rank = position; a repeated pair takes its last rank (HashMap collect) */
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    int n_m = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if ((st = tok_pairmap_init(&t->merges, (uint64_t)n_m)) != LB_OK) return st;
    t->merge_list = lb_malloc(((size_t)n_m + 1) * sizeof *t->merge_list, "BPE merges");
    if (!t->merge_list) return LB_ERR_NOMEM;
    char *buf = NULL;
    size_t cap = 0;
    int i = 0;
    cJSON_ArrayForEach(e, merges)
    {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp) {
                st = lb_fail(LB_ERR_FORMAT, "%s: model.merges[%d] \"%.64s\" is not \"left right\"", t->path, i, s);
                break;
            }
            a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(sp + 1);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring, al = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring, bl = strlen(b);
        } else {
            st = lb_fail(LB_ERR_FORMAT, "%s: model.merges[%d] is neither \"a b\" nor [a, b]", t->path, i);
            break;
        }
        if (al + bl > cap) {
            cap = 2 * (al + bl) + 16;
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = lb_fail(LB_ERR_NOMEM, "out of memory loading %s", t->path);
                break;
            }
            buf = nb;
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b, bl);
        int32_t ia = tok_strmap_get(&t->vocab, a, al), ib = tok_strmap_get(&t->vocab, b, bl);
        int32_t ic = tok_strmap_get(&t->vocab, buf, al + bl);
        if (ia < 0 || ib < 0 || ic < 0) {
            st = lb_fail(LB_ERR_FORMAT, "%s: model.merges[%d] (\"%.*s\" + \"%.*s\"): token not in the vocabulary",
                         t->path, i, (int)(al < 64 ? al : 64), a, (int)(bl < 64 ? bl : 64), b);
            break;
        }
        if (!tok_pairmap_put(&t->merges, ia, ib, i, ic, true)) {
            st = lb_fail(LB_ERR_NOMEM, "out of memory loading %s", t->path);
            break;
        }
        t->merge_list[t->n_merges][0] = ia;
        t->merge_list[t->n_merges][1] = ib;
        t->n_merges++;
        i++;
    }
    free(buf);
    if (st != LB_OK) return st;
    t->n_ranks = i;

    cJSON_ArrayForEach(e, added)
    {
        int32_t id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        bool special = jbool(e, "special", false);
        if (t->type[id] == TOK_NORMAL)
            t->type[id] = special ? TOK_CONTROL : TOK_USER_DEFINED;
        /* the content, not the vocab string, is what gets matched */
        const char *content = jstr(e, "content");
        if ((st = tok_add_added(t, id, special, jbool(e, "normalized", !special), jbool(e, "lstrip", false),
                                jbool(e, "rstrip", false), jbool(e, "single_word", false))) != LB_OK)
            return st;
        tok_added *a = &t->added[t->n_added - 1];
        size_t cl = strlen(content);
        if (cl != a->len || memcmp(content, a->text, cl) != 0) {
            if (!(a->text = keep(t, content, cl))) return LB_ERR_NOMEM;
            a->len = (uint32_t)cl;
        }
    }
    return LB_OK;
}

// ---- normalizer ----

static lb_status add_norm(lb_tokenizer *t, tok_norm_step s)
{
    tok_norm_step *v = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *v);
    if (!v) return LB_ERR_NOMEM;
    t->norm = v;
    t->norm[t->n_norm++] = s;
    return LB_OK;
}

static lb_status load_normalizer(lb_tokenizer *t, const cJSON *n, int depth)
{
    if (!n || cJSON_IsNull(n)) return LB_OK;
    const char *type = jstr(n, "type");
    if (!type) return bad(t, "normalizer", "no type");
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        {
            lb_status st = load_normalizer(t, e, depth + 1);
            if (st != LB_OK) return st;
        }
        return LB_OK;
    }
    if (strcmp(type, "NFC") == 0) return LB_OK;
    if (strcmp(type, "Prepend") == 0) {
        const char *p = jstr(n, "prepend");
        if (!p) return bad(t, "normalizer Prepend", "no prepend string");
        char *k = keep(t, p, strlen(p));
        return k ? add_norm(t, (tok_norm_step){.type = TOK_NORM_PREPEND, .a = k, .a_len = strlen(p)}) : LB_ERR_NOMEM;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *p, *c = jstr(n, "content");
        bool re;
        lb_status st = pattern_of(t, n, "normalizer Replace", &p, &re);
        if (st != LB_OK) return st;
        if (re) return unsupported(t, "normalizer Replace with", "Regex");
        if (!c || !p[0]) return bad(t, "normalizer Replace", "no content or empty pattern");
        char *a = keep(t, p, strlen(p)), *b = keep(t, c, strlen(c));
        if (!a || !b) return LB_ERR_NOMEM;
        return add_norm(t, (tok_norm_step){.type = TOK_NORM_REPLACE, .a = a, .a_len = strlen(p), .b = b,
                                           .b_len = strlen(c)});
    }
    if (strcmp(type, "Strip") == 0)
        return add_norm(t, (tok_norm_step){.type = TOK_NORM_STRIP, .left = jbool(n, "strip_left", true),
                                           .right = jbool(n, "strip_right", true)});
    return unsupported(t, "normalizer", type);
}

// ---- pre-tokenizer ----

static const struct {
    const char *name;
    tok_split_behavior b;
} BEHAVIORS[] = {{"Removed", TOK_SPLIT_REMOVED},
                 {"Isolated", TOK_SPLIT_ISOLATED},
                 {"MergedWithPrevious", TOK_SPLIT_MERGED_WITH_PREVIOUS},
                 {"MergedWithNext", TOK_SPLIT_MERGED_WITH_NEXT},
                 {"Contiguous", TOK_SPLIT_CONTIGUOUS}};

static lb_status load_pre(lb_tokenizer *t, const cJSON *p, int depth, bool *bytelevel)
{
    if (!p || cJSON_IsNull(p)) return LB_OK;
    const char *type = jstr(p, "type");
    if (!type) return bad(t, "pre_tokenizer", "no type");
    lb_status st;
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
        {
            if ((st = load_pre(t, e, depth + 1, bytelevel)) != LB_OK) return st;
        }
        return LB_OK;
    }
    if (strcmp(type, "Split") == 0) {
        const char *pat, *bs = jstr(p, "behavior");
        bool re;
        if ((st = pattern_of(t, p, "pre_tokenizer Split", &pat, &re)) != LB_OK) return st;
        int b = -1;
        for (size_t i = 0; bs && i < sizeof BEHAVIORS / sizeof BEHAVIORS[0]; i++)
            if (strcmp(bs, BEHAVIORS[i].name) == 0) b = (int)BEHAVIORS[i].b;
        if (b < 0) return unsupported(t, "pre_tokenizer Split behavior", bs);
        bool inv = jbool(p, "invert", false);
        if (re) return tok_pre_add_regex(t, pat, strlen(pat), (tok_split_behavior)b, inv);
        char *k = keep(t, pat, strlen(pat));
        if (!k) return LB_ERR_NOMEM;
        tok_pre_step s = {.type = TOK_PRE_SPLIT_STRING, .behavior = (tok_split_behavior)b, .invert = inv, .str = k,
                          .str_len = strlen(pat)};
        return tok_pre_add_step(t, &s);
    }
    if (strcmp(type, "Digits") == 0)
        return tok_pre_add_regex(t, "\\p{N}", 5,
                                 jbool(p, "individual_digits", false) ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, false);
    if (strcmp(type, "ByteLevel") == 0) {
        tok_pre_step s = {.type = TOK_PRE_BYTELEVEL, .add_prefix_space = jbool(p, "add_prefix_space", true)};
        if (jbool(p, "use_regex", true) &&
            (st = tok_regex_compile(tok_gpt2_regex, strlen(tok_gpt2_regex), &s.re, t->path)) != LB_OK)
            return st;
        *bytelevel = true;
        if ((st = tok_pre_add_step(t, &s)) != LB_OK && s.re) tok_regex_free(s.re);
        return st;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *r = jstr(p, "replacement");
        if (!r || !r[0]) return bad(t, "pre_tokenizer Metaspace", "no replacement");
        char *k = keep(t, r, strlen(r));
        if (!k) return LB_ERR_NOMEM;
        tok_pre_step s = {.type = TOK_PRE_METASPACE, .str = k, .str_len = strlen(r), .prepend = prepend_of(p),
                          .split = jbool(p, "split", true)};
        return tok_pre_add_step(t, &s);
    }
    return unsupported(t, "pre_tokenizer", type);
}

// ---- decoder ----

static lb_status add_dec(lb_tokenizer *t, tok_dec_step s)
{
    tok_dec_step *v = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *v);
    if (!v) return LB_ERR_NOMEM;
    t->dec = v;
    t->dec[t->n_dec++] = s;
    return LB_OK;
}

static lb_status load_decoder(lb_tokenizer *t, const cJSON *d, int depth, bool *bytelevel)
{
    if (!d || cJSON_IsNull(d)) return LB_OK;
    const char *type = jstr(d, "type");
    if (!type) return bad(t, "decoder", "no type");
    t->dec_set = true;
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "decoders"))
        {
            lb_status st = load_decoder(t, e, depth + 1, bytelevel);
            if (st != LB_OK) return st;
        }
        return LB_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *p, *c = jstr(d, "content");
        bool re;
        lb_status st = pattern_of(t, d, "decoder Replace", &p, &re);
        if (st != LB_OK) return st;
        if (re) return unsupported(t, "decoder Replace with", "Regex");
        if (!c || !p[0]) return bad(t, "decoder Replace", "no content or empty pattern");
        char *a = keep(t, p, strlen(p)), *b = keep(t, c, strlen(c));
        if (!a || !b) return LB_ERR_NOMEM;
        return add_dec(t, (tok_dec_step){.type = TOK_DEC_REPLACE, .a = a, .a_len = strlen(p), .b = b, .b_len = strlen(c)});
    }
    if (strcmp(type, "ByteFallback") == 0) return add_dec(t, (tok_dec_step){.type = TOK_DEC_BYTE_FALLBACK});
    if (strcmp(type, "Fuse") == 0) return add_dec(t, (tok_dec_step){.type = TOK_DEC_FUSE});
    if (strcmp(type, "Strip") == 0) {
        const char *c = jstr(d, "content");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "start"), *e = cJSON_GetObjectItemCaseSensitive(d, "stop");
        if (!c || strlen(c) != 1) return unsupported(t, "decoder Strip content", c);
        return add_dec(t, (tok_dec_step){.type = TOK_DEC_STRIP, .content = c[0],
                                         .start = cJSON_IsNumber(s) ? s->valueint : 0,
                                         .stop = cJSON_IsNumber(e) ? e->valueint : 0});
    }
    if (strcmp(type, "ByteLevel") == 0) {
        *bytelevel = true;
        return add_dec(t, (tok_dec_step){.type = TOK_DEC_BYTELEVEL});
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *r = jstr(d, "replacement");
        if (!r || !r[0]) return bad(t, "decoder Metaspace", "no replacement");
        char *k = keep(t, r, strlen(r));
        if (!k) return LB_ERR_NOMEM;
        return add_dec(t, (tok_dec_step){.type = TOK_DEC_METASPACE, .a = k, .a_len = strlen(r), .prepend = prepend_of(d)});
    }
    return unsupported(t, "decoder", type);
}

// ---- post-processor: ids around a single sequence ----

static lb_status push_special(lb_tokenizer *t, const cJSON *specials, const char *name, int32_t *v, int *n, int cap)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids"), *e;
    if (!cJSON_IsArray(ids)) return lb_fail(LB_ERR_FORMAT, "%s: post_processor: special token '%.64s' has no ids", t->path, name);
    cJSON_ArrayForEach(e, ids)
    {
        if (!cJSON_IsNumber(e) || e->valueint < 0 || e->valueint >= t->n_vocab || *n >= cap)
            return lb_fail(LB_ERR_FORMAT, "%s: post_processor: bad id for '%.64s'", t->path, name);
        v[(*n)++] = e->valueint;
    }
    return LB_OK;
}

static lb_status load_post(lb_tokenizer *t, const cJSON *p, int depth, bool *have)
{
    if (!p || cJSON_IsNull(p)) return LB_OK;
    const char *type = jstr(p, "type");
    if (!type) return bad(t, "post_processor", "no type");
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "processors"))
        {
            lb_status st = load_post(t, e, depth + 1, have);
            if (st != LB_OK) return st;
        }
        return LB_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) return LB_OK; /* offsets only */
    int32_t pre[16], suf[16];
    int np = 0, ns = 0;
    lb_status st = LB_OK;
    if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens"), *e;
        bool seen_seq = false;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "single"))
        {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
            if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) seen_seq = true;
            else if (sp && jstr(sp, "id")) {
                st = seen_seq ? push_special(t, specials, jstr(sp, "id"), suf, &ns, 16)
                              : push_special(t, specials, jstr(sp, "id"), pre, &np, 16);
                if (st != LB_OK) return st;
            }
        }
    } else if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(p, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(p, "sep");
        const cJSON *c1 = cJSON_GetArrayItem(cls, 1), *s1 = cJSON_GetArrayItem(sep, 1);
        if (!cJSON_IsNumber(c1) || !cJSON_IsNumber(s1) || c1->valueint < 0 || c1->valueint >= t->n_vocab ||
            s1->valueint < 0 || s1->valueint >= t->n_vocab)
            return bad(t, "post_processor", "cls/sep ids missing");
        pre[np++] = c1->valueint;
        suf[ns++] = s1->valueint;
    } else return unsupported(t, "post_processor", type);
    *have = true;
    return tok_set_template(t, pre, np, suf, ns);
}

// ---- entry ----

lb_status tok_load_hf_json(lb_tokenizer *t, const char *path)
{
    char *text;
    size_t len;
    lb_status st = lb_read_file(path, &text, &len);
    if (st != LB_OK) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        size_t off = e && e >= text && e <= text + len ? (size_t)(e - text) : 0;
        free(text);
        return lb_fail(LB_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", path, off);
    }
    free(text);
    t->source = TOK_SRC_HF_JSON;
    t->model = TOK_MODEL_BPE_RANK;
    bool bl_pre = false, bl_dec = false, have_post = false;
    if (!cJSON_IsObject(root)) st = bad(t, "top level", "not an object");
    if (st == LB_OK) st = load_model(t, root);
    if (st == LB_OK) st = load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
    if (st == LB_OK) st = load_pre(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0, &bl_pre);
    if (st == LB_OK) st = load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0, &bl_dec);
    if (st == LB_OK) st = load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0, &have_post);
    cJSON_Delete(root);
    if (st != LB_OK) return st;
    t->kind = bl_pre || bl_dec ? TOK_KIND_BYTE_BPE : TOK_KIND_SPM_BPE;
    t->bos = t->n_prefix > 0 ? t->prefix[0] : -1;
    t->eos = -1;
    int add_bos = -1, add_eos = -1;
    tok_read_side_configs(t, path, &add_bos, &add_eos);
    if (!have_post && add_bos == 1 && t->bos >= 0) /* no post-processor: tokenizer_config.json decides */
        return tok_set_template(t, &t->bos, 1, &t->eos, add_eos == 1 && t->eos >= 0);
    return LB_OK;
}
