/* Pre-tokenization: splitting normalized text into words before BPE, as HF tokenizers'
 * pre_tokenizers (Split, ByteLevel, Digits, Metaspace, Sequence) do, and the named pre-tokenizers
 * of GGUF vocabularies (tokenizer.ggml.pre; the table follows llama.cpp src/llama-vocab.cpp, with
 * HF's original regexes since PCRE2 runs (?i:...) natively). Regexes are compiled with
 * PCRE2_UTF | PCRE2_UCP so \p{L}, \p{N} and \s are Unicode-aware, and JIT-compiled when possible.
 * Split behaviours reproduce tokenizers' NormalizedString::split (Removed, Isolated,
 * MergedWithPrevious, MergedWithNext, Contiguous, invert). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok/tok_internal.h"

#include <pcre2.h>
#include <stdlib.h>

const char tok_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define LLAMA3_RE                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                   \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"     \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define TEKKEN_RE                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"              \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}|"       \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT4O_RE                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"              \
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

// ---- named GGUF pre-tokenizers ----

typedef struct named_pre {
    const char *names; /* space-separated */
    const char *re[4];
    bool add_bos, ignore_merges;
} named_pre;

static const named_pre NAMED[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2", {LLAMA3_RE}, true, true},
    {"dbrx smaug-bpe chatglm-bpe glm4", {LLAMA3_RE}, false, false},
    {"gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum modern-bert mpt olmo jais "
     "exaone4 trillion granite-docling roberta-bpe jina-v1-en jina-v2-code",
     {GPT2_RE}, false, false},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", {"\\p{N}", GPT2_RE}, false, false},
    {"qwen2 deepseek-r1-qwen megrez stablelm2 hunyuan", {QWEN2_RE}, false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}, false, false},
    {"poro-chat bloom gpt3-finnish", {" ?[^(\\s|.,!?…。，、।۔،)]+"}, false, false},
    {"tekken", {TEKKEN_RE}, true, true},
    {"gpt-4o llama4", {GPT4O_RE}, false, false},
};

static bool name_in(const char *names, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

lb_status tok_pre_from_gguf_name(lb_tokenizer *t, const char *name, bool *add_bos_default, bool *ignore_merges)
{
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++) {
        if (!name_in(NAMED[i].names, name)) continue;
        for (int k = 0; k < 4 && NAMED[i].re[k]; k++) {
            lb_status st = tok_pre_add_regex(t, NAMED[i].re[k], strlen(NAMED[i].re[k]), TOK_SPLIT_ISOLATED, false);
            if (st != LB_OK) return st;
        }
        *add_bos_default = NAMED[i].add_bos;
        *ignore_merges = NAMED[i].ignore_merges;
        tok_pre_step bl = {.type = TOK_PRE_BYTELEVEL};
        return tok_pre_add_step(t, &bl);
    }
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported", t->path, name);
}

// ---- compiling ----

lb_status tok_regex_compile(const char *pattern, size_t len, void **out, const char *where)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: regex /%.*s/ does not compile at offset %zu: %s", where, (int)len,
                       pattern, (size_t)off, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    *out = re;
    return LB_OK;
}

void tok_regex_free(void *re) { pcre2_code_free(re); }
void *tok_regex_match_data(void) { return pcre2_match_data_create(16, NULL); }
void tok_regex_free_match_data(void *md) { pcre2_match_data_free(md); }

lb_status tok_pre_add_step(lb_tokenizer *t, const tok_pre_step *s)
{
    tok_pre_step *v = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *v);
    if (!v) return lb_fail(LB_ERR_NOMEM, "out of memory loading tokenizer");
    t->pre = v;
    t->pre[t->n_pre++] = *s;
    return LB_OK;
}

lb_status tok_pre_add_regex(lb_tokenizer *t, const char *pattern, size_t len, tok_split_behavior b, bool invert)
{
    tok_pre_step s = {.type = TOK_PRE_SPLIT_REGEX, .behavior = b, .invert = invert};
    lb_status st = tok_regex_compile(pattern, len, &s.re, t->path);
    if (st != LB_OK) return st;
    st = tok_pre_add_step(t, &s);
    if (st != LB_OK) tok_regex_free(s.re);
    return st;
}

// ---- splitting ----

static lb_status oom(void) { return lb_fail(LB_ERR_NOMEM, "out of memory pre-tokenizing"); }

