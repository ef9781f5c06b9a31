/* Llama-family configuration from each source kind:
 *   config.json (transformers LlamaConfig / MistralConfig / Qwen2Config, incl. rope_scaling
 *   "linear" and "llama3" and transformers 5's rope_parameters), GGUF metadata (llama.cpp
 *   llama-arch keys), and the llama2.c header. Shapes are cross-checked later by weights.c. */
#include "model/model.h"

#include <math.h>
#include <string.h>

// ---- config.json ----

static bool json_num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return true;
    }
    if (cJSON_IsArray(v) && cJSON_IsNumber(cJSON_GetArrayItem(v, 0))) { /* eos_token_id: [a, b] */
        *out = cJSON_GetArrayItem(v, 0)->valuedouble;
        return true;
    }
    return false;
}

static lb_status need_int(const cJSON *o, const char *file, const char *key, int64_t *out)
{
    double d;
    if (!json_num(o, key, &d)) return lb_fail(LB_ERR_FORMAT, "%s: missing or non-numeric \"%s\"", file, key);
    if (d < 1 || d > 1e9 || d != floor(d))
        return lb_fail(LB_ERR_FORMAT, "%s: \"%s\" = %g is not a sensible positive integer", file, key, d);
    *out = (int64_t)d;
    return LB_OK;
}

static lb_status rope_from_json(const cJSON *c, const char *file, lb_llama_config *cfg)
{
    /* transformers >= 5 nests theta and scaling in rope_parameters; older configs use
     * rope_theta + rope_scaling. Accept both. */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(c, "rope_parameters");
    double d;
    if (json_num(c, "rope_theta", &d)) cfg->rope_theta = (float)d;
    if (cJSON_IsObject(rp)) {
        if (json_num(rp, "rope_theta", &d)) cfg->rope_theta = (float)d;
        if (!cJSON_IsObject(rs)) rs = rp;
    }
    if (!cJSON_IsObject(rs)) return LB_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : "default";
    if (strcmp(type, "default") == 0) return LB_OK;
    if (!json_num(rs, "factor", &d) || !(d > 0))
        return lb_fail(LB_ERR_FORMAT, "%s: rope_scaling of type \"%s\" needs a positive \"factor\"", file, type);
    cfg->rope_factor = (float)d;
    if (strcmp(type, "linear") == 0) {
        cfg->rope_scaling = LB_ROPE_SCALING_LINEAR;
    } else if (strcmp(type, "llama3") == 0) {
        cfg->rope_scaling = LB_ROPE_SCALING_LLAMA3;
        double lo, hi, orig;
        if (!json_num(rs, "low_freq_factor", &lo) || !json_num(rs, "high_freq_factor", &hi) ||
            !json_num(rs, "original_max_position_embeddings", &orig) || !(hi > lo) || orig < 1)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: llama3 rope_scaling needs low_freq_factor < high_freq_factor and "
                           "original_max_position_embeddings",
                           file);
        cfg->rope_low_freq_factor = (float)lo;
        cfg->rope_high_freq_factor = (float)hi;
        cfg->rope_orig_ctx = (int64_t)orig;
    } else {
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: rope_scaling type \"%s\" is not supported (linear, llama3 are)", file,
                       type);
    }
    return LB_OK;
}

