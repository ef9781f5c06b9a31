/* Encoding driver: added/special tokens first, then normalizer, pre-tokenizer and model.
 * The order is HF tokenizers' AddedVocabulary::extract_and_normalize + Tokenizer::encode:
 *   1. split the raw text on added tokens with normalized=false (leftmost-longest match, honoring
 *      lstrip/rstrip/single_word);
 *   2. normalize each remaining span, then split it on added tokens with normalized=true, whose
 *      patterns are their contents normalized the same way (so tinystories' "<|start_story|>"
 *      matches as "▁<|start_story|>");
 *   3. pre-tokenize the spans into words and run the model on each word.
 * SentencePiece models (tokenizer.model, GGUF "llama") match their control/user-defined pieces on
 * the raw text and normalize each span separately, so every span gets its own dummy prefix
 * (Meta's Llama-2 tokenizer.json "legacy" behaviour, and llama.cpp's). */
#include "tok/tok_internal.h"

#include <stdlib.h>

// ---- added-token index ----

/* Order within a group: by first byte, then longest first, then id. */
static bool added_before(const tok_added *v, int a, int b)
{
    const tok_added *x = &v[a], *y = &v[b];
    bool norm = x->normalized; /* both in the same group */
    const unsigned char *xs = (const unsigned char *)(norm ? x->norm : x->text);
    const unsigned char *ys = (const unsigned char *)(norm ? y->norm : y->text);
    uint32_t xl = norm ? x->norm_len : x->len, yl = norm ? y->norm_len : y->len;
    if (xs[0] != ys[0]) return xs[0] < ys[0];
    if (xl != yl) return xl > yl;
    return a < b;
}

/* split_ws: no piece has "▁" after another character; split_nl: no multi-character piece holds
 * '\n'. Then no symbol can ever span such a boundary, and cutting there changes nothing. Rank BPE
 * additionally needs merges free of byte/unk tokens (their text is not the text they cover) and
 * the boundary character in the vocabulary (else <unk> fusing could cross); SentencePiece needs
 * byte fallback for the same reason. Byte-level BPE words are short already. */
static void find_boundaries(lb_tokenizer *t)
{
    t->split_ws = t->split_nl = false;
    bool l2c = t->model == TOK_MODEL_LLAMA2C;
    t->ws_sym = l2c ? " " : "\xE2\x96\x81";
    t->ws_len = l2c ? 1 : 3;
    if (t->kind == TOK_KIND_BYTE_BPE) return;
    bool ws = true, nl = true;
    const char *w = t->ws_sym;
    size_t wl = t->ws_len;
    for (int32_t i = l2c ? 3 : 0; i < t->n_vocab && (ws || nl); i++) {
        const char *s = tok_piece_text(t, i);
        uint32_t n = t->len[i];
        if (memchr(s, '\n', n) && n > 1) nl = false;
        for (uint32_t k = 1; k + wl <= n; k++)
            if (memcmp(s + k, w, wl) == 0 && !(k >= wl && memcmp(s + k - wl, w, wl) == 0)) ws = false;
        /* llama2.c: byte pieces ("<0x0A>" for '\n') must never merge into anything */
        for (uint32_t k = 0; l2c && t->type[i] != TOK_BYTE && k + 3 <= n; k++)
            if (memcmp(s + k, "<0x", 3) == 0) nl = false;
    }
    if (t->model == TOK_MODEL_BPE_RANK) {
        for (int64_t i = 0; i < t->n_merges; i++)
            for (int k = 0; k < 2; k++) {
                int32_t id = t->merge_list[i][k];
                if (t->type[id] == TOK_BYTE || id == t->unk_id) ws = nl = false;
            }
        if (tok_strmap_get(&t->vocab, "\xE2\x96\x81", 3) < 0) ws = false;
        if (tok_strmap_get(&t->vocab, "\n", 1) < 0) nl = false;
    } else if (t->model == TOK_MODEL_BPE_SCORE && !t->byte_fallback) ws = nl = false;
    t->split_ws = ws;
    t->split_nl = nl;
}