/* Appends to c->seg the matches of re in s[0..n) (valid UTF-8) and the text between them. */
static lb_status regex_segments(tok_ctx *c, pcre2_code *re, const char *s, size_t n)
{
    if (!c->match_data && !(c->match_data = tok_regex_match_data())) return oom();
    size_t off = 0, prev = 0;
    while (off < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, c->match_data, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lb_fail(LB_ERR_UNSUPPORTED, "%s: pre-tokenizer regex failed: %s", c->t->path, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->match_data);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: nothing to split, step one character */
            off = ms + tok_utf8_step(s + ms, n - ms);
            continue;
        }
        if (ms > prev && !tok_pieces_push(&c->seg, s + prev, ms - prev, 0, false)) return oom();
        if (!tok_pieces_push(&c->seg, s + ms, me - ms, 1, false)) return oom();
        prev = off = me;
    }
    if (n > prev && !tok_pieces_push(&c->seg, s + prev, n - prev, 0, false)) return oom();
    return LB_OK;
}

/* Like regex_segments, but input may hold invalid UTF-8: each invalid byte is its own
 * non-match segment and the regex runs on the valid stretches between. */
static lb_status regex_segments_any(tok_ctx *c, pcre2_code *re, const char *s, size_t n)
{
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_valid((const unsigned char *)s + i, n - i, &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        lb_status st = run < i ? regex_segments(c, re, s + run, i - run) : LB_OK;
        if (st != LB_OK) return st;
        if (!tok_pieces_push(&c->seg, s + i, 1, 0, false)) return oom();
        run = ++i;
    }
    return run < n ? regex_segments(c, re, s + run, n - run) : LB_OK;
}

/* Literal pattern matches (Split{String}, Metaspace's replacement char). */
static lb_status literal_segments(tok_ctx *c, const char *pat, size_t pl, const char *s, size_t n)
{
    size_t prev = 0, i = 0;
    while (pl > 0 && i + pl <= n) {
        if (memcmp(s + i, pat, pl) != 0) {
            i++;
            continue;
        }
        if (i > prev && !tok_pieces_push(&c->seg, s + prev, i - prev, 0, false)) return oom();
        if (!tok_pieces_push(&c->seg, s + i, pl, 1, false)) return oom();
        prev = i = i + pl;
    }
    if (n > prev && !tok_pieces_push(&c->seg, s + prev, n - prev, 0, false)) return oom();
    return LB_OK;
}

/* Applies a split behaviour to c->seg (which covers one piece) and appends the pieces to out. */
static lb_status apply_behavior(tok_ctx *c, tok_split_behavior b, bool invert, bool at_start, tok_pieces *out)
{
    tok_piece *g = c->seg.v;
    size_t n = c->seg.n;
    if (invert)
        for (size_t i = 0; i < n; i++) g[i].id = !g[i].id;
    size_t first = out->n;
    bool prev_match = false;
    switch (b) {
    case TOK_SPLIT_ISOLATED:
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if ((b == TOK_SPLIT_ISOLATED || !g[i].id) && !tok_pieces_push(out, g[i].s, g[i].n, -1, false)) return oom();
        break;
    case TOK_SPLIT_CONTIGUOUS:
    case TOK_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < n; i++) {
            bool m = g[i].id != 0;
            bool merge = b == TOK_SPLIT_CONTIGUOUS ? (m == prev_match) : (m && !prev_match);
            if (merge && out->n > first) out->v[out->n - 1].n = (size_t)(g[i].s + g[i].n - out->v[out->n - 1].s);
            else if (!tok_pieces_push(out, g[i].s, g[i].n, -1, false)) return oom();
            prev_match = m;
        }
        break;
    case TOK_SPLIT_MERGED_WITH_NEXT:
        for (size_t i = n; i-- > 0;) {
            bool m = g[i].id != 0;
            if (m && !prev_match && out->n > first) {
                tok_piece *l = &out->v[out->n - 1];
                l->n = (size_t)(l->s + l->n - g[i].s);
                l->s = g[i].s;
            } else if (!tok_pieces_push(out, g[i].s, g[i].n, -1, false)) return oom();
            prev_match = m;
        }
        for (size_t i = first, j = out->n; i + 1 < j; i++, j--) { /* back to text order */
            tok_piece x = out->v[i];
            out->v[i] = out->v[j - 1];
            out->v[j - 1] = x;
        }
        break;
    }
    /* the first piece inherits "starts the text" (Metaspace prepend_scheme "first") */
    if (at_start && out->n > first && out->v[first].s == c->seg.v[0].s) out->v[first].at_start = true;
    return LB_OK;
}

// ---- the steps ----

