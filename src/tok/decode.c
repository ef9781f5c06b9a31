/* Decoding ids to text. Whole sequences follow HF tokenizers' Tokenizer::decode with
 * skip_special_tokens=False: the token strings (special tokens included, as their content) go
 * through the decoder chain (Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace) exactly as
 * tokenizers' decoders do, e.g. Llama-2's Replace("▁"," ") + ByteFallback + Fuse + Strip(" ",1,0)
 * drops the one leading space that the dummy prefix produced. llama2.c follows run.c: the BOS is
 * never printed and the piece right after it loses its leading space. Single pieces
 * (lb_tokenizer_piece) are raw bytes, possibly a partial UTF-8 sequence, for streaming output. */
#include "tok/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct str {
    const char *s;
    size_t n;
} str;

static int byte_token(const char *s, size_t n)
{
    /* "<0xNN>": what HF's ByteFallback (u8::from_str_radix, either case) and run.c accept */
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Bytes of a byte-level token: every char mapped back, or the raw text if one is not in the table. */
static size_t bytelevel_bytes(const lb_tokenizer *t, const char *s, size_t n, char *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_valid((const unsigned char *)s + i, n - i, &cp);
        if (k == 0 || cp >= 324 || t->bl_rev[cp] < 0) {
            memcpy(out, s, n);
            return n;
        }
        out[m++] = (char)t->bl_rev[cp];
        i += (size_t)k;
    }
    return m;
}

/* The string HF decodes for an id: an added token matched in normalized form decodes as that
 * form (tinystories' "<unk>" is "▁<unk>", so it decodes with a space in front). */
static str token_string(const lb_tokenizer *t, int32_t id)
{
    if (t->has_norm_added)
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].id == id && t->added[i].normalized) return (str){t->added[i].norm, t->added[i].norm_len};
    return (str){tok_piece_text(t, id), t->len[id]};
}

int64_t lb_tokenizer_piece(const lb_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab) return -1;
    str ts = token_string(t, id);
    const char *s = ts.s;
    size_t n = ts.n;
    char tmp[256];
    char *heap = NULL, *out = tmp;
    size_t m = 0;
    if (n > sizeof tmp && !(out = heap = malloc(n))) return -1;
    int b = byte_token(s, n);
    if (b >= 0 && (t->kind != TOK_KIND_BYTE_BPE || t->type[id] == TOK_BYTE)) {
        out[0] = (char)b;
        m = 1;
    } else if (t->kind == TOK_KIND_BYTE_BPE) {
        m = bytelevel_bytes(t, s, n, out);
    } else if (t->kind == TOK_KIND_SPM_BPE) {
        for (size_t i = 0; i < n;) { /* "▁" (E2 96 81) -> ' ' */
            if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) out[m++] = ' ', i += 3;
            else out[m++] = s[i++];
        }
    } else {
        memcpy(out, s, n);
        m = n;
    }
    if (buf && cap) memcpy(buf, out, m < cap ? m : cap);
    free(heap);
    return (int64_t)m;
}

// ---- decoder chain ----

typedef struct dec {
    str *v;
    size_t n, cap;
    tok_arena ar;
} dec;

static bool dpush(dec *d, const char *s, size_t n)
{
    if (d->n == d->cap) {
        size_t c = d->cap ? d->cap * 2 : 64;
        str *v = realloc(d->v, c * sizeof *v);
        if (!v) return false;
        d->v = v;
        d->cap = c;
    }
    d->v[d->n++] = (str){s, n};
    return true;
}

static char *concat(dec *d, size_t from, size_t to, size_t *len)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += d->v[i].n;
    char *o = tok_arena_alloc(&d->ar, n + 1);
    if (!o) return NULL;
    n = 0;
    for (size_t i = from; i < to; i++) memcpy(o + n, d->v[i].s, d->v[i].n), n += d->v[i].n;
    *len = n;
    return o;
}

static bool valid_utf8(const char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        int k = tok_utf8_valid((const unsigned char *)s + i, n - i, &cp);
        if (!k) return false;
        i += (size_t)k;
    }
    return true;
}