lb_status tok_finalize(lb_tokenizer *t)
{
    for (int i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        a->norm = a->text;
        a->norm_len = a->len;
        if (a->normalized && t->source == TOK_SRC_HF_JSON && t->n_norm > 0) {
            const char *s;
            size_t n;
            lb_status st = tok_hf_normalize(t, &t->arena, a->text, a->len, &s, &n);
            if (st != LB_OK) return st;
            a->norm = s;
            a->norm_len = (uint32_t)n;
        }
    }
    for (int g = 0; g < 2; g++) {
        int n = 0;
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].normalized == (g == 1) && (g ? t->added[i].norm_len : t->added[i].len) > 0) n++;
        t->grp_idx[g] = lb_malloc((size_t)(n + 1) * sizeof(int), "added token index");
        if (!t->grp_idx[g]) return LB_ERR_NOMEM;
        n = 0;
        for (int i = 0; i < t->n_added; i++)
            if (t->added[i].normalized == (g == 1) && (g ? t->added[i].norm_len : t->added[i].len) > 0)
                t->grp_idx[g][n++] = i;
        for (int i = 1; i < n; i++) { /* insertion sort: a few hundred tokens at most */
            int v = t->grp_idx[g][i], j = i;
            while (j > 0 && added_before(t->added, v, t->grp_idx[g][j - 1])) {
                t->grp_idx[g][j] = t->grp_idx[g][j - 1];
                j--;
            }
            t->grp_idx[g][j] = v;
        }
        int k = 0;
        for (int b = 0; b < 256; b++) {
            t->grp_start[g][b] = k;
            while (k < n) {
                const tok_added *a = &t->added[t->grp_idx[g][k]];
                if ((unsigned char)(g ? a->norm : a->text)[0] != b) break;
                k++;
            }
        }
        t->grp_start[g][256] = n;
    }
    find_boundaries(t);
    for (int i = 0; i < t->n_added; i++) t->has_norm_added |= t->added[i].normalized && t->added[i].norm != t->added[i].text;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = tok_byte_to_cp((uint8_t)b);
        t->bl_len[b] = (uint8_t)tok_utf8_encode(cp, t->bl_utf8[b]);
    }
    for (int i = 0; i < 324; i++) t->bl_rev[i] = (int16_t)tok_cp_to_byte((uint32_t)i);
    return LB_OK;
}

// ---- splitting on added tokens ----

static uint32_t cp_before(const char *s, size_t i)
{
    size_t j = i;
    while (j > 0 && ((unsigned char)s[j - 1] & 0xC0) == 0x80 && i - j < 3) j--;
    if (j > 0) j--;
    uint32_t cp = 0;
    if (tok_utf8_valid((const unsigned char *)s + j, i - j, &cp) != (int)(i - j)) return 0xFFFD;
    return cp;
}

static bool is_word_char(uint32_t cp)
{
    /* Rust char::is_alphanumeric || '_' ; beyond ASCII we count every non-space, non-punctuation
     * code point as a word character (an approximation that only matters for single_word tokens). */
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return !tok_is_unicode_space(cp);
}

/* Splits s[0..n) on the added tokens of group g into out (text spans get id -1). */
static lb_status split_added(const lb_tokenizer *t, const char *s, size_t n, bool at_start, int g,
                             bool parse_special, tok_pieces *out)
{
    const int *idx = t->grp_idx[g];
    size_t last = 0; /* end of the previous emitted token */
    size_t i = 0;
    while (i < n) {
        unsigned b = (unsigned char)s[i];
        int found = -1;
        uint32_t flen = 0;
        for (int k = t->grp_start[g][b]; k < t->grp_start[g][b + 1]; k++) {
            const tok_added *a = &t->added[idx[k]];
            if (a->special && !parse_special) continue;
            const char *p = g ? a->norm : a->text;
            uint32_t l = g ? a->norm_len : a->len;
            if (l <= n - i && memcmp(s + i, p, l) == 0) {
                found = idx[k];
                flen = l;
                break;
            }
        }
        if (found < 0) {
            i++;
            continue;
        }
        const tok_added *a = &t->added[found];
        size_t start = i, stop = i + flen;
        if (a->single_word) {
            bool ok_l = start == 0 || !is_word_char(cp_before(s, start));
            uint32_t cp = 0;
            bool ok_r = stop == n || tok_utf8_valid((const unsigned char *)s + stop, n - stop, &cp) == 0 ||
                        !is_word_char(cp);
            if (!ok_l || !ok_r) { /* HF drops the match; its text stays plain */
                i = stop;
                continue;
            }
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > last) {
                uint32_t cp = cp_before(s, ns);
                if (!tok_is_unicode_space(cp)) break;
                ns -= tok_utf8_encode(cp, (char[4]){0});
            }
            start = ns;
        }
        if (a->rstrip) {
            uint32_t cp;
            int k;
            while (stop < n && (k = tok_utf8_valid((const unsigned char *)s + stop, n - stop, &cp)) > 0 &&
                   tok_is_unicode_space(cp))
                stop += (size_t)k;
        }
        if (start > last && !tok_pieces_push(out, s + last, start - last, -1, at_start && last == 0))
            return lb_fail(LB_ERR_NOMEM, "out of memory tokenizing");
        if (!tok_pieces_push(out, s + start, stop - start, a->id, false))
            return lb_fail(LB_ERR_NOMEM, "out of memory tokenizing");
        last = i = stop;
    }
    if (n > last && !tok_pieces_push(out, s + last, n - last, -1, at_start && last == 0))
        return lb_fail(LB_ERR_NOMEM, "out of memory tokenizing");
    return LB_OK;
}

