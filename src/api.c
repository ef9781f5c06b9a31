/* The public API (include/lowbit.h) over the internal modules: opening a model from any
 * source, describing it, tokens, logits. Perplexity lives in src/eval, generation in
 * src/model/generate.c. */
#include "model/act_quant.h"
#include "model/down_rotation.h"
#include "model/model.h"
#include "model/rope.h"
#include "model/stream.h"
#include "model/weights.h"
#include "quant/types.h"

#include <cblas.h>
#include <string.h>

// ---- metadata for display ----

static lb_status meta_add(lb_model *m, const char *key, const char *val)
{
    char **k = realloc(m->meta_keys, (size_t)(m->n_meta + 1) * sizeof *k);
    if (k) m->meta_keys = k;
    char **v = realloc(m->meta_vals, (size_t)(m->n_meta + 1) * sizeof *v);
    if (v) m->meta_vals = v;
    if (!k || !v) return lb_fail(LB_ERR_NOMEM, "out of memory collecting metadata");
    m->meta_keys[m->n_meta] = lb_strdup(key);
    m->meta_vals[m->n_meta] = lb_strdup(val);
    if (!m->meta_keys[m->n_meta] || !m->meta_vals[m->n_meta]) return LB_ERR_NOMEM;
    m->n_meta++;
    return LB_OK;
}

static lb_status collect_meta(lb_model *m)
{
    const lb_source *s = m->src;
    char buf[512];
    lb_status st = LB_OK;
    if (s->gguf) {
        for (int64_t i = 0; i < lb_gguf_n_kv(s->gguf) && !st; i++) {
            lb_str k = lb_gguf_kv_key(s->gguf, i);
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(k.len < 255 ? k.len : 255), k.ptr);
            lb_gguf_kv_format(s->gguf, i, buf, sizeof buf);
            st = meta_add(m, key, buf);
        }
    } else if (s->config) {
        for (const cJSON *it = s->config->child; it && !st; it = it->next) {
            char *txt = cJSON_PrintUnformatted(it);
            if (!txt) return lb_fail(LB_ERR_NOMEM, "out of memory printing config.json");
            snprintf(buf, sizeof buf, "%s", txt);
            free(txt);
            st = meta_add(m, it->string ? it->string : "?", buf);
        }
    } else if (s->kind == LB_SOURCE_LLAMA2C) {
        const lb_llama2c_header *h = &s->l2c;
        const char *keys[] = {"version", "dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len", "shared_classifier"};
        int vals[] = {h->version, h->dim, h->hidden_dim, h->n_layers, h->n_heads, h->n_kv_heads, h->vocab_size, h->seq_len, h->shared_classifier};
        for (size_t i = 0; i < sizeof vals / sizeof vals[0] && !st; i++) {
            snprintf(buf, sizeof buf, "%d", vals[i]);
            st = meta_add(m, keys[i], buf);
        }
    }
    return st;
}

// ---- open / close ----

static lb_status load_weights(lb_model *m)
{
    lb_status st = lb_stream_load_weights(m);
    return st ? st : lb_rope_init(&m->rope, &m->cfg, m->src);
}

/* The down_proj input rotation of an --online-hadamard model, if it has one. */
static lb_status load_down_rotation(lb_model *m)
{
    bool present = false;
    lb_status st = lb_down_rotation_read(m->src, m->cfg.n_ff, &m->down_rot, &present);
    if (st || !present) return st;
    m->down_rot_tmp = lb_malloc((size_t)(m->n_threads * m->down_rot.m) * sizeof(float), "online rotation scratch");
    return m->down_rot_tmp ? LB_OK : LB_ERR_NOMEM;
}

lb_status lb_model_open(const char *path, const lb_open_params *params, lb_model **out)
{
    *out = NULL;
    lb_clear_error();
    lb_model *m = lb_calloc(1, sizeof *m, "model");
    if (!m) return LB_ERR_NOMEM;
    if (params) m->params = *params;
    m->n_threads = m->params.n_threads > 0 ? m->params.n_threads : lb_n_cores();
    openblas_set_num_threads(m->n_threads);
    lb_status st = lb_source_open(path, &m->src);
    if (!st) st = lb_config_from_source(m->src, &m->cfg);
    if (!st) st = collect_meta(m);
    if (!st) {
        if (m->params.tokenizer_path)
            st = lb_tokenizer_load(m->params.tokenizer_path, &m->tok);
        else
            st = lb_tokenizer_from_source(m->src, &m->tok);
        if (st == LB_ERR_FORMAT && m->params.no_weights) { /* info works without a tokenizer */
            m->tok = NULL;
            st = LB_OK;
        }
    }
    if (!st && m->tok) {
        if (lb_tokenizer_bos(m->tok) >= 0) m->cfg.bos_id = lb_tokenizer_bos(m->tok);
        if (lb_tokenizer_eos(m->tok) >= 0) m->cfg.eos_id = lb_tokenizer_eos(m->tok);
    }
    if (!st && !m->params.no_weights) st = load_weights(m);
    if (!st && !m->params.no_weights) st = lb_model_reserve(m, 1, 1);
    if (!st && !m->params.no_weights) st = load_down_rotation(m);
    if (!st && !m->params.no_weights) st = lb_act_quant_setup(m);
    if (st) {
        lb_model_close(m);
        return st;
    }
    *out = m;
    return LB_OK;
}