static lb_status step_bytelevel(tok_ctx *c, const tok_pre_step *st, const tok_piece *p, tok_pieces *out)
{
    const lb_tokenizer *t = c->t;
    const char *s = p->s;
    size_t n = p->n;
    if (st->add_prefix_space && (n == 0 || s[0] != ' ')) {
        char *d = tok_arena_alloc(&c->arena, n + 1);
        if (!d) return oom();
        d[0] = ' ';
        memcpy(d + 1, s, n);
        s = d, n++;
    }
    size_t first = out->n;
    if (st->re) {
        c->seg.n = 0;
        lb_status r = regex_segments_any(c, st->re, s, n);
        if (r != LB_OK) return r;
        for (size_t i = 0; i < c->seg.n; i++)
            if (!tok_pieces_push(out, c->seg.v[i].s, c->seg.v[i].n, -1, false)) return oom();
    } else if (n > 0 && !tok_pieces_push(out, s, n, -1, p->at_start)) return oom();
    for (size_t i = first; i < out->n; i++) { /* map every byte to its stand-in character */
        tok_piece *q = &out->v[i];
        size_t m = 0;
        for (size_t k = 0; k < q->n; k++) m += t->bl_len[(unsigned char)q->s[k]];
        char *d = tok_arena_alloc(&c->arena, m);
        if (!d) return oom();
        m = 0;
        for (size_t k = 0; k < q->n; k++) {
            unsigned b = (unsigned char)q->s[k];
            memcpy(d + m, t->bl_utf8[b], t->bl_len[b]);
            m += t->bl_len[b];
        }
        q->s = d, q->n = m;
    }
    return LB_OK;
}

static lb_status step_metaspace(tok_ctx *c, const tok_pre_step *st, const tok_piece *p, tok_pieces *out)
{
    const char *rep = st->str;
    size_t rl = st->str_len, spaces = 0;
    for (size_t i = 0; i < p->n; i++) spaces += p->s[i] == ' ';
    char *d = tok_arena_alloc(&c->arena, p->n + spaces * rl + rl);
    if (!d) return oom();
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->s[i] == ' ') memcpy(d + m, rep, rl), m += rl;
        else d[m++] = p->s[i];
    }
    bool starts = m >= rl && memcmp(d, rep, rl) == 0;
    if (!starts && (st->prepend == TOK_PREPEND_ALWAYS || (st->prepend == TOK_PREPEND_FIRST && p->at_start))) {
        memmove(d + rl, d, m);
        memcpy(d, rep, rl);
        m += rl;
    }
    if (!st->split) return m && !tok_pieces_push(out, d, m, -1, p->at_start) ? oom() : LB_OK;
    c->seg.n = 0;
    lb_status r = literal_segments(c, rep, rl, d, m);
    return r != LB_OK ? r : apply_behavior(c, TOK_SPLIT_MERGED_WITH_NEXT, false, p->at_start, out);
}

static lb_status apply_step(tok_ctx *c, const tok_pre_step *st, const tok_piece *p, tok_pieces *out)
{
    lb_status r;
    switch (st->type) {
    case TOK_PRE_SPLIT_REGEX:
        c->seg.n = 0;
        if ((r = regex_segments_any(c, st->re, p->s, p->n)) != LB_OK) return r;
        return apply_behavior(c, st->behavior, st->invert, p->at_start, out);
    case TOK_PRE_SPLIT_STRING:
        c->seg.n = 0;
        if ((r = literal_segments(c, st->str, st->str_len, p->s, p->n)) != LB_OK) return r;
        return apply_behavior(c, st->behavior, st->invert, p->at_start, out);
    case TOK_PRE_BYTELEVEL:
        return step_bytelevel(c, st, p, out);
    case TOK_PRE_METASPACE:
        return step_metaspace(c, st, p, out);
    }
    return LB_OK;
}

lb_status tok_pretokenize(tok_ctx *c, const tok_piece *p)
{
    const lb_tokenizer *t = c->t;
    c->a.n = 0;
    if (p->n == 0) return LB_OK;
    if (!tok_pieces_push(&c->a, p->s, p->n, -1, p->at_start)) return oom();
    for (int k = 0; k < t->n_pre; k++) {
        c->b.n = 0;
        for (size_t i = 0; i < c->a.n; i++) {
            lb_status r = apply_step(c, &t->pre[k], &c->a.v[i], &c->b);
            if (r != LB_OK) return r;
        }
        tok_pieces x = c->a;
        c->a = c->b;
        c->b = x;
    }
    /* HF drops empty splits */
    size_t m = 0;
    for (size_t i = 0; i < c->a.n; i++)
        if (c->a.v[i].n > 0) c->a.v[m++] = c->a.v[i];
    c->a.n = m;
    return LB_OK;
}
