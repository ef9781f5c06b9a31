/* Tokenizers, encode and decode, exactly as the model's reference tokenizer does:
 *   spm-bpe   SentencePiece-style BPE with byte fallback: HF tokenizer.json with a BPE model
 *             and Metaspace/Prepend+Replace normalizer (tinystories-656k, Llama 2, Mistral),
 *             SentencePiece tokenizer.model (protobuf), GGUF "llama" vocab.
 *   byte-bpe  byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): HF tokenizer.json or GGUF "gpt2"
 *             vocab, pre-tokenizer regex run through PCRE2 (UTF mode, Unicode properties).
 *   llama2c   llama2.c tokenizer.bin (score-greedy pair merging, as llama2.c run.c encode()).
 * Special/added tokens are matched in the text first when parse_special is set. */
#ifndef LB_TOK_TOKENIZER_H
#define LB_TOK_TOKENIZER_H

#include "core/core.h"
#include "io/source.h"

typedef struct lb_tokenizer lb_tokenizer;

/* Finds the model's tokenizer: tokenizer.json (or tokenizer.model) in src->dir, the GGUF's
 * own vocabulary, or tokenizer.bin / tok*.bin beside a llama2.c checkpoint. */
lb_status lb_tokenizer_from_source(const lb_source *src, lb_tokenizer **out);
/* Loads a tokenizer file directly: tokenizer.json, tokenizer.model, a llama2.c .bin, or a .gguf.
 * BOS/EOS come from the file itself and from config.json / tokenizer_config.json /
 * special_tokens_map.json beside it when present. */
lb_status lb_tokenizer_load(const char *path, lb_tokenizer **out);
void lb_tokenizer_free(lb_tokenizer *t);

const char *lb_tokenizer_kind(const lb_tokenizer *t); /* "spm-bpe", "byte-bpe", "llama2c" */
int64_t lb_tokenizer_n_vocab(const lb_tokenizer *t);
int32_t lb_tokenizer_bos(const lb_tokenizer *t); /* -1 when none */
int32_t lb_tokenizer_eos(const lb_tokenizer *t); /* -1 when none */
/* Whether the model's own convention prepends BOS when encoding (HF post-processor,
 * GGUF tokenizer.ggml.add_bos_token, llama2.c: yes). */
bool lb_tokenizer_adds_bos(const lb_tokenizer *t);

/* *out is malloc'd (caller frees; non-NULL on success even for zero tokens). add_bos applies the
 * model's own convention, like HF encode(add_special_tokens=True): the tokens its template puts
 * around a single sequence (BOS for Llama/TinyStories, nothing for SmolLM2 or GPT-2), so pass
 * true for "tokenize as the model expects"; callers that want a BOS regardless can prepend
 * lb_tokenizer_bos() themselves. parse_special matches special tokens (CONTROL pieces, HF added
 * tokens with special=true) written in the text; non-special added tokens always match. llama2.c
 * has no special tokens in text. */
lb_status lb_tokenizer_encode(const lb_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                              int32_t **out, int64_t *n_out);
/* Bytes one token contributes to text (SPM "▁" -> ' ', <0xNN> -> byte, byte-level unicode ->
 * bytes). Returns the length (may exceed cap; nothing past cap written), -1 for a bad id. */
int64_t lb_tokenizer_piece(const lb_tokenizer *t, int32_t id, char *buf, size_t cap);
/* Whole-sequence decode like HF tokenizers' decode(skip_special_tokens=False): for spm-bpe the
 * leading space the normalizer added is stripped. *out malloc'd, NUL-terminated. */
lb_status lb_tokenizer_decode(const lb_tokenizer *t, const int32_t *ids, int64_t n, char **out, size_t *len);

/* ---- the vocabulary as stored, for writers (GGUF tokenizer.ggml.*) and tests ---- */

/* Raw entry: text exactly as stored (SPM "▁", byte-level "Ġ", "<0x0A>"), score (0 when the format
 * has none), GGUF token type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).
 * Any out-pointer may be NULL. Borrowed until lb_tokenizer_free. false for a bad id. */
bool lb_tokenizer_token(const lb_tokenizer *t, int32_t id, const char **text, size_t *len, float *score, int *type);
/* Merges of a rank-ordered BPE (tokenizer.json, GGUF gpt2) in rank order; 0 for score-based ones. */
int64_t lb_tokenizer_n_merges(const lb_tokenizer *t);
bool lb_tokenizer_merge(const lb_tokenizer *t, int64_t i, int32_t *left, int32_t *right);
/* GGUF tokenizer.ggml.pre name when the tokenizer came from a GGUF, else NULL. */
const char *lb_tokenizer_pre_name(const lb_tokenizer *t);

#endif
