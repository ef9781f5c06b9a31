/* Calibration sequences for block-wise methods (GPTQ): the text files tokenized without BOS,
 * concatenated, and n_seq windows of seq_len tokens at offsets drawn uniformly at random, as
 * GPTQ's get_wikitext2 loader does (random.randint(0, n - seq_len - 1) per sample). */
#ifndef LB_CALIB_DATA_H
#define LB_CALIB_DATA_H

#include "core/core.h"
#include "tok/tokenizer.h"

/* files: one path or several separated by commas. seed picks the windows (splitmix64, so the
 * same seed gives the same windows everywhere). *tokens [n_seq][seq_len] is malloc'd;
 * *text_hash is a 64-bit FNV-1a of the texts (for checkpoint fingerprints). A text shorter
 * than seq_len + 1 tokens in all is LB_ERR_ARG naming the files and the counts. */
lb_status lb_calib_windows(const lb_tokenizer *tok, const char *files, int64_t n_seq, int64_t seq_len, uint64_t seed,
                           int32_t **tokens, uint64_t *text_hash);

#endif
