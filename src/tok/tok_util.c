/* Small containers the tokenizers need: open-addressing hash maps (string -> id, id pair -> merge),
 * an arena for short-lived strings, growable lists, UTF-8 decoding/validation with Rust-compatible
 * lossy conversion, and GPT-2's byte <-> unicode table (openai/gpt-2 encoder.py bytes_to_unicode).
 * No C hash library is a dependency; these are deliberately minimal. */
#include "tok/tok_internal.h"

#include <stdlib.h>

// ---- hashing ----

/* splitmix64 finalizer: an avalanche so linear probing stays short */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t tok_hash_bytes(const char *s, size_t n)
{
    /* FNV-1a, then the avalanche */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return mix64(h);
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

// ---- string map ----

lb_status tok_strmap_init(tok_strmap *m, uint64_t expected)
{
    m->cap = pow2_at_least(expected * 2 + 1);
    m->n = 0;
    m->slots = lb_malloc(m->cap * sizeof *m->slots, "tokenizer hash map");
    if (!m->slots) return LB_ERR_NOMEM;
    for (uint64_t i = 0; i < m->cap; i++) m->slots[i].val = -1;
    return LB_OK;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len)
{
    if (!m->slots) return -1;
    uint64_t h = tok_hash_bytes(key, len);
    for (uint64_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct tok_strmap_slot *s = &m->slots[i];
        if (s->val < 0) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->val;
    }
}

static bool strmap_grow(tok_strmap *m)
{
    tok_strmap g;
    g.cap = m->cap * 2;
    g.n = m->n;
    g.slots = malloc(g.cap * sizeof *g.slots);
    if (!g.slots) return false;
    for (uint64_t i = 0; i < g.cap; i++) g.slots[i].val = -1;
    for (uint64_t i = 0; i < m->cap; i++) {
        if (m->slots[i].val < 0) continue;
        uint64_t j = m->slots[i].hash & (g.cap - 1);
        while (g.slots[j].val >= 0) j = (j + 1) & (g.cap - 1);
        g.slots[j] = m->slots[i];
    }
    free(m->slots);
    *m = g;
    return true;
}

int32_t tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && !strmap_grow(m)) return -2;
    uint64_t h = tok_hash_bytes(key, len);
    uint64_t i = h & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        struct tok_strmap_slot *s = &m->slots[i];
        if (s->val < 0) break;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->val;
    }
    m->slots[i] = (struct tok_strmap_slot){.key = key, .len = (uint32_t)len, .val = val, .hash = h};
    m->n++;
    return val;
}

int32_t tok_strmap_set(tok_strmap *m, const char *key, size_t len, int32_t val)
{
    int32_t v = tok_strmap_put(m, key, len, val);
    if (v == -2 || v == val) return v;
    uint64_t h = tok_hash_bytes(key, len);
    for (uint64_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct tok_strmap_slot *s = &m->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->key = key;
            s->val = val;
            return val;
        }
    }
}

// ---- pair map ----

lb_status tok_pairmap_init(tok_pairmap *m, uint64_t expected)
{
    m->cap = pow2_at_least(expected * 2 + 1);
    m->n = 0;
    m->keys = lb_malloc(m->cap * sizeof *m->keys, "BPE merge table");
    m->rank = lb_malloc(m->cap * sizeof *m->rank, "BPE merge table");
    m->id = lb_malloc(m->cap * sizeof *m->id, "BPE merge table");
    if (!m->keys || !m->rank || !m->id) {
        tok_pairmap_free(m);
        return LB_ERR_NOMEM;
    }
    for (uint64_t i = 0; i < m->cap; i++) m->id[i] = -1;
    return LB_OK;
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->id);
    memset(m, 0, sizeof *m);
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id)
{
    if (!m->keys) return false;
    uint64_t k = pair_key(a, b);
    for (uint64_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->id[i] < 0) return false;
        if (m->keys[i] == k) {
            *rank = m->rank[i];
            *id = m->id[i];
            return true;
        }
    }
}

bool tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id, bool overwrite)
{
    if ((m->n + 1) * 2 > m->cap) {
        tok_pairmap g;
        if (tok_pairmap_init(&g, m->cap) != LB_OK) return false;
        for (uint64_t i = 0; i < m->cap; i++) {
            if (m->id[i] < 0) continue;
            uint64_t j = mix64(m->keys[i]) & (g.cap - 1);
            while (g.id[j] >= 0) j = (j + 1) & (g.cap - 1);
            g.keys[j] = m->keys[i], g.rank[j] = m->rank[i], g.id[j] = m->id[i];
        }
        g.n = m->n;
        tok_pairmap_free(m);
        *m = g;
    }
    uint64_t k = pair_key(a, b);
    uint64_t i = mix64(k) & (m->cap - 1);
    for (; m->id[i] >= 0; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == k) {
            if (overwrite) m->rank[i] = rank, m->id[i] = id;
            return true;
        }
    m->keys[i] = k, m->rank[i] = rank, m->id[i] = id;
    m->n++;
    return true;
}

// ---- arena ----

struct tok_chunk {
    struct tok_chunk *next;
    size_t used, cap;
    char data[];
};

char *tok_arena_alloc(tok_arena *a, size_t n)
{
    struct tok_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > (1u << 16) ? n : (1u << 16);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

void tok_arena_free(tok_arena *a)
{
    for (struct tok_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    a->head = NULL;
}

// ---- lists ----

bool tok_ids_push(tok_ids *o, int32_t id)
{
    if (o->n == o->cap) {
        int64_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *v = realloc(o->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
    return true;
}

bool tok_reserve(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

bool tok_pieces_push(tok_pieces *l, const char *s, size_t n, int32_t id, bool at_start)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tok_piece *v = realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (tok_piece){.s = s, .n = n, .id = id, .at_start = at_start};
    return true;
}

// ---- UTF-8 ----

int tok_utf8_valid(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (int i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

size_t tok_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Length of the maximal prefix of s that could begin a valid sequence (Unicode "maximal
 * subpart"; what Rust's Utf8Error::error_len reports), at least 1. */
static size_t invalid_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    size_t k = 1;
    if (k < n && k < need && s[k] >= lo && s[k] <= hi) {
        k++;
        while (k < n && k < need && (s[k] & 0xC0) == 0x80) k++;
    }
    return k;
}

bool tok_utf8_lossy(const char *s, size_t n, char **buf, size_t *len, size_t *cap)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_valid(u + i, n - i, &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (!buf_append(buf, len, cap, s + run, i - run)) return false;
        if (!buf_append(buf, len, cap, "\xEF\xBF\xBD", 3)) return false;
        i += invalid_len(u + i, n - i);
        run = i;
    }
    return buf_append(buf, len, cap, s + run, n - run);
}

bool tok_is_unicode_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- GPT-2 byte <-> unicode ----

/* Printable bytes map to themselves ('!'..'~', '¡'..'¬', '®'..'ÿ'); the other 68 map, in byte
 * order, to U+0100 and up. */
static bool byte_is_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

uint32_t tok_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++) n += !byte_is_printable(x);
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_printable(x) && n-- == 0) return (int)x;
    return -1;
}

// ---- uncrossable boundaries ----

size_t tok_chunk_end(const lb_tokenizer *t, const char *s, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++) {
        if (t->split_nl && (s[j] == '\n' || s[j - 1] == '\n')) return j;
        size_t w = t->ws_len;
        if (t->split_ws && j + w <= n && memcmp(s + j, t->ws_sym, w) == 0 && !(j >= w && memcmp(s + j - w, t->ws_sym, w) == 0))
            return j;
    }
    return n;
}
