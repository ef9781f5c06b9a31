/* config.json of an exported checkpoint. quantization_config follows what the loaders read:
 *   FP8: compressed-tensors' QuantizationConfig (quant_method "compressed-tensors", format
 *        "float-quantized", config_groups of QuantizationScheme {targets, weights, input_activations},
 *        ignore), as llm-compressor's FP8 / FP8_DYNAMIC / FP8_BLOCK presets write it. One group
 *        targets "Linear" when every quantized linear has the same format; with a per-layer
 *        policy mixing E4M3 and E5M2 each group lists its modules by name.
 *   NF4: transformers' BitsAndBytesConfig.to_dict() keys (load_in_4bit, bnb_4bit_quant_type,
 *        bnb_4bit_use_double_quant, bnb_4bit_compute_dtype, llm_int8_skip_modules).
 * For sources without a config.json the Llama/Mistral/Qwen2 config is rebuilt from lb_llama_config. */
#include "pipeline/export_hf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *hf_arch(const char *arch, const char **model_type)
{
    if (strcmp(arch, "qwen2") == 0) return *model_type = "qwen2", "Qwen2ForCausalLM";
    if (strcmp(arch, "mistral") == 0) return *model_type = "mistral", "MistralForCausalLM";
    return *model_type = "llama", "LlamaForCausalLM";
}

/* An f32 hyper-parameter as the short decimal it came from (1e-05, not 9.99999974737875e-06). */
static double short_f32(float x)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)x);
    return strtod(buf, NULL);
}

