/* Calibration windows (see calib_data.h). */
#include "calib/calib_data.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64 (Steele, Lea, Flood 2014): small, seedable with any value, well mixed. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Appends the tokens of one file to *all. */
static lb_status tokenize_file(const lb_tokenizer *tok, const char *path, int32_t **all, int64_t *n, int64_t *cap,
                               uint64_t *hash)
{
    char *text = NULL;
    size_t len = 0;
    lb_status st = lb_read_file(path, &text, &len);
    if (st) return st;
    *hash = lb_fnv1a(*hash, text, len);
    int32_t *ids = NULL;
    int64_t k = 0;
    st = lb_tokenizer_encode(tok, text, len, false, false, &ids, &k);
    free(text);
    if (st) return st;
    if (*n + k > *cap) {
        int64_t c = (*n + k) * 2;
        int32_t *p = realloc(*all, (size_t)c * sizeof *p);
        if (!p) {
            free(ids);
            return lb_fail(LB_ERR_NOMEM, "out of memory for the calibration tokens of %s", path);
        }
        *all = p, *cap = c;
    }
    memcpy(*all + *n, ids, (size_t)k * sizeof *ids);
    *n += k;
    free(ids);
    return LB_OK;
}

lb_status lb_calib_windows(const lb_tokenizer *tok, const char *files, int64_t n_seq, int64_t seq_len, uint64_t seed,
                           int32_t **tokens, uint64_t *text_hash)
{
    *tokens = NULL;
    *text_hash = LB_FNV_OFFSET;
    if (!files || !*files) return lb_fail(LB_ERR_ARG, "no calibration text given (--calib FILE)");
    if (n_seq < 1 || seq_len < 1) return lb_fail(LB_ERR_ARG, "calibration needs at least one sequence of one token");
    int32_t *all = NULL;
    int64_t n = 0, cap = 0;
    lb_status st = LB_OK;
    char *list = lb_strdup(files);
    if (!list) return LB_ERR_NOMEM;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f && !st; f = strtok_r(NULL, ",", &save))
        st = tokenize_file(tok, f, &all, &n, &cap, text_hash);
    free(list);
    if (!st && n < seq_len + 1)
        st = lb_fail(LB_ERR_ARG, "calibration text %s has %lld tokens, fewer than one window of %lld + 1", files,
                     (long long)n, (long long)seq_len);
    int32_t *out = st ? NULL : lb_malloc((size_t)(n_seq * seq_len) * sizeof *out, "calibration tokens");
    if (!st && !out) st = LB_ERR_NOMEM;
    if (!st) {
        uint64_t s = seed;
        uint64_t span = (uint64_t)(n - seq_len); /* offsets 0 .. n - seq_len - 1 */
        for (int64_t i = 0; i < n_seq; i++) {
            uint64_t off = splitmix64(&s) % span;
            memcpy(out + i * seq_len, all + off, (size_t)seq_len * sizeof *out);
        }
        *tokens = out;
    }
    free(all);
    return st;
}