void lb_model_close(lb_model *m)
{
    if (!m) return;
    if (m->blocks)
        for (int64_t l = 0; l < m->cfg.n_layer; l++) lb_block_free(&m->blocks[l]);
    free(m->blocks);
    lb_stream_close(m->stream);
    free(m->wdec);
    if (m->output.f32 != m->tok_embd) free(m->output.f32);
    free(m->tok_embd);
    free(m->out_norm);
    lb_rope_free(&m->rope);
    free(m->act_scale);
    lb_kron_rotation_free(&m->down_rot);
    free(m->down_rot_tmp);
    float *scratch[] = {m->x, m->xn, m->q, m->k, m->v, m->att, m->gate, m->up, m->qout, m->scores};
    free(m->act);
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) free(scratch[i]);
    for (int64_t i = 0; i < m->n_meta; i++) {
        free(m->meta_keys[i]);
        free(m->meta_vals[i]);
    }
    free(m->meta_keys);
    free(m->meta_vals);
    lb_tokenizer_free(m->tok);
    lb_source_close(m->src);
    free(m);
}

// ---- introspection ----

lb_status lb_model_describe(const lb_model *m, lb_model_desc *d)
{
    const lb_llama_config *c = &m->cfg;
    memset(d, 0, sizeof *d);
    d->format = lb_source_kind_name(m->src->kind);
    d->arch = c->arch;
    d->tokenizer = m->tok ? lb_tokenizer_kind(m->tok) : "none";
    d->n_vocab = c->n_vocab;
    d->n_embd = c->n_embd;
    d->n_ff = c->n_ff;
    d->n_layer = c->n_layer;
    d->n_head = c->n_head;
    d->n_head_kv = c->n_head_kv;
    d->head_dim = c->head_dim;
    d->n_ctx_train = c->n_ctx_train;
    d->norm_eps = c->norm_eps;
    d->rope_theta = c->rope_theta;
    d->rope_scaling = c->rope_scaling;
    d->rope_factor = c->rope_factor;
    d->rope_interleaved = c->rope_interleaved;
    d->tied_embeddings = c->tied_embeddings;
    d->qkv_bias = c->qkv_bias;
    d->bos_id = c->bos_id;
    d->eos_id = c->eos_id;
    d->add_bos = m->tok ? lb_tokenizer_adds_bos(m->tok) : c->bos_id >= 0;
    for (int64_t i = 0; i < m->src->n_tensors; i++) {
        d->n_params += m->src->tensors[i].n_elements;
        d->n_bytes += m->src->tensors[i].nbytes;
    }
    return LB_OK;
}

int64_t lb_model_n_tensors(const lb_model *m) { return m->src->n_tensors; }

lb_status lb_model_tensor(const lb_model *m, int64_t i, lb_tensor_desc *out)
{
    if (i < 0 || i >= m->src->n_tensors) return lb_fail(LB_ERR_ARG, "tensor index %lld out of range", (long long)i);
    const lb_tensor_info *t = &m->src->tensors[i];
    const lb_type_traits *tr = lb_type_traits_of(t->type);
    out->name = t->name;
    out->dtype = tr ? tr->name : "?";
    out->n_dims = t->n_dims;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->n_bytes = t->nbytes;
    return LB_OK;
}

bool lb_model_meta(const lb_model *m, int64_t i, const char **key, const char **value)
{
    if (i < 0 || i >= m->n_meta) return false;
    *key = m->meta_keys[i];
    *value = m->meta_vals[i];
    return true;
}

// ---- tokens ----

static lb_status need_tokenizer(const lb_model *m)
{
    if (m->tok) return LB_OK;
    return lb_fail(LB_ERR_FORMAT, "%s: no tokenizer found (looked for tokenizer.json, tokenizer.model, tokenizer.bin in %s)",
                   m->src->path, m->src->dir);
}

lb_status lb_tokenize(const lb_model *m, const char *text, size_t len, bool add_bos, bool parse_special, int32_t **tokens,
                      int64_t *n_tokens)
{
    *tokens = NULL;
    *n_tokens = 0;
    lb_status st = need_tokenizer(m);
    return st ? st : lb_tokenizer_encode(m->tok, text, len, add_bos, parse_special, tokens, n_tokens);
}

int64_t lb_token_piece(const lb_model *m, int32_t token, char *buf, size_t cap)
{
    return m->tok ? lb_tokenizer_piece(m->tok, token, buf, cap) : -1;
}

lb_status lb_detokenize(const lb_model *m, const int32_t *tokens, int64_t n, char **text, size_t *len)
{
    *text = NULL;
    lb_status st = need_tokenizer(m);
    return st ? st : lb_tokenizer_decode(m->tok, tokens, n, text, len);
}

// ---- logits ----

lb_status lb_eval_logits(lb_model *m, const int32_t *tokens, int64_t n_tokens, float *logits)
{
    if (n_tokens < 1) return lb_fail(LB_ERR_ARG, "no tokens to evaluate");
    lb_kv_cache kv;
    lb_status st = lb_kv_cache_init(&kv, &m->cfg, 1, n_tokens);
    if (!st) st = lb_forward(m, &kv, tokens, 1, n_tokens, 0, 0, logits);
    lb_kv_cache_free(&kv);
    return st;
}
