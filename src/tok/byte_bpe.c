/* Rank-ordered BPE, exactly as HF tokenizers' models/bpe (BPE::merge_word + Word::merge_all):
 * a word is split into characters (vocabulary lookup; unknown characters go to <0xNN> byte
 * tokens when byte_fallback is on and all exist, else to unk, consecutive unks fused when
 * fuse_unk), then the adjacent pair with the lowest merge rank is merged, ties to the leftmost,
 * using a binary heap over (rank, position) and a doubly linked symbol list, so a word of n
 * characters costs O(n log n). Stale heap entries are recognized the way HF does: the pair now at
 * that position must still merge into the same token. Used for byte-level BPE (GPT-2, Llama 3,
 * Qwen2, SmolLM: words are already mapped to the byte alphabet by the pre-tokenizer) and for
 * tokenizer.json SentencePiece-style BPE (tinystories, Llama 2 HF). Results of short words are
 * cached for the duration of one encode call. */
#include "tok/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct sym {
    int32_t id, prev, next;
    uint32_t len; /* bytes of the word it covers; 0 once merged into its left neighbour */
} sym;

static lb_status oom(void) { return lb_fail(LB_ERR_NOMEM, "out of memory in BPE"); }

/* Symbols of one word, before any merge (BPE::merge_word). Returns the count. */
static size_t split_chars(const lb_tokenizer *t, const char *w, size_t n, sym *s)
{
    size_t k = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_step(w + i, n - i);
        int32_t id = tok_strmap_get(&t->vocab, w + i, cl);
        if (id >= 0) {
            if (unk >= 0) s[k++] = (sym){.id = unk, .len = unk_len}, unk = -1;
            s[k++] = (sym){.id = id, .len = (uint32_t)cl};
        } else {
            bool bytes = t->byte_fallback;
            for (size_t j = 0; bytes && j < cl; j++) bytes = t->byte_id[(unsigned char)w[i + j]] >= 0;
            if (bytes) { /* HF leaves a pending unk pending here */
                for (size_t j = 0; j < cl; j++) s[k++] = (sym){.id = t->byte_id[(unsigned char)w[i + j]], .len = 1};
            } else if (t->unk_id >= 0) {
                if (unk >= 0 && t->fuse_unk) unk_len += (uint32_t)cl;
                else {
                    if (unk >= 0) s[k++] = (sym){.id = unk, .len = unk_len};
                    unk = t->unk_id, unk_len = (uint32_t)cl;
                }
            } /* no unk token: HF drops the character */
        }
        i += cl;
    }
    if (unk >= 0) s[k++] = (sym){.id = unk, .len = unk_len};
    for (size_t i = 0; i < k; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < k ? (int32_t)i + 1 : -1;
    }
    return k;
}

/* ---- rank-bucket queue for very long words ----
 * A whole text without pre-tokenizer (tinystories: 1.3 MB, one word) puts millions of entries in
 * the heap, and every pop misses the cache. Trained merge lists only ever create pairs of a later
 * rank than the merge that made them, so instead: one list of positions per rank, walked in rank
 * order, each sorted by position when its turn comes. A pair of the current or an earlier rank
 * (possible with a hand-made merge list) goes to a small heap that is consulted first, so the
 * order is still exactly the heap's (rank, position) order. */

typedef struct bentry {
    int32_t pos, id;
} bentry;

typedef struct bucket {
    bentry *v;
    uint32_t n, cap;
    bool unsorted;
} bucket;

static int cmp_pos(const void *a, const void *b)
{
    int32_t x = ((const bentry *)a)->pos, y = ((const bentry *)b)->pos;
    return (x > y) - (x < y);
}

static bool bucket_push(bucket *b, int32_t pos, int32_t id)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 16;
        bentry *v = realloc(b->v, cap * sizeof *v);
        if (!v) return false;
        b->v = v;
        b->cap = cap;
    }
    if (b->n && pos < b->v[b->n - 1].pos) b->unsorted = true;
    b->v[b->n++] = (bentry){pos, id};
    return true;
}

/* Where new pairs go: the heap, or, while the buckets are walked, the bucket of a later rank. */
typedef struct queue {
    tok_cand *h;
    size_t hn;
    bucket *bk;  /* NULL: everything goes to the heap */
    int32_t cur; /* with bk: the rank being walked */
} queue;

/* Heap order (lowest rank first, then leftmost) as a tok_cand key. */
static inline tok_cand rank_cand(int32_t rank, int32_t pos, int32_t id)
{
    return (tok_cand){.key = -(double)rank, .left = pos, .id = id};
}

static inline bool queue_push(queue *q, int32_t rank, int32_t pos, int32_t id)
{
    if (q->bk && rank > q->cur) return bucket_push(&q->bk[rank], pos, id);
    tok_heap_push(q->h, &q->hn, rank_cand(rank, pos, id));
    return true;
}

// ---- merging ----

/* Merges the k symbols of one word until no adjacent pair has a merge, lowest (rank, position)
 * first: from the heap alone, or with buckets (see above) from the rank being walked and the heap. */