static cJSON *config_from_desc(const lb_llama_config *c)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    const char *model_type, *cls = hf_arch(c->arch, &model_type);
    cJSON *archs = cJSON_AddArrayToObject(j, "architectures");
    if (archs) cJSON_AddItemToArray(archs, cJSON_CreateString(cls));
    cJSON_AddStringToObject(j, "model_type", model_type);
    cJSON_AddNumberToObject(j, "vocab_size", (double)c->n_vocab);
    cJSON_AddNumberToObject(j, "hidden_size", (double)c->n_embd);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)c->n_ff);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)c->n_layer);
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)c->n_head);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)c->n_head_kv);
    cJSON_AddNumberToObject(j, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)c->n_ctx_train);
    cJSON_AddNumberToObject(j, "rms_norm_eps", short_f32(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", short_f32(c->rope_theta));
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    if (c->rope_scaling == LB_ROPE_SCALING_NONE) {
        cJSON_AddNullToObject(j, "rope_scaling");
    } else {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        bool l3 = c->rope_scaling == LB_ROPE_SCALING_LLAMA3;
        cJSON_AddStringToObject(rs, "rope_type", l3 ? "llama3" : "linear");
        cJSON_AddNumberToObject(rs, "factor", short_f32(c->rope_factor));
        if (l3) {
            cJSON_AddNumberToObject(rs, "low_freq_factor", short_f32(c->rope_low_freq_factor));
            cJSON_AddNumberToObject(rs, "high_freq_factor", short_f32(c->rope_high_freq_factor));
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", (double)c->rope_orig_ctx);
        }
    }
    return j;
}

static cJSON *string_array(char **s, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

/* The "ignore" / skip list: lm_head (tied or not, as llm-compressor writes it) and kept linears. */
static cJSON *ignore_list(const lb_export_summary *s)
{
    cJSON *a = string_array(s->modules[LB_EXPORT_KEEP], s->n_modules[LB_EXPORT_KEEP]);
    if (a) cJSON_InsertItemInArray(a, 0, cJSON_CreateString("lm_head"));
    return a;
}

static cJSON *fp8_group(const lb_export_summary *s, lb_export_kind k, bool by_name)
{
    cJSON *g = cJSON_CreateObject();
    if (!g) return NULL;
    if (by_name) cJSON_AddItemToObject(g, "targets", string_array(s->modules[k], s->n_modules[k]));
    else cJSON_AddItemToObject(g, "targets", string_array((char *[]){"Linear"}, 1));
    static const char *const strategy[LB_FP8_SCALING_COUNT] = {"tensor", "channel", "block"};
    cJSON *w = cJSON_AddObjectToObject(g, "weights");
    cJSON_AddNumberToObject(w, "num_bits", 8);
    cJSON_AddStringToObject(w, "type", "float");
    cJSON_AddBoolToObject(w, "symmetric", true);
    cJSON_AddStringToObject(w, "strategy", strategy[s->scaling]);
    if (s->scaling == LB_FP8_SCALE_BLOCK) {
        cJSON *bs = cJSON_AddArrayToObject(w, "block_structure");
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(LB_FP8_BLOCK));
        cJSON_AddItemToArray(bs, cJSON_CreateNumber(LB_FP8_BLOCK));
    }
    cJSON_AddBoolToObject(w, "dynamic", false);
    cJSON_AddNullToObject(w, "group_size");
    cJSON_AddStringToObject(w, "observer", "minmax");
    if (!s->act_dynamic) {
        cJSON_AddNullToObject(g, "input_activations");
    } else {
        /* FP8_DYNAMIC: one scale per token; FP8_BLOCK: per token and group of 128 columns */
        cJSON *a = cJSON_AddObjectToObject(g, "input_activations");
        bool block = s->scaling == LB_FP8_SCALE_BLOCK;
        cJSON_AddNumberToObject(a, "num_bits", 8);
        cJSON_AddStringToObject(a, "type", "float");
        cJSON_AddBoolToObject(a, "symmetric", true);
        cJSON_AddStringToObject(a, "strategy", block ? "group" : "token");
        if (block) cJSON_AddNumberToObject(a, "group_size", LB_FP8_BLOCK);
        else cJSON_AddNullToObject(a, "group_size");
        cJSON_AddBoolToObject(a, "dynamic", true);
        cJSON_AddNullToObject(a, "observer");
    }
    cJSON_AddNullToObject(g, "output_activations");
    return g;
}

static cJSON *fp8_config(const lb_export_summary *s)
{
    cJSON *q = cJSON_CreateObject();
    if (!q) return NULL;
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON_AddStringToObject(q, "format", "float-quantized");
    cJSON_AddStringToObject(q, "quantization_status", "compressed");
    bool mixed = s->kinds_used[LB_EXPORT_E4M3] && s->kinds_used[LB_EXPORT_E5M2];
    cJSON *groups = cJSON_AddObjectToObject(q, "config_groups");
    int g = 0;
    for (int k = LB_EXPORT_E4M3; k <= LB_EXPORT_E5M2; k++) {
        if (!s->kinds_used[k]) continue;
        char name[24];
        snprintf(name, sizeof name, "group_%d", g++);
        cJSON_AddItemToObject(groups, name, fp8_group(s, (lb_export_kind)k, mixed));
    }
    cJSON_AddItemToObject(q, "ignore", ignore_list(s));
    cJSON_AddNullToObject(q, "kv_cache_scheme");
    return q;
}

static cJSON *nf4_config(const lb_export_summary *s)
{
    cJSON *q = cJSON_CreateObject();
    if (!q) return NULL;
    cJSON_AddStringToObject(q, "quant_method", "bitsandbytes");
    cJSON_AddBoolToObject(q, "load_in_4bit", true);
    cJSON_AddBoolToObject(q, "load_in_8bit", false);
    cJSON_AddStringToObject(q, "bnb_4bit_quant_type", "nf4");
    cJSON_AddBoolToObject(q, "bnb_4bit_use_double_quant", s->nf4_double_quant);
    cJSON_AddStringToObject(q, "bnb_4bit_compute_dtype", "bfloat16");
    cJSON_AddStringToObject(q, "bnb_4bit_quant_storage", "uint8");
    cJSON_AddItemToObject(q, "llm_int8_skip_modules", ignore_list(s));
    return q;
}

cJSON *lb_export_config(const lb_source *src, const lb_llama_config *c, const lb_export_summary *s)
{
    cJSON *j = src->config ? cJSON_Duplicate(src->config, true) : config_from_desc(c);
    if (!j) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(j, "quantization_config");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "torch_dtype");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "tie_word_embeddings");
    cJSON_AddStringToObject(j, "torch_dtype", s->torch_dtype);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", s->tied);
    cJSON *q = s->kinds_used[LB_EXPORT_NF4] ? nf4_config(s) : fp8_config(s);
    if (!q) {
        cJSON_Delete(j);
        return NULL;
    }
    cJSON_AddItemToObject(j, "quantization_config", q);
    return j;
}