// ---- normalizers ----

lb_status tok_hf_normalize(const lb_tokenizer *t, tok_arena *ar, const char *s, size_t n, const char **out,
                           size_t *out_n)
{
    for (int k = 0; k < t->n_norm; k++) {
        const tok_norm_step *st = &t->norm[k];
        char *d;
        size_t m = 0;
        switch (st->type) {
        case TOK_NORM_PREPEND:
            if (n == 0) break;
            d = tok_arena_alloc(ar, n + st->a_len);
            if (!d) return lb_fail(LB_ERR_NOMEM, "out of memory normalizing");
            memcpy(d, st->a, st->a_len);
            memcpy(d + st->a_len, s, n);
            s = d, n += st->a_len;
            break;
        case TOK_NORM_REPLACE: {
            size_t cnt = 0;
            for (size_t i = 0; i + st->a_len <= n;) {
                if (memcmp(s + i, st->a, st->a_len) == 0) cnt++, i += st->a_len;
                else i++;
            }
            if (cnt == 0) break;
            d = tok_arena_alloc(ar, n + cnt * st->b_len);
            if (!d) return lb_fail(LB_ERR_NOMEM, "out of memory normalizing");
            for (size_t i = 0; i < n;) {
                if (i + st->a_len <= n && memcmp(s + i, st->a, st->a_len) == 0) {
                    memcpy(d + m, st->b, st->b_len);
                    m += st->b_len, i += st->a_len;
                } else d[m++] = s[i++];
            }
            s = d, n = m;
            break;
        }
        case TOK_NORM_STRIP: {
            uint32_t cp;
            int k2;
            while (st->left && n > 0 && (k2 = tok_utf8_valid((const unsigned char *)s, n, &cp)) > 0 &&
                   tok_is_unicode_space(cp))
                s += k2, n -= (size_t)k2;
            while (st->right && n > 0) {
                uint32_t c2 = cp_before(s, n);
                if (!tok_is_unicode_space(c2)) break;
                n -= tok_utf8_encode(c2, (char[4]){0});
            }
            break;
        }
        }
    }
    *out = s;
    *out_n = n;
    return LB_OK;
}

/* SentencePiece Normalizer::Normalize with an identity character map: invalid UTF-8 bytes become
 * U+FFFD, optional whitespace cleanup, dummy "▁" prefix (or suffix), ' ' -> "▁". */
static lb_status spm_normalize(const lb_tokenizer *t, tok_arena *ar, const char *s, size_t n, const char **out,
                               size_t *out_n)
{
    static const char ws[] = "\xE2\x96\x81";
    *out_n = 0;
    *out = s;
    if (t->spm_remove_extra_ws)
        while (n > 0 && s[0] == ' ') s++, n--;
    if (n == 0) return LB_OK;
    char *d = tok_arena_alloc(ar, n * 3 + 6);
    if (!d) return lb_fail(LB_ERR_NOMEM, "out of memory normalizing");
    size_t m = 0;
    if (t->spm_dummy_prefix && !t->spm_ws_suffix) memcpy(d, ws, 3), m = 3;
    bool prev_space = t->spm_remove_extra_ws;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_valid((const unsigned char *)s + i, n - i, &cp);
        if (k == 0) {
            memcpy(d + m, "\xEF\xBF\xBD", 3);
            m += 3, i += 1;
            prev_space = false;
            continue;
        }
        if (s[i] == ' ') {
            if (!(t->spm_remove_extra_ws && prev_space)) {
                if (t->spm_escape_ws) memcpy(d + m, ws, 3), m += 3;
                else d[m++] = ' ';
            }
            prev_space = true;
        } else {
            memcpy(d + m, s + i, (size_t)k);
            m += (size_t)k;
            prev_space = false;
        }
        i += (size_t)k;
    }
    if (t->spm_remove_extra_ws) {
        const char *sp = t->spm_escape_ws ? ws : " ";
        size_t sl = t->spm_escape_ws ? 3 : 1;
        while (m >= sl && memcmp(d + m - sl, sp, sl) == 0) m -= sl;
    }
    if (t->spm_dummy_prefix && t->spm_ws_suffix) memcpy(d + m, ws, 3), m += 3;
    *out = d;
    *out_n = m;
    return LB_OK;
}