static lb_status merge_word(tok_ctx *c, sym *s, size_t k, bool buckets)
{
    const lb_tokenizer *t = c->t;
    int32_t R = buckets ? t->n_ranks : 0;
    bucket *bk = buckets ? calloc((size_t)R, sizeof *bk) : NULL;
    if ((buckets && !bk) || !tok_reserve(&c->heap, &c->heap_cap, 3 * k + 1, sizeof(tok_cand))) {
        free(bk);
        return oom();
    }
    queue q = {.h = c->heap, .bk = bk, .cur = -1};
    lb_status st = LB_OK;
    int32_t rank, id;
    for (size_t i = 0; i + 1 < k; i++)
        if (tok_pairmap_get(&t->merges, s[i].id, s[i + 1].id, &rank, &id) && !queue_push(&q, rank, (int32_t)i, id))
            st = oom();
    q.cur = 0;
    bucket *b = NULL;
    size_t ai = 0;
    while (st == LB_OK) {
        if ((!b || ai == b->n) && q.hn == 0) { /* next non-empty rank */
            if (b) {
                free(b->v);
                *b = (bucket){0};
            }
            while (q.cur < R && bk[q.cur].n == 0) q.cur++;
            if (q.cur >= R) break;
            b = &bk[q.cur];
            if (b->unsorted) qsort(b->v, b->n, sizeof *b->v, cmp_pos);
            ai = 0;
            continue;
        }
        tok_cand top;
        if (q.hn > 0 && (!b || ai == b->n || tok_cand_before(q.h[0], rank_cand(q.cur, b->v[ai].pos, 0))))
            top = tok_heap_pop(q.h, &q.hn);
        else top = rank_cand(q.cur, b->v[ai].pos, b->v[ai].id), ai++;
        sym *l = &s[top.left];
        if (l->len == 0 || l->next < 0) continue;
        sym *r = &s[l->next];
        if (!tok_pairmap_get(&t->merges, l->id, r->id, &rank, &id) || id != top.id) continue; /* stale */
        l->id = top.id;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = top.left;
        if (l->prev >= 0 && tok_pairmap_get(&t->merges, s[l->prev].id, l->id, &rank, &id) &&
            !queue_push(&q, rank, l->prev, id))
            st = oom();
        if (l->next >= 0 && tok_pairmap_get(&t->merges, l->id, s[l->next].id, &rank, &id) &&
            !queue_push(&q, rank, top.left, id))
            st = oom();
    }
    for (int32_t i = 0; i < R; i++) free(bk[i].v);
    free(bk);
    return st;
}

static lb_status bpe_word(tok_ctx *c, const char *w, size_t n, tok_ids *out)
{
    const lb_tokenizer *t = c->t;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, w, n);
        if (id >= 0) return tok_ids_push(out, id) ? LB_OK : oom();
    }
    /* at most one symbol per byte (byte fallback), one heap entry per merge step and neighbour */
    if (!tok_reserve(&c->sym, &c->sym_cap, n + 1, sizeof(sym))) return oom();
    sym *s = c->sym;
    size_t k = split_chars(t, w, n, s);
    lb_status st = merge_word(c, s, k, k > 4096 && t->n_ranks > 0 && (size_t)t->n_ranks < 8 * k);
    if (st != LB_OK) return st;
    for (int32_t i = k ? 0 : -1; i >= 0; i = s[i].next)
        if (!tok_ids_push(out, s[i].id)) return oom();
    return LB_OK;
}

// ---- word cache ----

#define CACHE_MAX_WORD 256

lb_status tok_cached_word(tok_ctx *c, const char *w, size_t n, tok_word_fn fn)
{
    if (n == 0) return LB_OK;
    if (n > CACHE_MAX_WORD) return fn(c, w, n, c->out);
    if (!c->cache.slots && tok_strmap_init(&c->cache, 4096) != LB_OK) return LB_ERR_NOMEM;
    int32_t e = tok_strmap_get(&c->cache, w, n);
    if (e < 0) {
        /* new word: its ids go to cache_ids[cache_off[e] .. cache_off[e + 1]) */
        e = (int32_t)c->cache.n;
        if (c->cache_cap < e + 2) {
            int64_t cap = c->cache_cap ? c->cache_cap * 2 : 4096;
            int64_t *o = realloc(c->cache_off, (size_t)cap * sizeof *o);
            if (!o) return oom();
            c->cache_off = o;
            c->cache_cap = cap;
        }
        if (e == 0) c->cache_off[0] = 0;
        lb_status st = fn(c, w, n, &c->cache_ids);
        if (st != LB_OK) return st;
        c->cache_off[e + 1] = c->cache_ids.n;
        char *key = tok_arena_alloc(&c->arena, n);
        if (!key) return oom();
        memcpy(key, w, n);
        if (tok_strmap_put(&c->cache, key, n, e) < 0) return oom();
    }
    for (int64_t i = c->cache_off[e]; i < c->cache_off[e + 1]; i++)
        if (!tok_ids_push(c->out, c->cache_ids.v[i])) return oom();
    return LB_OK;
}

lb_status tok_cached_chunks(tok_ctx *c, const char *s, size_t n, tok_word_fn fn)
{
    for (size_t i = 0; i < n;) {
        size_t e = tok_chunk_end(c->t, s, n, i);
        lb_status st = tok_cached_word(c, s + i, e - i, fn);
        if (st != LB_OK) return st;
        i = e;
    }
    return LB_OK;
}

lb_status tok_bpe_rank_word(tok_ctx *c, const char *w, size_t n)
{
    const lb_tokenizer *t = c->t;
    if (n == 0) return LB_OK;
    /* ignore_merges looks the whole word up, so such words are never cut */
    if (n <= CACHE_MAX_WORD || (!t->split_ws && !t->split_nl) || t->ignore_merges)
        return tok_cached_word(c, w, n, bpe_word);
    return tok_cached_chunks(c, w, n, bpe_word);
}
