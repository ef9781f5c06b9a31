/* llama2.c tokenizer.bin (karpathy/llama2.c tokenizer.py export): int32 max_token_length, then
 * per token a float32 score, an int32 byte length and the bytes, until the end of the file (the
 * count is not stored; run.c takes it from the checkpoint header). Ids 0/1/2 are <unk>, BOS
 * ("\n<s>\n"), EOS ("\n</s>\n"); 3..258 are "<0xNN>" byte pieces; spaces are plain 0x20.
 *
 * Encoding is run.c encode(): optional BOS, a dummy " " token when the text is non-empty, each
 * UTF-8 code point looked up as a token (else its bytes as id byte+3), then repeatedly merge the
 * adjacent pair whose concatenation is a token with the highest score (ties: leftmost; score must
 * exceed -1e10). run.c rescans the whole list per merge (O(n^2)); a heap over candidates with
 * exact staleness checks picks the same pair every step in O(n log n). Unlike run.c the text may
 * contain NUL bytes (they are encoded like any byte). */
#include "tok/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>

// ---- loading ----

static lb_status parse(const char *path, const uint8_t *d, size_t n, lb_tokenizer *t, int64_t *count)
{
    if (n < 4) return lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer is %zu bytes, too short for its header", path, n);
    int32_t max_len;
    memcpy(&max_len, d, 4);
    if (max_len <= 0)
        return lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer: max_token_length %d at offset 0 is not positive", path,
                       max_len);
    size_t off = 4, total = 0;
    int64_t k = 0;
    while (off < n) {
        if (n - off < 8)
            return lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer: token %lld at offset %zu: truncated header", path,
                           (long long)k, off);
        float score;
        int32_t len;
        memcpy(&score, d + off, 4);
        memcpy(&len, d + off + 4, 4);
        if (len < 0 || (size_t)len > n - off - 8)
            return lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer: token %lld at offset %zu: length %d runs past the "
                           "end of the file (%zu bytes)", path, (long long)k, off + 4, len, n);
        if (t && k < t->n_vocab) {
            lb_status st = tok_vocab_set(t, (int32_t)k, (const char *)d + off + 8, (size_t)len, &total);
            if (st != LB_OK) return st;
            t->score[k] = score;
        }
        off += 8 + (size_t)len;
        k++;
        if (k > INT32_MAX) return lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer: too many tokens", path);
    }
    *count = k;
    return LB_OK;
}

int64_t tok_llama2c_count(const char *path)
{
    char *d;
    size_t n;
    if (lb_read_file(path, &d, &n) != LB_OK) return -1;
    int64_t k = -1;
    if (parse(path, (const uint8_t *)d, n, NULL, &k) != LB_OK) k = -1;
    free(d);
    lb_clear_error();
    return k;
}

lb_status tok_load_llama2c(lb_tokenizer *t, const char *path, int64_t n_vocab_expected)
{
    char *d;
    size_t n;
    lb_status st = lb_read_file(path, &d, &n);
    if (st != LB_OK) return st;
    int64_t k;
    st = parse(path, (const uint8_t *)d, n, NULL, &k);
    if (st == LB_OK && n_vocab_expected > 0 && k < n_vocab_expected)
        st = lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer holds %lld tokens, the checkpoint needs %lld", path,
                     (long long)k, (long long)n_vocab_expected);
    if (st == LB_OK && k < 3)
        st = lb_fail(LB_ERR_FORMAT, "%s: llama2.c tokenizer holds %lld tokens; <unk>, BOS and EOS are required", path,
                     (long long)k);
    if (st == LB_OK) {
        if (n_vocab_expected > 0) k = n_vocab_expected; /* run.c reads exactly vocab_size tokens */
        st = tok_vocab_alloc(t, (int32_t)k, n, true);
    }
    if (st == LB_OK) st = parse(path, (const uint8_t *)d, n, t, &k);
    free(d);
    if (st != LB_OK) return st;
    t->kind = TOK_KIND_LLAMA2C;
    t->source = TOK_SRC_LLAMA2C;
    t->model = TOK_MODEL_LLAMA2C;
    t->type[0] = TOK_UNKNOWN;
    t->type[1] = t->type[2] = TOK_CONTROL;
    for (int32_t i = 3; i < t->n_vocab && i < 259; i++) {
        unsigned b;
        char tail;
        char tmp[16] = {0};
        if (t->len[i] == 6) memcpy(tmp, tok_piece_text(t, i), 6);
        if (sscanf(tmp, "<0x%2X%c", &b, &tail) == 2 && tail == '>') t->type[i] = TOK_BYTE;
    }
    t->unk_id = 0;
    t->bos = 1;
    t->eos = 2;
    int32_t bos = 1;
    st = tok_set_template(t, &bos, 1, NULL, 0);
    if (st != LB_OK) return st;
    return tok_vocab_index(t, false);
}

