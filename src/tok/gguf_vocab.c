/* GGUF vocabularies (tokenizer.ggml.*), as llama.cpp's llama_vocab::impl::load reads them:
 *   model "llama": tokens + scores + token_type, SentencePiece BPE (same algorithm and flags as a
 *                  tokenizer.model: add_space_prefix default true, remove_extra_whitespaces);
 *   model "gpt2":  tokens + merges ("left right", split at the first space after position 0),
 *                  byte-level BPE with the named pre-tokenizer tokenizer.ggml.pre.
 * Special tokens: CONTROL (and UNKNOWN) pieces are matched in the text when parse_special is set,
 * USER_DEFINED ones always. BOS/EOS from bos_token_id / eos_token_id; add_bos_token defaults to
 * true for "llama" and for the Llama-3-style pre-tokenizers, false otherwise. Strings are copied,
 * so the tokenizer does not borrow from the GGUF mapping. */
#include "tok/tok_internal.h"

#include <stdlib.h>

static lb_status get_array(const lb_gguf *g, const char *path, const char *key, lb_gguf_type want, bool required,
                           int64_t *idx, uint64_t *n)
{
    *idx = lb_gguf_find(g, key);
    *n = 0;
    if (*idx < 0) return required ? lb_fail(LB_ERR_FORMAT, "%s: GGUF has no %s", path, key) : LB_OK;
    if (lb_gguf_kv_type(g, *idx) != LB_GGUF_ARRAY)
        return lb_fail(LB_ERR_FORMAT, "%s: GGUF key %s is not an array", path, key);
    lb_gguf_type at = lb_gguf_arr_type(g, *idx);
    bool ok = at == want || (want == LB_GGUF_INT32 && (at == LB_GGUF_UINT32 || at == LB_GGUF_INT8 || at == LB_GGUF_UINT8)) ||
              (want == LB_GGUF_FLOAT32 && at == LB_GGUF_INT32);
    if (!ok) return lb_fail(LB_ERR_FORMAT, "%s: GGUF key %s has elements of type %d, expected %d", path, key, at, want);
    *n = lb_gguf_arr_len(g, *idx);
    return LB_OK;
}

static int32_t get_id(const lb_gguf *g, const char *key, int32_t dflt, int32_t n_vocab)
{
    int64_t v;
    if (!lb_gguf_get_i64(g, key, &v)) return dflt;
    return v >= 0 && v < n_vocab ? (int32_t)v : dflt;
}

static lb_status load_merges(lb_tokenizer *t, const lb_gguf *g, const char *path)
{
    int64_t mi;
    uint64_t nm;
    lb_status st = get_array(g, path, "tokenizer.ggml.merges", LB_GGUF_STRING, true, &mi, &nm);
    if (st != LB_OK) return st;
    if (nm > INT32_MAX) return lb_fail(LB_ERR_FORMAT, "%s: too many merges (%llu)", path, (unsigned long long)nm);
    if ((st = tok_pairmap_init(&t->merges, nm)) != LB_OK) return st;
    t->n_ranks = (int32_t)nm;
    t->merge_list = lb_malloc((nm + 1) * sizeof *t->merge_list, "BPE merges");
    if (!t->merge_list) return LB_ERR_NOMEM;
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < nm; i++) {
        lb_str m = lb_gguf_arr_str(g, mi, i);
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        if (!sp) {
            free(buf);
            return lb_fail(LB_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu] '%.*s' is not 'left right'", path,
                           (unsigned long long)i, (int)(m.len < 64 ? m.len : 64), m.ptr);
        }
        size_t ll = (size_t)(sp - m.ptr), rl = m.len - ll - 1;
        int32_t a = tok_strmap_get(&t->vocab, m.ptr, ll), b = tok_strmap_get(&t->vocab, sp + 1, rl);
        if (a < 0 || b < 0) continue; /* llama.cpp keeps them, but they can never apply */
        if (ll + rl > cap) {
            cap = 2 * (ll + rl);
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return lb_fail(LB_ERR_NOMEM, "out of memory reading merges");
            }
            buf = nb;
        }
        memcpy(buf, m.ptr, ll);
        memcpy(buf + ll, sp + 1, rl);
        int32_t id = tok_strmap_get(&t->vocab, buf, ll + rl);
        if (id < 0) continue;
        if (!tok_pairmap_put(&t->merges, a, b, (int32_t)i, id, false)) {
            free(buf);
            return lb_fail(LB_ERR_NOMEM, "out of memory reading merges");
        }
        t->merge_list[t->n_merges][0] = a;
        t->merge_list[t->n_merges][1] = b;
        t->n_merges++;
    }
    free(buf);
    return LB_OK;
}