// ---- encode ----

static lb_status push_id(tok_ctx *c, int32_t id)
{
    return tok_ids_push(c->out, id) ? LB_OK : lb_fail(LB_ERR_NOMEM, "out of memory tokenizing");
}

/* A normalized span with no added tokens left in it: pre-tokenize, then the model. */
static lb_status encode_span(tok_ctx *c, const tok_piece *p)
{
    const lb_tokenizer *t = c->t;
    if (t->model == TOK_MODEL_BPE_SCORE) return tok_bpe_score(c, p->s, p->n);
    lb_status st = tok_pretokenize(c, p);
    if (st != LB_OK) return st;
    /* c->a is reused by nested calls only after we are done with it: copy the bounds */
    for (size_t i = 0; i < c->a.n; i++) {
        st = tok_bpe_rank_word(c, c->a.v[i].s, c->a.v[i].n);
        if (st != LB_OK) return st;
    }
    return LB_OK;
}

static lb_status encode_text(tok_ctx *c, const tok_piece *p, bool parse_special)
{
    const lb_tokenizer *t = c->t;
    const char *s;
    size_t n;
    lb_status st;
    if (t->source == TOK_SRC_HF_JSON) {
        st = tok_hf_normalize(t, &c->arena, p->s, p->n, &s, &n);
        if (st != LB_OK) return st;
        if (t->grp_start[1][256] == 0) {
            tok_piece q = {.s = s, .n = n, .id = -1, .at_start = p->at_start};
            return encode_span(c, &q);
        }
        tok_pieces sub = {0};
        st = split_added(t, s, n, p->at_start, 1, parse_special, &sub);
        for (size_t i = 0; st == LB_OK && i < sub.n; i++)
            st = sub.v[i].id >= 0 ? push_id(c, sub.v[i].id) : encode_span(c, &sub.v[i]);
        free(sub.v);
        return st;
    }
    if (t->model == TOK_MODEL_BPE_SCORE) {
        st = spm_normalize(t, &c->arena, p->s, p->n, &s, &n);
        if (st != LB_OK) return st;
        return n ? tok_bpe_score(c, s, n) : LB_OK;
    }
    return encode_span(c, p); /* GGUF byte-level: no normalizer */
}

void tok_ctx_free(tok_ctx *c)
{
    tok_arena_free(&c->arena);
    free(c->a.v);
    free(c->b.v);
    free(c->seg.v);
    tok_strmap_free(&c->cache);
    free(c->cache_ids.v);
    free(c->cache_off);
    free(c->sym);
    free(c->heap);
    free(c->buf);
    tok_strmap_free(&c->rev_merge);
    if (c->match_data) tok_regex_free_match_data(c->match_data);
}

lb_status lb_tokenizer_encode(const lb_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                              int32_t **out, int64_t *n_out)
{
    if (out) *out = NULL;
    if (n_out) *n_out = 0;
    if (!t || !out || !n_out || (!text && len > 0)) return lb_fail(LB_ERR_ARG, "lb_tokenizer_encode: bad arguments");
    if (!text) text = "";
    tok_ids ids = {0};
    tok_ctx c = {.t = t, .out = &ids};
    lb_status st = LB_OK;
    if (!tok_ids_push(&ids, 0)) return lb_fail(LB_ERR_NOMEM, "out of memory tokenizing"); /* never empty */
    ids.n = 0;
    if (t->model == TOK_MODEL_LLAMA2C) {
        st = tok_llama2c_encode(&c, text, len, add_bos);
    } else {
        for (int i = 0; add_bos && i < t->n_prefix && st == LB_OK; i++) st = push_id(&c, t->prefix[i]);
        tok_pieces raw = {0};
        if (st == LB_OK) {
            if (t->grp_start[0][256] > 0) st = split_added(t, text, len, true, 0, parse_special, &raw);
            else if (len > 0 && !tok_pieces_push(&raw, text, len, -1, true))
                st = lb_fail(LB_ERR_NOMEM, "out of memory tokenizing");
        }
        for (size_t i = 0; st == LB_OK && i < raw.n; i++)
            st = raw.v[i].id >= 0 ? push_id(&c, raw.v[i].id) : encode_text(&c, &raw.v[i], parse_special);
        free(raw.v);
        for (int i = 0; add_bos && i < t->n_suffix && st == LB_OK; i++) st = push_id(&c, t->suffix[i]);
    }
    tok_ctx_free(&c);
    if (st != LB_OK) {
        free(ids.v);
        return st;
    }
    *out = ids.v;
    *n_out = ids.n;
    return LB_OK;
}