static lb_status from_config_json(const lb_source *src, lb_llama_config *cfg)
{
    const cJSON *c = src->config;
    char file[512];
    snprintf(file, sizeof file, "%s/config.json", src->dir);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(c, "model_type");
    if (!cJSON_IsString(mt)) return lb_fail(LB_ERR_FORMAT, "%s: missing \"model_type\"", file);
    const char *arch = mt->valuestring;
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "mistral") != 0 && strcmp(arch, "qwen2") != 0)
        return lb_fail(LB_ERR_UNSUPPORTED,
                       "%s: architecture \"%s\" is not supported (llama, mistral and qwen2 are)", file, arch);
    snprintf(cfg->arch, sizeof cfg->arch, "%s", arch);
    lb_status st;
    if ((st = need_int(c, file, "hidden_size", &cfg->n_embd)) || (st = need_int(c, file, "intermediate_size", &cfg->n_ff)) ||
        (st = need_int(c, file, "num_hidden_layers", &cfg->n_layer)) ||
        (st = need_int(c, file, "num_attention_heads", &cfg->n_head)) ||
        (st = need_int(c, file, "vocab_size", &cfg->n_vocab)))
        return st;
    double d;
    cfg->n_head_kv = cfg->n_head;
    if (json_num(c, "num_key_value_heads", &d) && d >= 1) cfg->n_head_kv = (int64_t)d;
    cfg->head_dim = cfg->n_embd / cfg->n_head;
    if (json_num(c, "head_dim", &d) && d >= 1) cfg->head_dim = (int64_t)d;
    cfg->n_ctx_train = json_num(c, "max_position_embeddings", &d) ? (int64_t)d : 2048;
    cfg->norm_eps = json_num(c, "rms_norm_eps", &d) ? (float)d : 1e-6f;
    cfg->rope_theta = 10000.0f;
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(c, "tie_word_embeddings");
    cfg->tied_embeddings = cJSON_IsBool(tie) && cJSON_IsTrue(tie);
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(c, "attention_bias");
    cfg->qkv_bias = strcmp(arch, "qwen2") == 0 || (cJSON_IsBool(bias) && cJSON_IsTrue(bias));
    cfg->bos_id = json_num(c, "bos_token_id", &d) ? (int32_t)d : -1;
    cfg->eos_id = json_num(c, "eos_token_id", &d) ? (int32_t)d : -1;
    cfg->rope_interleaved = false; /* HF checkpoints keep q/k in rotate-half order */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "silu") != 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (silu is)", file, act->valuestring);
    return rope_from_json(c, file, cfg);
}

// ---- GGUF ----

static lb_status gguf_int(const lb_gguf *g, const char *arch, const char *suffix, bool required, int64_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    if (lb_gguf_get_i64(g, key, &v)) {
        if (v < 1 || v > 1000000000)
            return lb_fail(LB_ERR_FORMAT, "%s: metadata %s = %lld is out of range", lb_gguf_path(g), key, (long long)v);
        *out = v;
        return LB_OK;
    }
    if (required) return lb_fail(LB_ERR_FORMAT, "%s: missing metadata key %s", lb_gguf_path(g), key);
    return LB_OK;
}

static lb_status from_gguf(const lb_source *src, lb_llama_config *cfg)
{
    const lb_gguf *g = src->gguf;
    const char *path = lb_gguf_path(g);
    lb_str a;
    if (!lb_gguf_get_str(g, "general.architecture", &a))
        return lb_fail(LB_ERR_FORMAT, "%s: missing metadata key general.architecture", path);
    if (!lb_str_eq(a, "llama") && !lb_str_eq(a, "qwen2"))
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: architecture \"%.*s\" is not supported (llama, qwen2 are)", path,
                       (int)(a.len > 64 ? 64 : a.len), a.ptr);
    snprintf(cfg->arch, sizeof cfg->arch, "%.*s", (int)a.len, a.ptr);
    const char *arch = cfg->arch;
    lb_status st;
    if ((st = gguf_int(g, arch, "embedding_length", true, &cfg->n_embd)) ||
        (st = gguf_int(g, arch, "feed_forward_length", true, &cfg->n_ff)) ||
        (st = gguf_int(g, arch, "block_count", true, &cfg->n_layer)) ||
        (st = gguf_int(g, arch, "attention.head_count", true, &cfg->n_head)))
        return st;
    cfg->n_head_kv = cfg->n_head;
    cfg->head_dim = cfg->n_embd / cfg->n_head;
    cfg->n_ctx_train = 2048;
    cfg->n_vocab = 0;
    if ((st = gguf_int(g, arch, "attention.head_count_kv", false, &cfg->n_head_kv)) ||
        (st = gguf_int(g, arch, "attention.key_length", false, &cfg->head_dim)) ||
        (st = gguf_int(g, arch, "context_length", false, &cfg->n_ctx_train)) ||
        (st = gguf_int(g, arch, "vocab_size", false, &cfg->n_vocab)))
        return st;
    if (cfg->n_vocab == 0) {
        const lb_tensor_info *e = lb_source_find(src, "token_embd.weight");
        if (!e || e->n_dims != 2) return lb_fail(LB_ERR_FORMAT, "%s: tensor token_embd.weight missing or not 2-D", path);
        cfg->n_vocab = e->shape[0];
    }
    char key[128];
    double d;
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    cfg->norm_eps = lb_gguf_get_f64(g, key, &d) ? (float)d : 1e-5f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    cfg->rope_theta = lb_gguf_get_f64(g, key, &d) ? (float)d : 10000.0f;
    lb_str stype;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (lb_gguf_get_str(g, key, &stype) && lb_str_eq(stype, "linear")) {
        snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
        if (lb_gguf_get_f64(g, key, &d) && d > 0 && d != 1) {
            cfg->rope_scaling = LB_ROPE_SCALING_LINEAR;
            cfg->rope_factor = (float)d;
        }
    } else if (lb_gguf_get_str(g, key, &stype) && !lb_str_eq(stype, "none")) {
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: %s \"%.*s\" is not supported (linear, none are)", path, key,
                       (int)(stype.len > 64 ? 64 : stype.len), stype.ptr);
    }
    /* llama3 scaling arrives as a rope_freqs tensor of per-pair divisors (applied in rope.c). */
    if (lb_source_find(src, "rope_freqs.weight")) cfg->rope_scaling = LB_ROPE_SCALING_LLAMA3;
    /* llama.cpp's converter permutes llama q/k to Meta's interleaved pairs; qwen2 stays NEOX. */
    cfg->rope_interleaved = strcmp(arch, "llama") == 0;
    cfg->tied_embeddings = lb_source_find(src, "output.weight") == NULL;
    cfg->qkv_bias = lb_source_find(src, "blk.0.attn_q.bias") != NULL;
    int64_t v;
    cfg->bos_id = lb_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &v) ? (int32_t)v : -1;
    cfg->eos_id = lb_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &v) ? (int32_t)v : -1;
    return LB_OK;
}