// ---- encoding ----

typedef struct sym {
    int32_t id, prev, next;
    bool alive;
} sym;

static lb_status oom(void) { return lb_fail(LB_ERR_NOMEM, "out of memory in llama2.c encode"); }

static void try_pair(const lb_tokenizer *t, char *buf, const sym *s, tok_cand *h, size_t *hn, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return;
    int32_t a = s[l].id, b = s[r].id;
    memcpy(buf, tok_piece_text(t, a), t->len[a]);
    memcpy(buf + t->len[a], tok_piece_text(t, b), t->len[b]);
    int32_t id = tok_strmap_get(&t->vocab, buf, t->len[a] + t->len[b]);
    if (id < 0 || !(t->score[id] > -1e10f)) return;
    tok_heap_push(h, hn, (tok_cand){.key = t->score[id], .left = l, .right = r, .id = id, .a = a, .b = b});
}

/* encode() of one chunk: BOS and the dummy " " only in the first one. */
static lb_status encode_chunk(tok_ctx *c, const char *text, size_t len, bool add_bos, bool dummy, tok_ids *out)
{
    const lb_tokenizer *t = c->t;
    size_t cap = len + 2;
    if (!tok_reserve(&c->sym, &c->sym_cap, cap, sizeof(sym)) ||
        !tok_reserve(&c->heap, &c->heap_cap, 3 * cap + 1, sizeof(tok_cand)) ||
        !tok_reserve(&c->buf, &c->buf_cap, 2 * (size_t)t->max_len + 1, 1))
        return oom();
    sym *s = c->sym;
    tok_cand *h = c->heap;
    char *buf = c->buf;
    size_t k = 0;
    if (add_bos) s[k++] = (sym){.id = t->bos};
    if (dummy && len > 0) {
        int32_t sp = tok_strmap_get(&t->vocab, " ", 1);
        if (sp >= 0) s[k++] = (sym){.id = sp};
    }
    /* code points exactly as run.c reads them: a lead byte (or stray continuation byte) starts a
     * buffer, up to 3 following continuation bytes join it */
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (j < len && ((unsigned char)text[j] & 0xC0) == 0x80 && j - i < 4) j++;
        int32_t id = tok_strmap_get(&t->vocab, text + i, j - i);
        if (id >= 0) {
            s[k++] = (sym){.id = id};
        } else {
            for (size_t b = i; b < j; b++) {
                int32_t bid = (int32_t)(unsigned char)text[b] + 3;
                if (bid >= t->n_vocab)
                    return lb_fail(LB_ERR_UNSUPPORTED, "%s: byte fallback needs id %d but the vocabulary has %d tokens",
                                   t->path, bid, t->n_vocab);
                s[k++] = (sym){.id = bid};
            }
        }
        i = j;
    }
    for (size_t i = 0; i < k; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < k ? (int32_t)i + 1 : -1;
        s[i].alive = true;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < k; i++) try_pair(t, buf, s, h, &hn, (int32_t)i, (int32_t)i + 1);
    while (hn > 0) {
        tok_cand top = tok_heap_pop(h, &hn);
        sym *l = &s[top.left], *r = &s[top.right];
        if (!l->alive || !r->alive || l->next != top.right || l->id != top.a || r->id != top.b) continue;
        l->id = top.id;
        r->alive = false;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = top.left;
        try_pair(t, buf, s, h, &hn, l->prev, top.left);
        try_pair(t, buf, s, h, &hn, top.left, l->next);
    }
    for (int32_t i = k ? 0 : -1; i >= 0; i = s[i].next)
        if (!tok_ids_push(out, s[i].id)) return oom();
    return LB_OK;
}

static lb_status encode_word(tok_ctx *c, const char *w, size_t n, tok_ids *out)
{
    return encode_chunk(c, w, n, false, false, out);
}

lb_status tok_llama2c_encode(tok_ctx *c, const char *text, size_t len, bool add_bos)
{
    const lb_tokenizer *t = c->t;
    if (!t->split_ws && !t->split_nl) return encode_chunk(c, text, len, add_bos, true, c->out);
    /* no merge crosses these boundaries (tok_finalize checked the vocabulary): encode the chunks
     * separately, repeated ones from the cache; they start at ' ' or '\n', never inside a code point */
    size_t e = tok_chunk_end(t, text, len, 0);
    lb_status st = encode_chunk(c, text, e, add_bos, true, c->out);
    for (size_t i = e; st == LB_OK && i < len; i = e) {
        e = tok_chunk_end(t, text, len, i);
        st = tok_cached_word(c, text + i, e - i, encode_word);
    }
    return st;
}