static bool step(const lb_tokenizer *t, const tok_dec_step *st, dec *d)
{
    switch (st->type) {
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < d->n; i++) {
            str *x = &d->v[i];
            size_t cnt = 0;
            for (size_t k = 0; k + st->a_len <= x->n;)
                if (memcmp(x->s + k, st->a, st->a_len) == 0) cnt++, k += st->a_len;
                else k++;
            if (!cnt) continue;
            char *o = tok_arena_alloc(&d->ar, x->n + cnt * st->b_len);
            if (!o) return false;
            size_t m = 0;
            for (size_t k = 0; k < x->n;) {
                if (k + st->a_len <= x->n && memcmp(x->s + k, st->a, st->a_len) == 0) {
                    memcpy(o + m, st->b, st->b_len);
                    m += st->b_len, k += st->a_len;
                } else o[m++] = x->s[k++];
            }
            *x = (str){o, m};
        }
        return true;
    case TOK_DEC_BYTE_FALLBACK: {
        /* runs of <0xNN>: one string if the bytes are valid UTF-8, else one U+FFFD per byte */
        str *old = d->v;
        size_t n = d->n;
        d->v = NULL, d->n = d->cap = 0;
        bool ok = true;
        for (size_t i = 0; ok && i < n;) {
            if (byte_token(old[i].s, old[i].n) < 0) {
                ok = dpush(d, old[i].s, old[i].n);
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && byte_token(old[j].s, old[j].n) >= 0) j++;
            char *o = tok_arena_alloc(&d->ar, j - i);
            if (!o) ok = false;
            for (size_t k = i; ok && k < j; k++) o[k - i] = (char)byte_token(old[k].s, old[k].n);
            if (ok && valid_utf8(o, j - i)) ok = dpush(d, o, j - i);
            else
                for (size_t k = i; ok && k < j; k++) ok = dpush(d, "\xEF\xBF\xBD", 3);
            i = j;
        }
        free(old);
        return ok;
    }
    case TOK_DEC_FUSE: {
        size_t n;
        char *o = concat(d, 0, d->n, &n);
        if (!o) return false;
        d->n = 0;
        return dpush(d, o, n);
    }
    case TOK_DEC_STRIP:
        for (size_t i = 0; i < d->n; i++) {
            str *x = &d->v[i];
            for (int k = 0; k < st->start && x->n > 0 && x->s[0] == st->content; k++) x->s++, x->n--;
            for (int k = 0; k < st->stop && x->n > 0 && x->s[x->n - 1] == st->content; k++) x->n--;
        }
        return true;
    case TOK_DEC_BYTELEVEL: {
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) n += d->v[i].n;
        char *raw = tok_arena_alloc(&d->ar, n + 1);
        if (!raw) return false;
        size_t m = 0;
        for (size_t i = 0; i < d->n; i++) m += bytelevel_bytes(t, d->v[i].s, d->v[i].n, raw + m);
        char *o = NULL;
        size_t ol = 0, oc = 0;
        if (!tok_utf8_lossy(raw, m, &o, &ol, &oc)) return false;
        char *k = tok_arena_alloc(&d->ar, ol + 1);
        if (k) memcpy(k, o ? o : "", ol);
        free(o);
        d->n = 0;
        return k && dpush(d, k, ol);
    }
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < d->n; i++) {
            str *x = &d->v[i];
            char *o = tok_arena_alloc(&d->ar, x->n + 1);
            if (!o) return false;
            size_t m = 0;
            bool drop = i == 0 && st->prepend != TOK_PREPEND_NEVER;
            for (size_t k = 0; k < x->n;) {
                if (k + st->a_len <= x->n && memcmp(x->s + k, st->a, st->a_len) == 0) {
                    if (!drop) o[m++] = ' ';
                    k += st->a_len;
                } else o[m++] = x->s[k++];
            }
            *x = (str){o, m};
        }
        return true;
    }
    return true;
}

static lb_status decode_llama2c(const lb_tokenizer *t, const int32_t *ids, int64_t n, char **out, size_t *len)
{
    size_t total = 1;
    for (int64_t i = 0; i < n; i++) total += t->len[ids[i]];
    char *o = malloc(total);
    if (!o) return lb_fail(LB_ERR_NOMEM, "out of memory decoding");
    size_t m = 0;
    int32_t prev = -1;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (i == 0 && id == t->bos) { /* run.c starts generating after the BOS; it is never printed */
            prev = id;
            continue;
        }
        const char *s = tok_piece_text(t, id);
        size_t l = t->len[id];
        if (prev == t->bos && l > 0 && s[0] == ' ') s++, l--;
        int b = byte_token(s, l);
        if (b >= 0) o[m++] = (char)b;
        else memcpy(o + m, s, l), m += l;
        prev = id;
    }
    o[m] = '\0';
    *out = o;
    *len = m;
    return LB_OK;
}

lb_status lb_tokenizer_decode(const lb_tokenizer *t, const int32_t *ids, int64_t n, char **out, size_t *len)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || n < 0 || (!ids && n > 0)) return lb_fail(LB_ERR_ARG, "lb_tokenizer_decode: bad arguments");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return lb_fail(LB_ERR_ARG, "decode: token %lld is id %d, outside the vocabulary (%d)", (long long)i, ids[i],
                           t->n_vocab);
    size_t dummy;
    if (!len) len = &dummy;
    if (t->kind == TOK_KIND_LLAMA2C) return decode_llama2c(t, ids, n, out, len);
    dec d = {0};
    bool ok = true;
    for (int64_t i = 0; ok && i < n; i++) {
        str ts = token_string(t, ids[i]);
        ok = dpush(&d, ts.s, ts.n);
    }
    for (int k = 0; ok && k < t->n_dec; k++) ok = step(t, &t->dec[k], &d);
    size_t m = 0;
    char *o = NULL;
    if (ok && !t->dec_set && d.n > 1) { /* no decoder: HF joins the tokens with spaces */
        size_t total = 0;
        for (size_t i = 0; i < d.n; i++) total += d.v[i].n + 1;
        if ((o = malloc(total + 1))) {
            for (size_t i = 0; i < d.n; i++) {
                if (i) o[m++] = ' ';
                memcpy(o + m, d.v[i].s, d.v[i].n), m += d.v[i].n;
            }
        }
    } else if (ok) {
        size_t total = 0;
        for (size_t i = 0; i < d.n; i++) total += d.v[i].n;
        if ((o = malloc(total + 1)))
            for (size_t i = 0; i < d.n; i++) memcpy(o + m, d.v[i].s, d.v[i].n), m += d.v[i].n;
    }
    free(d.v);
    tok_arena_free(&d.ar);
    if (!o) return lb_fail(LB_ERR_NOMEM, "out of memory decoding");
    o[m] = '\0';
    *out = o;
    *len = m;
    return LB_OK;
}
