/* SentencePiece BPE encoding (sentencepiece bpe_model.cc Model::SampleEncode without sampling):
 * the normalized text is split into characters, every adjacent pair whose concatenation is a
 * NORMAL / USER_DEFINED / UNUSED piece is a candidate scored by that piece's score, and the best
 * candidate (highest score, then leftmost) is merged until none is left. Merged symbols are
 * substrings of the text, so candidates are looked up without copying. UNUSED pieces are split
 * back the way they were formed (rev_merge), and characters that are no piece become their
 * UTF-8 bytes as <0xNN> pieces (byte_fallback) or <unk> (consecutive ones fused). Used for
 * tokenizer.model and GGUF "llama" vocabularies; O(n log n) with a binary heap. */
#include "tok/tok_internal.h"

typedef struct sym {
    uint32_t start, len; /* bytes of the text; len 0 once merged into the left neighbour */
    int32_t prev, next;
} sym;

static lb_status oom(void) { return lb_fail(LB_ERR_NOMEM, "out of memory in SentencePiece BPE"); }

static inline bool mergeable(const lb_tokenizer *t, int32_t id)
{
    int ty = t->type[id];
    return ty == TOK_NORMAL || ty == TOK_USER_DEFINED || ty == TOK_UNUSED;
}

static bool try_pair(tok_ctx *c, const char *text, sym *s, tok_cand *h, size_t *hn, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return true;
    const lb_tokenizer *t = c->t;
    uint32_t len = s[l].len + s[r].len;
    int32_t id = tok_strmap_get(&t->vocab, text + s[l].start, len);
    if (id < 0 || !mergeable(t, id)) return true;
    tok_heap_push(h, hn, (tok_cand){.key = t->score[id], .left = l, .right = r, .len = len});
    /* remember how an UNUSED piece was formed; like sentencepiece's rev_merge the latest wins */
    if (t->has_unused && t->type[id] == TOK_UNUSED)
        return tok_strmap_set(&c->rev_merge, text + s[l].start, len, (int32_t)s[l].len) >= 0;
    return true;
}

static lb_status emit_unknown(tok_ctx *c, tok_ids *out, const char *p, size_t n, bool *prev_unk)
{
    const lb_tokenizer *t = c->t;
    if (t->byte_fallback) {
        for (size_t i = 0; i < n; i++) {
            int32_t b = t->byte_id[(unsigned char)p[i]];
            if (!tok_ids_push(out, b >= 0 ? b : t->unk_id)) return oom();
        }
        *prev_unk = false;
        return LB_OK;
    }
    if (t->unk_id < 0) return lb_fail(LB_ERR_UNSUPPORTED, "%s: text has a character outside the vocabulary and the "
                                                         "model has no <unk> or byte pieces", t->path);
    if (!*prev_unk && !tok_ids_push(out, t->unk_id)) return oom();
    *prev_unk = true;
    return LB_OK;
}

/* Emits the ids of piece text[0..n), splitting UNUSED pieces along rev_merge. */
static lb_status resegment(tok_ctx *c, tok_ids *out, const char *p, size_t n, bool *prev_unk, int depth)
{
    const lb_tokenizer *t = c->t;
    int32_t id = tok_strmap_get(&t->vocab, p, n);
    if (id < 0) return emit_unknown(c, out, p, n, prev_unk);
    if (t->type[id] == TOK_UNUSED && depth < 64) {
        int32_t l = tok_strmap_get(&c->rev_merge, p, n);
        if (l > 0 && (size_t)l < n) {
            lb_status st = resegment(c, out, p, (size_t)l, prev_unk, depth + 1);
            return st != LB_OK ? st : resegment(c, out, p + l, n - (size_t)l, prev_unk, depth + 1);
        }
    }
    *prev_unk = false;
    return tok_ids_push(out, id) ? LB_OK : oom();
}

static lb_status bpe_score(tok_ctx *c, const char *text, size_t n, tok_ids *out)
{
    const lb_tokenizer *t = c->t;
    if (n == 0) return LB_OK;
    if (n > UINT32_MAX / 2) return lb_fail(LB_ERR_ARG, "text too long to tokenize in one call (%zu bytes)", n);
    if (!tok_reserve(&c->sym, &c->sym_cap, n, sizeof(sym))) return oom();
    sym *s = c->sym;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_step(text + i, n - i);
        s[k] = (sym){.start = (uint32_t)i, .len = (uint32_t)cl, .prev = (int32_t)k - 1, .next = (int32_t)k + 1};
        k++;
        i += cl;
    }
    s[k - 1].next = -1;
    if (!tok_reserve(&c->heap, &c->heap_cap, 3 * k + 1, sizeof(tok_cand))) return oom();
    tok_cand *h = c->heap;
    size_t hn = 0;
    if (t->has_unused && !c->rev_merge.slots && tok_strmap_init(&c->rev_merge, 64) != LB_OK) return LB_ERR_NOMEM;
    for (size_t i = 0; i + 1 < k; i++)
        if (!try_pair(c, text, s, h, &hn, (int32_t)i, (int32_t)i + 1)) return oom();
    while (hn > 0) {
        tok_cand top = tok_heap_pop(h, &hn);
        sym *l = &s[top.left], *r = &s[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.len) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = top.left;
        if (!try_pair(c, text, s, h, &hn, l->prev, top.left) || !try_pair(c, text, s, h, &hn, top.left, l->next))
            return oom();
    }
    bool prev_unk = false;
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        lb_status st = resegment(c, out, text + s[i].start, s[i].len, &prev_unk, 0);
        if (st != LB_OK) return st;
    }
    return LB_OK;
}

lb_status tok_bpe_score(tok_ctx *c, const char *text, size_t n)
{
    const lb_tokenizer *t = c->t;
    /* UNUSED pieces resegment along splits remembered over the whole text: no cutting, no cache */
    if (t->has_unused || (!t->split_ws && !t->split_nl)) return bpe_score(c, text, n, c->out);
    return tok_cached_chunks(c, text, n, bpe_score);
}
