/* Tokenizer internals shared by the src/tok sources: the lb_tokenizer struct (vocabulary, added tokens,
 * normalizer, pre-tokenizer, model, decoder, template), hash maps, an arena, the heap of
 * BPE merge candidates, UTF-8 helpers.
 * Nothing here is visible outside src/tok (tests may include it for white-box checks). */
#ifndef LB_TOK_INTERNAL_H
#define LB_TOK_INTERNAL_H

#include "tok/tokenizer.h"

#include <stdint.h>
#include <string.h>

/* ---- token types: GGUF tokenizer.ggml.token_type == sentencepiece ModelProto.SentencePiece.Type ---- */
enum {
    TOK_NORMAL = 1,
    TOK_UNKNOWN = 2,
    TOK_CONTROL = 3,
    TOK_USER_DEFINED = 4,
    TOK_UNUSED = 5,
    TOK_BYTE = 6,
};

typedef enum tok_kind { TOK_KIND_SPM_BPE = 0, TOK_KIND_BYTE_BPE = 1, TOK_KIND_LLAMA2C = 2 } tok_kind;

/* Where the vocabulary came from: decides special-token and normalization semantics. */
typedef enum tok_source {
    TOK_SRC_HF_JSON = 0, /* HF tokenizers semantics throughout */
    TOK_SRC_SPM_MODEL = 1,
    TOK_SRC_GGUF = 2,
    TOK_SRC_LLAMA2C = 3,
} tok_source;

/* How words become ids. */
typedef enum tok_model {
    TOK_MODEL_BPE_RANK = 0,  /* HF BPE: lowest merge rank first (merges list) */
    TOK_MODEL_BPE_SCORE = 1, /* SentencePiece BPE: highest piece score first */
    TOK_MODEL_LLAMA2C = 2,   /* llama2.c run.c encode() */
} tok_model;

/* ---- hash maps (open addressing, linear probing, power-of-two capacity) ---- */

/* bytes -> int32. Keys are borrowed: they must outlive the map. */
typedef struct tok_strmap {
    struct tok_strmap_slot {
        const char *key;
        uint32_t len;
        int32_t val; /* -1 = empty slot */
        uint64_t hash;
    } *slots;
    uint64_t cap, n;
} tok_strmap;

uint64_t tok_hash_bytes(const char *s, size_t n);
lb_status tok_strmap_init(tok_strmap *m, uint64_t expected);
void tok_strmap_free(tok_strmap *m);
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len); /* -1 when absent */
/* Inserts key -> val unless present; returns the value now stored (old one if present), or -2 on OOM. */
int32_t tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);
/* Inserts or overwrites; returns val, or -2 on OOM. */
int32_t tok_strmap_set(tok_strmap *m, const char *key, size_t len, int32_t val);

/* (left id, right id) -> (rank, merged id). */
typedef struct tok_pairmap {
    uint64_t *keys;
    int32_t *rank, *id; /* id -1 = empty slot */
    uint64_t cap, n;
} tok_pairmap;

lb_status tok_pairmap_init(tok_pairmap *m, uint64_t expected);
void tok_pairmap_free(tok_pairmap *m);
bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *id);
/* Inserts a pair; an existing entry is kept unless overwrite (HF collects merges into a HashMap,
 * so a repeated merge takes its last rank). false on OOM. */
bool tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id, bool overwrite);

/* ---- arena: many small strings freed together ---- */
typedef struct tok_arena {
    struct tok_chunk *head;
} tok_arena;

char *tok_arena_alloc(tok_arena *a, size_t n); /* NULL on OOM */
void tok_arena_free(tok_arena *a);

/* ---- growable id list ---- */
typedef struct tok_ids {
    int32_t *v;
    int64_t n, cap;
} tok_ids;

bool tok_ids_push(tok_ids *o, int32_t id);

/* Grows *p (an array of *cap elements of elem bytes) to hold at least n, doubling from 64;
 * false on OOM, *p unchanged. */
bool tok_reserve(void **p, size_t *cap, size_t n, size_t elem);

/* ---- merge candidates: the binary heap of the three BPE merge loops ----
 * A candidate merges the adjacent symbols left and right. The heap pops the largest key first,
 * ties to the smallest left (the leftmost pair). SentencePiece and llama2.c use the merged piece's
 * score as key (highest score first), rank BPE the negated rank (lowest rank first). A double holds
 * every int32 rank exactly and compares converted floats exactly as float does (-0 == +0, NaN
 * unordered), so each tokenizer pops in the order its reference implementation uses. Each
 * tokenizer fills the payload fields its staleness check needs and leaves the rest 0. */