// ---- llama2.c ----

static lb_status from_llama2c(const lb_source *src, lb_llama_config *cfg)
{
    const lb_llama2c_header *h = &src->l2c;
    snprintf(cfg->arch, sizeof cfg->arch, "llama");
    cfg->n_embd = h->dim;
    cfg->n_ff = h->hidden_dim;
    cfg->n_layer = h->n_layers;
    cfg->n_head = h->n_heads;
    cfg->n_head_kv = h->n_kv_heads;
    cfg->head_dim = h->dim / h->n_heads;
    cfg->n_vocab = h->vocab_size;
    cfg->n_ctx_train = h->seq_len;
    cfg->norm_eps = 1e-5f;   /* llama2.c run.c rmsnorm */
    cfg->rope_theta = 10000.0f;
    cfg->rope_interleaved = true;
    cfg->tied_embeddings = h->shared_classifier;
    cfg->bos_id = 1;
    cfg->eos_id = 2;
    return LB_OK;
}

lb_status lb_config_from_source(const lb_source *src, lb_llama_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->rope_factor = 1.0f;
    lb_status st;
    switch (src->kind) {
    case LB_SOURCE_GGUF: st = from_gguf(src, cfg); break;
    case LB_SOURCE_LLAMA2C: st = from_llama2c(src, cfg); break;
    default:
        if (!src->config)
            return lb_fail(LB_ERR_FORMAT, "%s: no config.json beside the weights (looked in %s)", src->path, src->dir);
        st = from_config_json(src, cfg);
        break;
    }
    if (st) return st;
    /* Llama with attention_bias also has o_proj.bias, with mlp_bias gate/up/down biases (HF names;
     * GGUF the same under llama.cpp's): lowbit's block has no place for them, and dropping them
     * would give wrong logits without a word, so refuse. */
    static const char *const extra_bias[][2] = {
        {"model.layers.0.self_attn.o_proj.bias", "blk.0.attn_output.bias"},
        {"model.layers.0.mlp.gate_proj.bias", "blk.0.ffn_gate.bias"},
        {"model.layers.0.mlp.up_proj.bias", "blk.0.ffn_up.bias"},
        {"model.layers.0.mlp.down_proj.bias", "blk.0.ffn_down.bias"},
    };
    for (size_t i = 0; i < sizeof extra_bias / sizeof extra_bias[0]; i++) {
        const char *name = extra_bias[i][src->kind == LB_SOURCE_GGUF ? 1 : 0];
        const lb_tensor_info *t = lb_source_find(src, name);
        if (t)
            return lb_fail(LB_ERR_UNSUPPORTED,
                           "%s: tensor '%s' at offset %llu: biases on the attention output or the MLP are not "
                           "supported (q/k/v biases are)",
                           t->file, name, (unsigned long long)t->offset);
    }
    if (cfg->n_head % cfg->n_head_kv != 0 || cfg->head_dim % 2 != 0)
        return lb_fail(LB_ERR_FORMAT, "%s: n_head %lld is not a multiple of n_head_kv %lld, or head_dim %lld is odd",
                       src->path, (long long)cfg->n_head, (long long)cfg->n_head_kv, (long long)cfg->head_dim);
    return LB_OK;
}