lb_status tok_load_gguf(lb_tokenizer *t, const lb_gguf *g, const char *path)
{
    lb_str model;
    if (!lb_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return lb_fail(LB_ERR_FORMAT, "%s: GGUF has no tokenizer (tokenizer.ggml.model missing)", path);
    bool spm = lb_str_eq(model, "llama"), bpe = lb_str_eq(model, "gpt2");
    if (!spm && !bpe)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported (llama, gpt2)", path,
                       (int)(model.len < 64 ? model.len : 64), model.ptr);
    int64_t ti, si, yi;
    uint64_t n, ns, ny;
    lb_status st = get_array(g, path, "tokenizer.ggml.tokens", LB_GGUF_STRING, true, &ti, &n);
    if (st == LB_OK) st = get_array(g, path, "tokenizer.ggml.scores", LB_GGUF_FLOAT32, false, &si, &ns);
    if (st == LB_OK) st = get_array(g, path, "tokenizer.ggml.token_type", LB_GGUF_INT32, false, &yi, &ny);
    if (st != LB_OK) return st;
    if (n == 0 || n > INT32_MAX) return lb_fail(LB_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", path,
                                                (unsigned long long)n);
    if (si >= 0 && ns < n) return lb_fail(LB_ERR_FORMAT, "%s: %llu scores for %llu tokens", path,
                                          (unsigned long long)ns, (unsigned long long)n);
    if (yi >= 0 && ny < n) return lb_fail(LB_ERR_FORMAT, "%s: %llu token types for %llu tokens", path,
                                          (unsigned long long)ny, (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += lb_gguf_arr_str(g, ti, i).len;
    if ((st = tok_vocab_alloc(t, (int32_t)n, total, spm)) != LB_OK) return st;
    size_t used = 0;
    for (uint64_t i = 0; i < n; i++) {
        lb_str s = lb_gguf_arr_str(g, ti, i);
        if ((st = tok_vocab_set(t, (int32_t)i, s.ptr, s.len, &used)) != LB_OK) return st;
        int64_t ty = TOK_NORMAL;
        double sc = 0;
        if (yi >= 0 && (!lb_gguf_arr_i64(g, yi, i, &ty) || ty < 0 || ty > TOK_BYTE))
            return lb_fail(LB_ERR_FORMAT, "%s: tokenizer.ggml.token_type[%llu] = %lld is not a token type", path,
                           (unsigned long long)i, (long long)ty);
        t->type[i] = (uint8_t)(ty == 0 ? TOK_NORMAL : ty); /* 0 = undefined */
        t->has_unused |= ty == TOK_UNUSED;
        if (spm && si >= 0) {
            if (!lb_gguf_arr_f64(g, si, i, &sc))
                return lb_fail(LB_ERR_FORMAT, "%s: tokenizer.ggml.scores[%llu] unreadable", path, (unsigned long long)i);
            t->score[i] = (float)sc;
        }
    }
    t->source = TOK_SRC_GGUF;
    if ((st = tok_vocab_index(t, false)) != LB_OK) return st;

    bool add_bos = spm, ign = false, flag;
    if (spm) {
        t->kind = TOK_KIND_SPM_BPE;
        t->model = TOK_MODEL_BPE_SCORE;
        t->byte_fallback = true;
        t->spm_dummy_prefix = true;
        t->spm_escape_ws = true;
        if (lb_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &flag)) t->spm_dummy_prefix = flag;
        if (lb_gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &flag)) t->spm_remove_extra_ws = flag;
        t->unk_id = get_id(g, "tokenizer.ggml.unknown_token_id", n > 0 ? 0 : -1, (int32_t)n);
        t->bos = get_id(g, "tokenizer.ggml.bos_token_id", n > 1 ? 1 : -1, (int32_t)n);
        t->eos = get_id(g, "tokenizer.ggml.eos_token_id", n > 2 ? 2 : -1, (int32_t)n);
        st = tok_set_spm_decoder(t);
    } else {
        t->kind = TOK_KIND_BYTE_BPE;
        t->model = TOK_MODEL_BPE_RANK;
        t->unk_id = -1;
        lb_str pre;
        char name[64] = "default";
        if (lb_gguf_get_str(g, "tokenizer.ggml.pre", &pre) && pre.len > 0 && pre.len < sizeof name) {
            memcpy(name, pre.ptr, pre.len);
            name[pre.len] = '\0';
        }
        if ((t->pre_name = lb_strdup(name)) == NULL) return LB_ERR_NOMEM;
        if ((st = tok_pre_from_gguf_name(t, name, &add_bos, &ign)) != LB_OK) return st;
        t->ignore_merges = ign;
        if ((st = load_merges(t, g, path)) != LB_OK) return st;
        t->bos = get_id(g, "tokenizer.ggml.bos_token_id", -1, (int32_t)n);
        t->eos = get_id(g, "tokenizer.ggml.eos_token_id", -1, (int32_t)n);
        st = tok_set_bytelevel_decoder(t);
    }
    if (st != LB_OK) return st;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_CONTROL || ty == TOK_USER_DEFINED || (spm && ty == TOK_UNKNOWN)) &&
            (st = tok_add_added(t, i, ty != TOK_USER_DEFINED, false, false, false, false)) != LB_OK)
            return st;
    }
    if (lb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag)) add_bos = flag;
    bool add_eos = false;
    if (lb_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag)) add_eos = flag;
    return tok_set_template(t, &t->bos, add_bos && t->bos >= 0, &t->eos, add_eos && t->eos >= 0);
}