typedef struct tok_cand {
    double key;
    int32_t left, right; /* symbol indices (rank BPE: left only) */
    int32_t id;          /* merged token (rank BPE, llama2.c) */
    int32_t a, b;        /* llama2.c: ids of left and right when the candidate was made */
    uint32_t len;        /* SentencePiece: bytes of left + right when the candidate was made */
} tok_cand;

static inline bool tok_cand_before(tok_cand x, tok_cand y)
{
    return x.key > y.key || (x.key == y.key && x.left < y.left);
}

/* Inline: the merge loops push and pop a few entries per symbol on small heaps, where a call costs
 * about as much as the work. */
static inline void tok_heap_push(tok_cand *h, size_t *n, tok_cand x) /* h has room for *n + 1 */
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tok_cand_before(x, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static inline tok_cand tok_heap_pop(tok_cand *h, size_t *n) /* *n > 0 */
{
    tok_cand top = h[0];
    size_t k = --*n;
    const tok_cand *x = &h[k]; /* the last entry sinks from the root; the loop only writes below k */
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tok_cand *best = x;
        if (l < k && tok_cand_before(h[l], *best)) m = l, best = &h[l];
        if (r < k && tok_cand_before(h[r], *best)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (k > 0) h[i] = *x;
    return top;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 character at s (1..4), or 0 when s[0..n) does not start with one
 * (bad lead, bad continuation, overlong, surrogate, > U+10FFFF, truncated). */
int tok_utf8_valid(const unsigned char *s, size_t n, uint32_t *cp);
/* Length of the "character" at s for splitting: a valid char's length, else 1 (one stray byte). */
static inline size_t tok_utf8_step(const char *s, size_t n)
{
    uint32_t cp;
    int k = tok_utf8_valid((const unsigned char *)s, n, &cp);
    return k > 0 ? (size_t)k : 1;
}
size_t tok_utf8_encode(uint32_t cp, char *out); /* 1..4 bytes */
/* Appends s as Rust String::from_utf8_lossy does (each maximal invalid subpart -> U+FFFD). */
bool tok_utf8_lossy(const char *s, size_t n, char **buf, size_t *len, size_t *cap);
bool tok_is_unicode_space(uint32_t cp); /* Rust char::is_whitespace */

/* GPT-2 bytes_to_unicode: byte -> code point, and back (-1 when not in the table). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

/* ---- pieces flowing through the encode pipeline ---- */
typedef struct tok_piece {
    const char *s;
    size_t n;
    int32_t id;    /* >= 0: an added token already resolved; -1: text still to tokenize */
    bool at_start; /* begins at offset 0 of the original text (Metaspace prepend_scheme "first") */
} tok_piece;

typedef struct tok_pieces {
    tok_piece *v;
    size_t n, cap;
} tok_pieces;

bool tok_pieces_push(tok_pieces *l, const char *s, size_t n, int32_t id, bool at_start);

/* ---- components ---- */

typedef struct tok_added {
    int32_t id;
    const char *text; /* content (points into the vocabulary blob or owned by t->arena) */
    uint32_t len;
    const char *norm; /* content after the normalizer (HF normalized tokens), else == text */
    uint32_t norm_len;
    bool special, normalized, lstrip, rstrip, single_word;
} tok_added;

typedef enum tok_split_behavior {
    TOK_SPLIT_REMOVED = 0,
    TOK_SPLIT_ISOLATED = 1,
    TOK_SPLIT_MERGED_WITH_PREVIOUS = 2,
    TOK_SPLIT_MERGED_WITH_NEXT = 3,
    TOK_SPLIT_CONTIGUOUS = 4,
} tok_split_behavior;

typedef enum tok_prepend { TOK_PREPEND_ALWAYS = 0, TOK_PREPEND_FIRST = 1, TOK_PREPEND_NEVER = 2 } tok_prepend;

typedef enum tok_pre_type {
    TOK_PRE_SPLIT_REGEX = 0, /* Split{Regex} and ByteLevel's regex, Digits ("\p{N}") */
    TOK_PRE_SPLIT_STRING = 1,
    TOK_PRE_BYTELEVEL = 2,   /* map bytes to the GPT-2 unicode alphabet (regex split is its own step) */
    TOK_PRE_METASPACE = 3,
} tok_pre_type;

typedef struct tok_pre_step {
    tok_pre_type type;
    tok_split_behavior behavior;
    bool invert;
    void *re;    /* pcre2_code_8 * (SPLIT_REGEX) */
    char *str;   /* literal pattern (SPLIT_STRING), replacement (METASPACE) */
    size_t str_len;
    bool add_prefix_space; /* BYTELEVEL (re: its own regex split when use_regex) */
    tok_prepend prepend;   /* METASPACE */
    bool split;            /* METASPACE */
} tok_pre_step;

typedef enum tok_norm_type { TOK_NORM_PREPEND = 0, TOK_NORM_REPLACE = 1, TOK_NORM_STRIP = 2 } tok_norm_type;

typedef struct tok_norm_step {
    tok_norm_type type;
    char *a; /* prepend text / replace pattern */
    size_t a_len;
    char *b; /* replace content */
    size_t b_len;
    bool left, right; /* STRIP */
} tok_norm_step;

typedef enum tok_dec_type {
    TOK_DEC_REPLACE = 0,
    TOK_DEC_BYTE_FALLBACK = 1,
    TOK_DEC_FUSE = 2,
    TOK_DEC_STRIP = 3,
    TOK_DEC_BYTELEVEL = 4,
    TOK_DEC_METASPACE = 5,
} tok_dec_type;

typedef struct tok_dec_step {
    tok_dec_type type;
    char *a, *b; /* REPLACE pattern/content, METASPACE replacement */
    size_t a_len, b_len;
    char content; /* STRIP */
    int start, stop;
    tok_prepend prepend; /* METASPACE */
} tok_dec_step;

/* ---- the tokenizer ---- */
struct lb_tokenizer {
    tok_kind kind;
    tok_source source;
    tok_model model;
    char *path; /* file the vocabulary came from (messages) */

    /* vocabulary: piece text of each id exactly as stored (SPM "▁", byte-level "Ġ", "<0x0A>") */
    int32_t n_vocab;
    uint32_t max_len; /* longest piece, bytes */
    char *blob;
    uint64_t *off;
    uint32_t *len;
    float *score;  /* SPM/llama2.c scores, NULL otherwise */
    uint8_t *type; /* TOK_* per id */
    tok_strmap vocab;
    int32_t byte_id[256]; /* <0xNN> token of each byte, -1 when absent */
    int32_t unk_id;
    bool byte_fallback, fuse_unk, ignore_merges, has_unused;
    /* Boundaries no merge can cross, found from the vocabulary at load (tok_finalize): before a
     * "▁" that follows another character, and around '\n'. Long texts without a pre-tokenizer
     * are cut there into words that are merged (and cached) independently, same result. */
    bool split_ws, split_nl;
    const char *ws_sym; /* the whitespace symbol: "▁", or " " for llama2.c */
    size_t ws_len;
    bool has_norm_added; /* some added token is matched in normalized form (decode uses that form) */

    /* rank BPE */
    tok_pairmap merges;
    int32_t (*merge_list)[2]; /* rank order, for lb_tokenizer_merge */
    int64_t n_merges;
    int32_t n_ranks; /* every rank is below this */

    /* added / special tokens matched in the text before anything else; grp_* index them by
     * [normalized?][first byte], longest first (built by tok_finalize) */
    tok_added *added;
    int n_added;
    int *grp_idx[2];
    int grp_start[2][257];

    /* normalizer: HF steps, or SentencePiece flags (TOK_SRC_SPM_MODEL, TOK_SRC_GGUF spm) */
    tok_norm_step *norm;
    int n_norm;
    bool spm_dummy_prefix, spm_remove_extra_ws, spm_escape_ws, spm_ws_suffix;

    /* pre-tokenizer steps, applied in order to every piece */
    tok_pre_step *pre;
    int n_pre;
    char *pre_name; /* GGUF tokenizer.ggml.pre (or our best name for a tokenizer.json), may be NULL */

    /* decoder steps (HF semantics); n_dec == 0 and !dec_set: HF joins tokens with " " */
    tok_dec_step *dec;
    int n_dec;
    bool dec_set;

    /* special tokens and the single-sequence template */
    int32_t bos, eos;
    int32_t *prefix, *suffix; /* ids added around the text when add_bos (HF add_special_tokens) */
    int n_prefix, n_suffix;

    /* GPT-2 byte-level alphabet: UTF-8 of each byte's stand-in char, and the way back */
    char bl_utf8[256][2];
    uint8_t bl_len[256];
    int16_t bl_rev[324]; /* code point -> byte, -1 when the code point is not in the table */

    tok_arena arena; /* owned strings that are not in blob */
};

/* ---- loaders (each fills a zeroed lb_tokenizer; on failure the caller frees it) ---- */
lb_status tok_load_hf_json(lb_tokenizer *t, const char *path);
lb_status tok_load_spm_model(lb_tokenizer *t, const char *path);
lb_status tok_load_gguf(lb_tokenizer *t, const lb_gguf *g, const char *path);
lb_status tok_load_llama2c(lb_tokenizer *t, const char *path, int64_t n_vocab_expected);
/* Counts the tokens of a llama2.c tokenizer file (-1 when it is not one). */
int64_t tok_llama2c_count(const char *path);

/* Vocabulary setup shared by the loaders: copies pieces into one blob. */
lb_status tok_vocab_alloc(lb_tokenizer *t, int32_t n, size_t total_bytes, bool with_scores);
lb_status tok_vocab_set(lb_tokenizer *t, int32_t id, const char *s, size_t n, size_t *blob_used);
/* Builds t->vocab (first id wins on duplicates unless dup_is_error) and byte_id[]. */
lb_status tok_vocab_index(lb_tokenizer *t, bool dup_is_error);
static inline const char *tok_piece_text(const lb_tokenizer *t, int32_t id) { return t->blob + t->off[id]; }
lb_status tok_add_added(lb_tokenizer *t, int32_t id, bool special, bool normalized, bool lstrip, bool rstrip,
                        bool single_word);
lb_status tok_set_template(lb_tokenizer *t, const int32_t *prefix, int n_prefix, const int32_t *suffix, int n_suffix);
/* Reads bos/eos (and add_bos_token) from config.json, tokenizer_config.json, special_tokens_map.json
 * beside path, filling only what is still unset (-1). *add_bos set when tokenizer_config says so. */
void tok_read_side_configs(lb_tokenizer *t, const char *path, int *add_bos, int *add_eos);
lb_status tok_set_spm_decoder(lb_tokenizer *t);
lb_status tok_set_bytelevel_decoder(lb_tokenizer *t);

/* After a loader: normalized forms of added tokens, match index, byte tables. */
lb_status tok_finalize(lb_tokenizer *t);
/* HF normalizer steps applied to s; result in the arena (or s itself when nothing changes). */
lb_status tok_hf_normalize(const lb_tokenizer *t, tok_arena *a, const char *s, size_t n, const char **out,
                           size_t *out_n);

/* ---- pre-tokenizer regexes ---- */
/* Compiles a pattern with PCRE2_UTF | PCRE2_UCP (JIT when available). */
lb_status tok_regex_compile(const char *pattern, size_t len, void **out, const char *where);
void tok_regex_free(void *re);
void *tok_regex_match_data(void);           /* pcre2_match_data for any of our patterns, NULL on OOM */
void tok_regex_free_match_data(void *md);
/* Named GGUF pre-tokenizers (llama.cpp llama-vocab.cpp): appends the steps for name.
 * *add_bos_default is set for the families whose convention adds BOS. */
lb_status tok_pre_from_gguf_name(lb_tokenizer *t, const char *name, bool *add_bos_default, bool *ignore_merges);
lb_status tok_pre_add_regex(lb_tokenizer *t, const char *pattern, size_t len, tok_split_behavior b, bool invert);
lb_status tok_pre_add_step(lb_tokenizer *t, const tok_pre_step *s);
extern const char tok_gpt2_regex[];

/* Per-call scratch for encoding (the tokenizer itself stays const and shareable across threads). */
typedef struct tok_ctx {
    const lb_tokenizer *t;
    tok_arena arena;
    tok_ids *out;
    void *match_data; /* pcre2_match_data_8 * */
    tok_pieces a, b;  /* pre-tokenizer ping-pong lists */
    tok_pieces seg;   /* regex split scratch: id = 1 for a match, 0 for the text between */
    /* BPE word cache: word -> slice of cache_ids */
    tok_strmap cache;
    tok_ids cache_ids;
    int64_t *cache_off;
    int64_t cache_cap;
    /* symbol scratch */
    void *sym, *heap, *buf;
    size_t sym_cap, heap_cap, buf_cap;
    tok_strmap rev_merge; /* SPM unused-piece resegmentation */
    lb_status err;
} tok_ctx;

/* Splits piece p by the pre-tokenizer into ctx->a (words). */
lb_status tok_pretokenize(tok_ctx *c, const tok_piece *p);
/* End of the chunk of s[0..n) that starts at i (see split_ws / split_nl); n when none. */
size_t tok_chunk_end(const lb_tokenizer *t, const char *s, size_t n, size_t i);
/* Looks word w up in the per-call cache, else computes it with fn; appends the ids to c->out. */
typedef lb_status (*tok_word_fn)(tok_ctx *c, const char *w, size_t n, tok_ids *out);
lb_status tok_cached_word(tok_ctx *c, const char *w, size_t n, tok_word_fn fn);
/* The same for each chunk of s[0..n) in turn (see tok_chunk_end). */
lb_status tok_cached_chunks(tok_ctx *c, const char *s, size_t n, tok_word_fn fn);
/* Word -> ids with the rank BPE model (HF), appended to c->out. */
lb_status tok_bpe_rank_word(tok_ctx *c, const char *w, size_t n);
/* Normalized text -> ids with SentencePiece BPE, appended to c->out. */
lb_status tok_bpe_score(tok_ctx *c, const char *s, size_t n);
/* llama2.c encode() of the whole text. */
lb_status tok_llama2c_encode(tok_ctx *c, const char *text, size_t len, bool add_bos);

void tok_ctx_free(tok_ctx *c);

#endif
