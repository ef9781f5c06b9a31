/* Conversion of any model source to a GGUF that llama.cpp loads unchanged, written the way
 * llama.cpp's own converters write it: convert_hf_to_gguf.py (LlamaModel, Qwen2Model) for Hugging
 * Face checkpoints, examples/convert-llama2c-to-ggml for llama2.c ones, and a GGUF source is
 * re-encoded tensor by tensor with its tokenizer.* metadata copied as it is.
 *
 *   metadata   general.architecture ("llama" also for Mistral, "qwen2"), general.name,
 *              general.file_type (LLAMA_FTYPE), general.quantization_version, the
 *              {arch}.* hyper-parameters of llama-arch.cpp, rope scaling (linear as keys, llama3
 *              as a rope_freqs.weight tensor: convert_hf_to_gguf generate_extra_tensors).
 *   tensors    llama.cpp names; HF llama q/k rows permuted from rotate-half to interleaved pairs
 *              (LlamaModel.permute: row h*hd + 2i + j <- row h*hd + j*hd/2 + i), qwen2 not;
 *              1-D tensors F32, 2-D tensors the requested type; tied embeddings as token_embd only.
 *   vocabulary tokenizer.ggml.* from the model's tokenizer: "llama" (SentencePiece-style, incl.
 *              llama2.c vocabularies as convert-llama2c-to-ggml renames them) or "gpt2" (byte-
 *              level BPE with merges and a pre-tokenizer name).
 *
 * Every tensor is decoded to f32 (lb_tensor_to_f32, any input type), transformed and encoded on
 * its own, so peak memory is one tensor in f32 plus its encoding. The output type of each tensor
 * comes from the job: one fixed type for lb_convert, llama-quantize's per-tensor recipes for
 * lb_quantize_model (src/pipeline/quantize_model.c). */
#include "io/gguf_write.h"
#include "model/convert.h"
#include "algo/rotate.h"
#include "model/down_rotation.h"
#include "model/model.h"
#include "model/weights.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <math.h>
#include <string.h>

// ---- plan: what goes into the file ----

typedef struct planned {
    char name[64];                 /* GGUF name */
    const lb_tensor_info *src;     /* NULL for computed tensors (rope_freqs) */
    const float *computed;         /* rope_freqs values */
    int64_t permute_heads;         /* > 0: LlamaModel.permute with this many heads */
    lb_type type;
    int n_dims;
    int64_t shape[LB_MAX_DIMS];
} planned;

typedef struct plan {
    planned *t;
    int64_t n, cap;
} plan;

typedef struct conv {
    const lb_convert_job *job;
    lb_source *src;
    lb_tokenizer *tok;
    lb_llama_config cfg;
    const char *arch;      /* output architecture: "llama" or "qwen2" */
    bool hf;               /* source uses HF names (and rotate-half q/k) */
    float *rope_freqs;     /* [head_dim/2] for llama3 scaling, else NULL */
    double *Q;             /* [n_embd][n_embd] residual rotation (job->rotate), else NULL */
    lb_kron_rotation R;    /* down_proj input rotation written to the metadata (n = 0: none) */
    bool apply_R;          /* ... and folded into ffn_down.weight here (not the source's) */
    float *R_tmp;          /* [R.m] */
    plan plan;
} conv;

static const struct {
    const char *hf, *gguf;
} BLOCK_NAMES[] = {
    {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"},
    {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"},
    {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"},
    {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
};

static const lb_type OUT_TYPE[LB_CONVERT_TYPE_COUNT] = {
    [LB_CONVERT_F32] = LB_TYPE_F32, [LB_CONVERT_F16] = LB_TYPE_F16,
    [LB_CONVERT_BF16] = LB_TYPE_BF16, [LB_CONVERT_Q8_0] = LB_TYPE_Q8_0,
};
/* llama.cpp LLAMA_FTYPE_* */
static const uint32_t FILE_TYPE[LB_CONVERT_TYPE_COUNT] = {
    [LB_CONVERT_F32] = 0, [LB_CONVERT_F16] = 1, [LB_CONVERT_BF16] = 32, [LB_CONVERT_Q8_0] = 7,
};

/* Expected shape of a tensor (outermost first) from the config; false for names we do not know. */
static void expected_shape(const conv *c, const char *gguf, int64_t *d0, int64_t *d1)
{
    const lb_llama_config *g = &c->cfg;
    int64_t q_dim = g->n_head * g->head_dim, kv_dim = g->n_head_kv * g->head_dim;
    const char *s = strncmp(gguf, "blk.", 4) == 0 ? strchr(gguf + 4, '.') + 1 : gguf;
    *d1 = 0;
    if (!strcmp(s, "token_embd.weight") || !strcmp(s, "output.weight")) *d0 = g->n_vocab, *d1 = g->n_embd;
    else if (!strcmp(s, "output_norm.weight") || !strcmp(s, "attn_norm.weight") || !strcmp(s, "ffn_norm.weight"))
        *d0 = g->n_embd;
    else if (!strcmp(s, "attn_q.weight")) *d0 = q_dim, *d1 = g->n_embd;
    else if (!strcmp(s, "attn_k.weight") || !strcmp(s, "attn_v.weight")) *d0 = kv_dim, *d1 = g->n_embd;
    else if (!strcmp(s, "attn_q.bias")) *d0 = q_dim;
    else if (!strcmp(s, "attn_k.bias") || !strcmp(s, "attn_v.bias")) *d0 = kv_dim;
    else if (!strcmp(s, "attn_output.weight")) *d0 = g->n_embd, *d1 = q_dim;
    else if (!strcmp(s, "ffn_gate.weight") || !strcmp(s, "ffn_up.weight")) *d0 = g->n_ff, *d1 = g->n_embd;
    else if (!strcmp(s, "ffn_down.weight")) *d0 = g->n_embd, *d1 = g->n_ff;
    else LB_ASSERT(!"unknown tensor role");
}

static lb_status plan_add(conv *c, const char *gguf, const lb_tensor_info *t, int64_t permute_heads)
{
    int64_t d0, d1;
    expected_shape(c, gguf, &d0, &d1);
    int want_dims = d1 ? 2 : 1;
    if (t->n_dims != want_dims || t->shape[0] != d0 || (d1 && t->shape[1] != d1))
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %llu has %d dims [%lld, %lld], the model config needs [%lld, %lld]",
                       t->file, t->name, (unsigned long long)t->offset, t->n_dims, (long long)t->shape[0],
                       (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)d0, (long long)d1);
    if (c->plan.n == c->plan.cap) {
        int64_t cap = c->plan.cap ? c->plan.cap * 2 : 64;
        planned *p = realloc(c->plan.t, (size_t)cap * sizeof *p);
        if (!p) return lb_fail(LB_ERR_NOMEM, "out of memory planning the conversion");
        c->plan.t = p, c->plan.cap = cap;
    }
    planned *p = &c->plan.t[c->plan.n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", gguf);
    p->src = t;
    p->permute_heads = permute_heads;
    p->n_dims = want_dims;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->type = LB_TYPE_F32; /* 2-D weights: the job's recipe decides once the plan is complete */
    return LB_OK;
}

static const lb_tensor_info *find(const conv *c, const char *hf, const char *gguf, int layer)
{
    char name[160];
    snprintf(name, sizeof name, c->hf ? hf : gguf, layer);
    return lb_source_find(c->src, name);
}

/* convert_hf_to_gguf LlamaModel.generate_extra_tensors for rope_type "llama3": per-pair divisors
 * of the inverse frequencies, computed in float32 with torch's roundings (byte-identical). */
static lb_status llama3_rope_freqs(conv *c)
{
    const lb_llama_config *g = &c->cfg;
    int64_t n = g->head_dim / 2;
    c->rope_freqs = lb_malloc((size_t)n * sizeof(float), "rope_freqs");
    if (!c->rope_freqs) return LB_ERR_NOMEM;
    float factor = g->rope_factor, lo = g->rope_low_freq_factor, hi = g->rope_high_freq_factor;
    float old_ctx = (float)g->rope_orig_ctx;
    float low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
    for (int64_t i = 0; i < n; i++) {
        float freq = 1.0f / powf(g->rope_theta, (float)(2 * i) / (float)g->head_dim);
        /* torch computes `scalar / tensor` as reciprocal(tensor) * scalar: the same roundings */
        float wavelen = (1.0f / freq) * (float)(2 * M_PI);
        if (wavelen < high_wavelen) c->rope_freqs[i] = 1.0f;
        else if (wavelen > low_wavelen) c->rope_freqs[i] = factor;
        else {
            float smooth = ((1.0f / wavelen) * old_ctx - lo) / (hi - lo);
            c->rope_freqs[i] = 1.0f / ((1 - smooth) / factor + smooth);
        }
    }
    return LB_OK;
}

static lb_status make_plan(conv *c)
{
    lb_status st;
    const lb_llama_config *g = &c->cfg;
    /* token embedding: tied HF checkpoints may store only lm_head (tinystories-656k) */
    const lb_tensor_info *embd = find(c, "model.embed_tokens.weight", "token_embd.weight", 0);
    const lb_tensor_info *out = find(c, "lm_head.weight", "output.weight", 0);
    const lb_tensor_info *norm = find(c, "model.norm.weight", "output_norm.weight", 0);
    if (!embd && !out) return lb_fail(LB_ERR_FORMAT, "%s: no token embedding (nor output head) tensor", c->src->path);
    if (!norm) return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' is missing", c->src->path, c->hf ? "model.norm.weight" : "output_norm.weight");
    if ((st = plan_add(c, "token_embd.weight", embd ? embd : out, 0))) return st;
    if (c->rope_freqs || (!c->hf && lb_source_find(c->src, "rope_freqs.weight"))) {
        if (c->plan.n == c->plan.cap) { /* room for one more without plan_add's shape rules */
            planned *p = realloc(c->plan.t, (size_t)(c->plan.cap + 8) * sizeof *p);
            if (!p) return lb_fail(LB_ERR_NOMEM, "out of memory planning the conversion");
            c->plan.t = p, c->plan.cap += 8;
        }
        planned *p = &c->plan.t[c->plan.n++];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "rope_freqs.weight");
        p->src = c->rope_freqs ? NULL : lb_source_find(c->src, "rope_freqs.weight");
        p->computed = c->rope_freqs;
        p->type = LB_TYPE_F32;
        p->n_dims = 1;
        p->shape[0] = g->head_dim / 2;
        if (p->src && p->src->n_elements != p->shape[0])
            return lb_fail(LB_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' has %lld elements, expected %lld", p->src->file,
                           (long long)p->src->n_elements, (long long)p->shape[0]);
    }
    if ((st = plan_add(c, "output_norm.weight", norm, 0))) return st;
    bool untied = embd && out && !g->tied_embeddings;
    if (untied && (st = plan_add(c, "output.weight", out, 0))) return st;
    /* a rotated model's head folds the final norm, so it is no longer the embedding */
    if (!untied && c->job->rotate && (st = plan_add(c, "output.weight", embd ? embd : out, 0))) return st;
    bool permute = c->hf && strcmp(c->arch, "llama") == 0;
    for (int l = 0; l < g->n_layer; l++) {
        for (size_t r = 0; r < sizeof BLOCK_NAMES / sizeof BLOCK_NAMES[0]; r++) {
            const lb_tensor_info *t = find(c, BLOCK_NAMES[r].hf, BLOCK_NAMES[r].gguf, l);
            bool bias = strstr(BLOCK_NAMES[r].gguf, ".bias") != NULL;
            char gname[64];
            snprintf(gname, sizeof gname, BLOCK_NAMES[r].gguf, l);
            if (!t) {
                if (bias && !g->qkv_bias) continue;
                char hname[160];
                snprintf(hname, sizeof hname, c->hf ? BLOCK_NAMES[r].hf : BLOCK_NAMES[r].gguf, l);
                return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' is missing", c->src->path, hname);
            }
            int64_t heads = 0;
            if (permute && strstr(gname, "attn_q.")) heads = g->n_head;
            if (permute && strstr(gname, "attn_k.")) heads = g->n_head_kv;
            if ((st = plan_add(c, gname, t, heads))) return st;
        }
    }
    return LB_OK;
}

// ---- hyper-parameters ----

static void key(char *buf, size_t cap, const char *arch, const char *suffix) { snprintf(buf, cap, "%s.%s", arch, suffix); }

static const char *base_name(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "dir/" -> "dir" */
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    const char *dot = NULL;
    for (size_t i = b; i < n; i++)
        if (path[i] == '.') dot = path + i;
    if (dot && dot > path + b) len = (size_t)(dot - (path + b)); /* drop the extension */
    snprintf(buf, cap, "%.*s", (int)len, path + b);
    return buf;
}

static void write_hparams(conv *c, lb_gguf_writer *w)
{
    const lb_llama_config *g = &c->cfg;
    const char *a = c->arch;
    char k[128], nb[256];
    lb_gguf_add_str(w, "general.architecture", a);
    lb_str gname;
    if (c->job->name) lb_gguf_add_str(w, "general.name", c->job->name);
    else if (c->src->gguf && lb_gguf_get_str(c->src->gguf, "general.name", &gname))
        lb_gguf_add_strn(w, "general.name", gname.ptr, gname.len);
    else lb_gguf_add_str(w, "general.name", base_name(c->src->path, nb, sizeof nb));
    key(k, sizeof k, a, "vocab_size"), lb_gguf_add_u32(w, k, (uint32_t)g->n_vocab);
    key(k, sizeof k, a, "context_length"), lb_gguf_add_u32(w, k, (uint32_t)g->n_ctx_train);
    key(k, sizeof k, a, "embedding_length"), lb_gguf_add_u32(w, k, (uint32_t)g->n_embd);
    key(k, sizeof k, a, "block_count"), lb_gguf_add_u32(w, k, (uint32_t)g->n_layer);
    key(k, sizeof k, a, "feed_forward_length"), lb_gguf_add_u32(w, k, (uint32_t)g->n_ff);
    key(k, sizeof k, a, "attention.head_count"), lb_gguf_add_u32(w, k, (uint32_t)g->n_head);
    key(k, sizeof k, a, "attention.head_count_kv"), lb_gguf_add_u32(w, k, (uint32_t)g->n_head_kv);
    key(k, sizeof k, a, "rope.freq_base"), lb_gguf_add_f32(w, k, g->rope_theta);
    key(k, sizeof k, a, "attention.layer_norm_rms_epsilon"), lb_gguf_add_f32(w, k, g->norm_eps);
    if (g->head_dim != g->n_embd / g->n_head) {
        key(k, sizeof k, a, "attention.key_length"), lb_gguf_add_u32(w, k, (uint32_t)g->head_dim);
        key(k, sizeof k, a, "attention.value_length"), lb_gguf_add_u32(w, k, (uint32_t)g->head_dim);
    }
    key(k, sizeof k, a, "rope.dimension_count"), lb_gguf_add_u32(w, k, (uint32_t)g->head_dim);
    if (g->rope_scaling == LB_ROPE_SCALING_LINEAR) {
        key(k, sizeof k, a, "rope.scaling.type"), lb_gguf_add_str(w, k, "linear");
        key(k, sizeof k, a, "rope.scaling.factor"), lb_gguf_add_f32(w, k, g->rope_factor);
    }
    lb_gguf_add_u32(w, "general.file_type", c->job->file_type);
    if (c->job->quantization_version) lb_gguf_add_u32(w, "general.quantization_version", 2);
}

// ---- vocabulary ----

/* A GGUF source's tokenizer.* metadata, copied with the same types. */
static void copy_gguf_tokenizer(const lb_gguf *g, lb_gguf_writer *w)
{
    for (int64_t i = 0; i < lb_gguf_n_kv(g); i++) {
        lb_str ks = lb_gguf_kv_key(g, i);
        if (ks.len < 10 || memcmp(ks.ptr, "tokenizer.", 10) != 0) continue;
        char k[256];
        snprintf(k, sizeof k, "%.*s", (int)(ks.len < 255 ? ks.len : 255), ks.ptr);
        lb_gguf_type t = lb_gguf_kv_type(g, i);
        int64_t v;
        double d;
        bool b;
        lb_str s;
        switch (t) {
        case LB_GGUF_STRING: lb_gguf_get_str(g, k, &s), lb_gguf_add_strn(w, k, s.ptr, s.len); break;
        case LB_GGUF_BOOL: lb_gguf_get_bool(g, k, &b), lb_gguf_add_bool(w, k, b); break;
        case LB_GGUF_FLOAT32: lb_gguf_get_f64(g, k, &d), lb_gguf_add_f32(w, k, (float)d); break;
        case LB_GGUF_FLOAT64: lb_gguf_get_f64(g, k, &d), lb_gguf_add_f64(w, k, d); break;
        case LB_GGUF_ARRAY: {
            lb_gguf_type et = lb_gguf_arr_type(g, i);
            uint64_t n = lb_gguf_arr_len(g, i);
            if (et == LB_GGUF_STRING) {
                lb_gguf_arr_str_begin(w, k, n);
                for (uint64_t j = 0; j < n; j++) {
                    lb_str e = lb_gguf_arr_str(g, i, j);
                    lb_gguf_arr_str_push(w, e.ptr, e.len);
                }
                lb_gguf_arr_str_end(w);
                break;
            }
            /* numeric: re-pack element by element through f64/i64 into the same type */
            static const size_t sz[LB_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
            uint8_t *buf = malloc(n * sz[et] + 1);
            if (!buf) { lb_gguf_add_arr(w, k, LB_GGUF_ARRAY, NULL, 0); break; } /* records an error */
            for (uint64_t j = 0; j < n; j++) {
                uint8_t *p = buf + j * sz[et];
                if (et == LB_GGUF_FLOAT32) { float f; lb_gguf_arr_f64(g, i, j, &d); f = (float)d; memcpy(p, &f, 4); }
                else if (et == LB_GGUF_FLOAT64) { lb_gguf_arr_f64(g, i, j, &d); memcpy(p, &d, 8); }
                else if (et == LB_GGUF_UINT64) {
                    lb_gguf_arr_f64(g, i, j, &d);
                    uint64_t u = lb_gguf_arr_i64(g, i, j, &v) ? (uint64_t)v : (uint64_t)d;
                    memcpy(p, &u, 8);
                }
                else { v = 0; lb_gguf_arr_i64(g, i, j, &v); memcpy(p, &v, sz[et]); } /* little-endian truncation */
            }
            lb_gguf_add_arr(w, k, et, buf, n);
            free(buf);
            break;
        }
        default: /* integers */
            if (lb_gguf_get_i64(g, k, &v)) {
                if (t == LB_GGUF_UINT32) lb_gguf_add_u32(w, k, (uint32_t)v);
                else if (t == LB_GGUF_INT32) lb_gguf_add_i32(w, k, (int32_t)v);
                else if (t == LB_GGUF_UINT64) lb_gguf_add_u64(w, k, (uint64_t)v);
                else if (t == LB_GGUF_INT64) lb_gguf_add_i64(w, k, v);
                else if (t == LB_GGUF_UINT16) lb_gguf_add_u16(w, k, (uint16_t)v);
                else if (t == LB_GGUF_INT16) lb_gguf_add_i16(w, k, (int16_t)v);
                else if (t == LB_GGUF_UINT8) lb_gguf_add_u8(w, k, (uint8_t)v);
                else if (t == LB_GGUF_INT8) lb_gguf_add_i8(w, k, (int8_t)v);
            }
            break;
        }
    }
}

/* Token id of exact text, -1 when absent (linear: used a handful of times). */
static int32_t token_id(const lb_tokenizer *tok, const char *s, size_t n)
{
    for (int32_t i = 0; i < lb_tokenizer_n_vocab(tok); i++) {
        const char *t;
        size_t len;
        if (lb_tokenizer_token(tok, i, &t, &len, NULL, NULL) && len == n && memcmp(t, s, n) == 0) return i;
    }
    return -1;
}

/* Scores for a SentencePiece-style BPE that has merges but no scores (HF tokenizer.json): the
 * token made by merge number r scores -(r+1), the first merge that makes it winning, so that
 * llama.cpp's score-driven merging follows the tokenizer's ranks (see make_gguf_fixtures.py:
 * gguf-py's LlamaHfVocab writes -1000 for all, which merges leftmost-first instead). */
static lb_status scores_from_merges(const lb_tokenizer *tok, float *scores)
{
    int64_t nv = lb_tokenizer_n_vocab(tok), cap = 1;
    while (cap < 2 * nv) cap *= 2;
    int32_t *slot = lb_malloc((size_t)cap * sizeof *slot, "vocabulary index");
    char *cat = NULL;
    if (!slot) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < cap; i++) slot[i] = -1;
    for (int32_t i = 0; i < nv; i++) {
        const char *t;
        size_t len;
        lb_tokenizer_token(tok, i, &t, &len, NULL, NULL);
        uint64_t h = lb_fnv1a(LB_FNV_OFFSET, t, len) & (uint64_t)(cap - 1);
        while (slot[h] >= 0) h = (h + 1) & (uint64_t)(cap - 1);
        slot[h] = i;
    }
    size_t cat_cap = 0;
    lb_status st = LB_OK;
    for (int64_t r = 0; r < lb_tokenizer_n_merges(tok); r++) {
        int32_t a, b;
        const char *ta, *tb;
        size_t la, lb;
        if (!lb_tokenizer_merge(tok, r, &a, &b) || !lb_tokenizer_token(tok, a, &ta, &la, NULL, NULL) ||
            !lb_tokenizer_token(tok, b, &tb, &lb, NULL, NULL))
            continue;
        if (la + lb > cat_cap) {
            cat_cap = 2 * (la + lb);
            char *nc = realloc(cat, cat_cap);
            if (!nc) { st = lb_fail(LB_ERR_NOMEM, "out of memory deriving token scores"); break; }
            cat = nc;
        }
        memcpy(cat, ta, la);
        memcpy(cat + la, tb, lb);
        for (uint64_t h = lb_fnv1a(LB_FNV_OFFSET, cat, la + lb) & (uint64_t)(cap - 1); slot[h] >= 0; h = (h + 1) & (uint64_t)(cap - 1)) {
            const char *t;
            size_t len;
            lb_tokenizer_token(tok, slot[h], &t, &len, NULL, NULL);
            if (len == la + lb && memcmp(t, cat, len) == 0) {
                if (scores[slot[h]] == 0.0f) scores[slot[h]] = -(float)(r + 1);
                break;
            }
        }
    }
    free(cat);
    free(slot);
    return st;
}

/* pad id: config.json pad_token_id, else tokenizer_config.json / special_tokens_map.json pad_token. */
static int32_t pad_id(const conv *c)
{
    const cJSON *v = c->src->config ? cJSON_GetObjectItemCaseSensitive(c->src->config, "pad_token_id") : NULL;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)lb_tokenizer_n_vocab(c->tok))
        return (int32_t)v->valuedouble;
    int32_t id = -1;
    static const char *const files[] = {"tokenizer_config.json", "special_tokens_map.json"};
    for (int f = 0; f < 2 && id < 0 && c->src->dir; f++) {
        char *path = lb_path_join(c->src->dir, files[f]), *text = NULL;
        size_t len;
        if (path && lb_file_exists(path) && lb_read_file(path, &text, &len) == LB_OK) {
            cJSON *j = cJSON_Parse(text);
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pad_token");
            if (cJSON_IsObject(p)) p = cJSON_GetObjectItemCaseSensitive(p, "content");
            if (cJSON_IsString(p)) id = token_id(c->tok, p->valuestring, strlen(p->valuestring));
            cJSON_Delete(j);
        }
        free(text);
        free(path);
    }
    lb_clear_error(); /* a missing or odd side file is no error here */
    return id;
}

/* chat_template from tokenizer_config.json beside an HF checkpoint (malloc'd), or NULL. */
static char *chat_template(const conv *c)
{
    if (!c->src->dir) return NULL;
    char *path = lb_path_join(c->src->dir, "tokenizer_config.json"), *text = NULL, *out = NULL;
    size_t len;
    if (path && lb_file_exists(path) && lb_read_file(path, &text, &len) == LB_OK) {
        cJSON *j = cJSON_Parse(text);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
        if (cJSON_IsString(t)) out = strdup(t->valuestring);
        cJSON_Delete(j);
    }
    free(text);
    free(path);
    lb_clear_error();
    return out;
}

/* Pre-tokenizer name for a byte-level BPE that did not come from a GGUF. convert_hf_to_gguf
 * identifies it by hashing a test text's tokenization; lowbit goes by the architecture and the
 * special tokens instead, which covers the model families it supports. */
static const char *pre_name(const conv *c)
{
    const char *p = lb_tokenizer_pre_name(c->tok);
    if (p) return p;
    if (strcmp(c->arch, "qwen2") == 0) return "qwen2";
    if (token_id(c->tok, "<|begin_of_text|>", 17) >= 0) return "llama-bpe";
    if (token_id(c->tok, "<|im_start|>", 12) >= 0 && lb_tokenizer_n_vocab(c->tok) == 49152) return "smollm";
    return "gpt2";
}

static lb_status write_vocab(conv *c, lb_gguf_writer *w)
{
    if (c->src->kind == LB_SOURCE_GGUF && lb_gguf_find(c->src->gguf, "tokenizer.ggml.model") >= 0) {
        copy_gguf_tokenizer(c->src->gguf, w);
        return LB_OK;
    }
    const lb_tokenizer *tok = c->tok;
    const char *kind = lb_tokenizer_kind(tok);
    bool gpt2 = strcmp(kind, "byte-bpe") == 0, l2c = strcmp(kind, "llama2c") == 0;
    /* A padded embedding (vocab_size above the tokenizer's count) gets "[PAD<i>]" UNUSED tokens, as
     * convert_hf_to_gguf pads; llama.cpp needs one token per embedding row. */
    int64_t nv = lb_tokenizer_n_vocab(tok), n_out = c->cfg.n_vocab;
    if (nv > n_out)
        return lb_fail(LB_ERR_FORMAT, "%s: the tokenizer has %lld tokens, more than the model's %lld embedding rows",
                       c->src->path, (long long)nv, (long long)n_out);
    lb_gguf_add_str(w, "tokenizer.ggml.model", gpt2 ? "gpt2" : "llama");
    if (gpt2) lb_gguf_add_str(w, "tokenizer.ggml.pre", pre_name(c));

    /* tokens; convert-llama2c-to-ggml renames ids 0/1/2 and writes ' ' as U+2581 */
    lb_gguf_arr_str_begin(w, "tokenizer.ggml.tokens", (uint64_t)n_out);
    char *esc = NULL;
    size_t esc_cap = 0;
    for (int32_t i = 0; i < nv; i++) {
        const char *t;
        size_t len;
        lb_tokenizer_token(tok, i, &t, &len, NULL, NULL);
        if (l2c && i <= 2) {
            static const char *const fixed[3] = {"<unk>", "<s>", "</s>"};
            lb_gguf_arr_str_push(w, fixed[i], strlen(fixed[i]));
            continue;
        }
        if (l2c && memchr(t, ' ', len)) {
            if (3 * len > esc_cap) {
                char *ne = realloc(esc, esc_cap = 3 * len);
                if (!ne) { free(esc); return lb_fail(LB_ERR_NOMEM, "out of memory writing the vocabulary"); }
                esc = ne;
            }
            size_t n = 0;
            for (size_t k = 0; k < len; k++) {
                if (t[k] == ' ') memcpy(esc + n, "\xe2\x96\x81", 3), n += 3;
                else esc[n++] = t[k];
            }
            lb_gguf_arr_str_push(w, esc, n);
        } else {
            lb_gguf_arr_str_push(w, t, len);
        }
    }
    free(esc);
    for (int64_t i = nv; i < n_out; i++) {
        char pad[32];
        int n = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
        lb_gguf_arr_str_push(w, pad, (size_t)n);
    }
    lb_gguf_arr_str_end(w);

    float *scores = lb_calloc((size_t)n_out, sizeof *scores, "token scores");
    int32_t *types = lb_calloc((size_t)n_out, sizeof *types, "token types");
    if (!scores || !types) {
        free(scores), free(types);
        return LB_ERR_NOMEM;
    }
    int32_t unk = -1;
    bool any_score = false;
    for (int32_t i = 0; i < nv; i++) {
        int ty;
        lb_tokenizer_token(tok, i, NULL, NULL, &scores[i], &ty);
        types[i] = ty ? ty : 1;
        if (ty == 2 && unk < 0) unk = i;
        any_score |= scores[i] != 0.0f;
    }
    lb_status st = LB_OK;
    if (!gpt2 && !any_score && lb_tokenizer_n_merges(tok) > 0) st = scores_from_merges(tok, scores);
    for (int64_t i = nv; i < n_out; i++) scores[i] = -1000.0f, types[i] = 5; /* UNUSED */
    if (!st && !gpt2) lb_gguf_add_arr(w, "tokenizer.ggml.scores", LB_GGUF_FLOAT32, scores, (uint64_t)n_out);
    if (!st) lb_gguf_add_arr(w, "tokenizer.ggml.token_type", LB_GGUF_INT32, types, (uint64_t)n_out);
    free(scores);
    free(types);
    if (st) return st;

    if (gpt2) { /* merges as "left right" texts, rank order */
        int64_t nm = lb_tokenizer_n_merges(tok);
        lb_gguf_arr_str_begin(w, "tokenizer.ggml.merges", (uint64_t)nm);
        char *m = NULL;
        size_t m_cap = 0;
        for (int64_t r = 0; r < nm; r++) {
            int32_t a = 0, b = 0;
            const char *ta = "", *tb = "";
            size_t la = 0, lb = 0;
            lb_tokenizer_merge(tok, r, &a, &b);
            lb_tokenizer_token(tok, a, &ta, &la, NULL, NULL);
            lb_tokenizer_token(tok, b, &tb, &lb, NULL, NULL);
            if (la + lb + 1 > m_cap) {
                char *nm2 = realloc(m, m_cap = 2 * (la + lb + 1));
                if (!nm2) { free(m); return lb_fail(LB_ERR_NOMEM, "out of memory writing merges"); }
                m = nm2;
            }
            memcpy(m, ta, la);
            m[la] = ' ';
            memcpy(m + la + 1, tb, lb);
            lb_gguf_arr_str_push(w, m, la + lb + 1);
        }
        free(m);
        lb_gguf_arr_str_end(w);
    }
    int32_t bos = lb_tokenizer_bos(tok), eos = lb_tokenizer_eos(tok), pad = pad_id(c);
    if (bos >= 0) lb_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) lb_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (unk >= 0) lb_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    if (pad >= 0) lb_gguf_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    lb_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", lb_tokenizer_adds_bos(tok));
    char *tmpl = chat_template(c);
    if (tmpl) lb_gguf_add_str(w, "tokenizer.chat_template", tmpl);
    free(tmpl);
    return LB_OK;
}

// ---- tensor data ----

/* LlamaModel.permute: w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2): new row h*hd + 2i + j is
 * old row h*hd + j*hd/2 + i (rotate-half halves -> interleaved pairs). */
lb_status lb_convert_permute_rows(void *rows, int64_t n_rows, size_t row_bytes, int64_t n_head, const char *name)
{
    int64_t hd = n_rows / n_head;
    uint8_t *x = rows, *tmp = lb_malloc((size_t)n_rows * row_bytes, name);
    if (!tmp) return LB_ERR_NOMEM;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < hd / 2; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (size_t)(h * hd + 2 * i + j) * row_bytes, x + (size_t)(h * hd + j * (hd / 2) + i) * row_bytes,
                       row_bytes);
    memcpy(x, tmp, (size_t)n_rows * row_bytes);
    free(tmp);
    return LB_OK;
}

/* Rows of x quantized to type in chunks spread over threads; rows are independent, so the bytes
 * do not depend on the thread count. A failing chunk is quantized again on this thread so that
 * its message (thread-local) reaches the caller. */
static lb_status quantize_tensor(conv *c, const planned *p, const float *x, void *q, int64_t n_rows, int64_t row,
                                 const float *imatrix)
{
    int n_threads = c->job->n_threads > 0 ? c->job->n_threads : lb_n_cores();
    int64_t chunk_rows = row >= 32 * 512 ? 1 : (32 * 512 + row - 1) / row; /* llama-quantize's chunk */
    int64_t n_chunks = (n_rows + chunk_rows - 1) / chunk_rows;
    if (n_threads <= 1 || n_chunks <= 1) return lb_quantize_rows(p->type, x, q, n_rows, row, imatrix, p->name);
    uint64_t row_bytes;
    LB_ASSERT(lb_type_nbytes(p->type, (uint64_t)row, &row_bytes));
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) reduction(| : failed)
    for (int64_t k = 0; k < n_chunks; k++) {
        int64_t r0 = k * chunk_rows, nr = r0 + chunk_rows <= n_rows ? chunk_rows : n_rows - r0;
        if (lb_quantize_rows(p->type, x + r0 * row, (uint8_t *)q + (size_t)r0 * row_bytes, nr, row, imatrix, p->name))
            failed |= 1;
    }
    return failed ? lb_quantize_rows(p->type, x, q, n_rows, row, imatrix, p->name) : LB_OK;
}

// ---- rotation (algo/rotate.h) ----

/* The source norm weights of the planned tensor `name` ("blk.3.attn_norm.weight"), decoded. */
static lb_status norm_of(const conv *c, const char *name, float **out)
{
    for (int64_t i = 0; i < c->plan.n; i++)
        if (strcmp(c->plan.t[i].name, name) == 0) return lb_tensor_to_f32(c->plan.t[i].src, out);
    return lb_fail(LB_ERR_FORMAT, "%s: rotation needs tensor '%s', which the model lacks", c->src->path, name);
}

/* x (decoded, in the file's layout) of tensor `name` <- its rotated, norm-folded value. */
static lb_status rotate_tensor(const conv *c, const char *name, float *x, int64_t n_rows, int64_t row)
{
    int64_t E = c->cfg.n_embd;
    const char *role = strncmp(name, "blk.", 4) == 0 ? strchr(name + 4, '.') + 1 : name;
    if (strstr(role, "norm.weight")) { /* folded into the linears that read the norm */
        for (int64_t i = 0; i < n_rows * row; i++) x[i] = 1.0f;
        return LB_OK;
    }
    if (!strcmp(role, "token_embd.weight")) return lb_rotate_inputs(x, n_rows, E, NULL, c->Q);
    if (!strcmp(role, "attn_output.weight") || !strcmp(role, "ffn_down.weight"))
        return lb_rotate_outputs(x, E, row, c->Q);
    const char *norm = !strcmp(role, "output.weight") ? "output_norm.weight"
                       : !strcmp(role, "attn_q.weight") || !strcmp(role, "attn_k.weight") || !strcmp(role, "attn_v.weight")
                           ? "attn_norm.weight"
                       : !strcmp(role, "ffn_gate.weight") || !strcmp(role, "ffn_up.weight") ? "ffn_norm.weight"
                                                                                             : NULL;
    if (!norm) return LB_OK; /* biases, rope_freqs: not on the residual stream */
    char nname[64];
    if (role != name) snprintf(nname, sizeof nname, "%.*s%s", (int)(role - name), name, norm);
    else snprintf(nname, sizeof nname, "%s", norm);
    float *g = NULL;
    lb_status st = norm_of(c, nname, &g);
    if (!st) st = lb_rotate_inputs(x, n_rows, E, g, c->Q);
    free(g);
    return st;
}

/* The online down_proj rotation: the source's record kept as is (its ffn_down already holds
 * W R), or a new R folded in here (job->online_hadamard), never both. */
static lb_status down_rotation(conv *c)
{
    bool present = false;
    lb_status st = lb_down_rotation_read(c->src, c->cfg.n_ff, &c->R, &present);
    if (st || !c->job->online_hadamard) return st;
    if (present)
        return lb_fail(LB_ERR_ARG, "%s: the model already has an online down_proj rotation (%s); convert it without "
                                   "--online-hadamard", c->src->path, LB_KEY_DOWN_ROT_M);
    if ((st = lb_kron_rotation_make(c->cfg.n_ff, c->job->rotate_seed, &c->R))) return st;
    c->apply_R = true;
    c->R_tmp = lb_malloc((size_t)c->R.m * sizeof *c->R_tmp, "online rotation scratch");
    return c->R_tmp ? LB_OK : LB_ERR_NOMEM;
}

static lb_status write_tensor(conv *c, const planned *p, lb_gguf_writer *w)
{
    int64_t n = p->shape[0] * (p->n_dims > 1 ? p->shape[1] : 1);
    int64_t row = p->n_dims > 1 ? p->shape[1] : p->shape[0], n_rows = n / row;
    /* what the job's callbacks are told about this tensor, and its size in the file */
    const lb_convert_tensor t = {.name = p->name, .n_rows = n_rows, .n_per_row = row,
                                 .src_type = p->src ? p->src->type : LB_TYPE_F32, .permute_heads = p->permute_heads};
    uint64_t nbytes;
    LB_ASSERT(lb_type_nbytes(p->type, (uint64_t)n, &nbytes));
    float *x = NULL;
    lb_status st;
    if (c->job->produce && p->n_dims == 2) {
        void *q = lb_malloc((size_t)nbytes, p->name);
        if (!q) return LB_ERR_NOMEM;
        bool done = false;
        st = c->job->produce(c->job->user, &t, p->type, q, nbytes, &done);
        if (!st && done) lb_gguf_write_data(w, q, (size_t)nbytes);
        free(q);
        if (st || done) return st ? st : lb_gguf_writer_status(w);
    }
    if (c->job->copy_same_type && !c->job->transform && !c->Q && !c->apply_R && p->src && !p->permute_heads && p->src->type == p->type) {
        lb_gguf_write_data(w, p->src->data, (size_t)p->src->nbytes);
        return lb_gguf_writer_status(w);
    }
    if (p->computed) {
        if (!(x = lb_malloc((size_t)n * sizeof *x, p->name))) return LB_ERR_NOMEM;
        memcpy(x, p->computed, (size_t)n * sizeof *x);
    } else if ((st = lb_tensor_to_f32(p->src, &x))) {
        return st;
    }
    /* a permuted 1-D tensor (a q/k bias) is rows of one element */
    if (p->permute_heads && (st = lb_convert_permute_rows(x, p->shape[0], (size_t)(p->n_dims > 1 ? p->shape[1] : 1) * sizeof *x,
                                                          p->permute_heads, p->name)))
        goto done;
    st = LB_OK;
    if (c->Q && (st = rotate_tensor(c, p->name, x, n_rows, row))) goto done;
    if (c->apply_R && strstr(p->name, "ffn_down.weight")) lb_kron_rotate_rows_ref(&c->R, x, n_rows, c->R_tmp);
    if (c->job->transform) {
        if ((st = c->job->transform(c->job->user, &t, x))) goto done;
    }
    if (p->type == LB_TYPE_F32) {
        lb_gguf_write_data(w, x, (size_t)n * sizeof *x);
    } else if (p->type == LB_TYPE_F16 || p->type == LB_TYPE_BF16) {
        uint16_t *h = (uint16_t *)x; /* in place: element i is read before i/2 and i are written */
        for (int64_t i = 0; i < n; i++) h[i] = p->type == LB_TYPE_F16 ? lb_f32_to_f16(x[i]) : lb_f32_to_bf16(x[i]);
        lb_gguf_write_data(w, h, (size_t)n * sizeof *h);
    } else {
        const float *imatrix = NULL;
        if (c->job->weights_of && (st = c->job->weights_of(c->job->user, &t, p->type, &imatrix))) goto done;
        void *q = lb_malloc((size_t)nbytes, p->name);
        if (!q) {
            st = LB_ERR_NOMEM;
            goto done;
        }
        st = quantize_tensor(c, p, x, q, n_rows, row, imatrix);
        if (!st) lb_gguf_write_data(w, q, (size_t)nbytes);
        free(q);
    }
    if (!st) st = lb_gguf_writer_status(w);
done:
    free(x);
    return st;
}

// ---- driver ----

/* Types of the 2-D weights, by the job's recipe, once the whole plan (and so whether an
 * output.weight of its own is written) is known. */
static lb_status assign_types(conv *c)
{
    lb_convert_model_info m = {.n_layer = c->cfg.n_layer, .n_head = c->cfg.n_head, .n_head_kv = c->cfg.n_head_kv,
                               .n_embd = c->cfg.n_embd};
    for (int64_t i = 0; i < c->plan.n; i++) m.has_output |= strcmp(c->plan.t[i].name, "output.weight") == 0;
    for (int64_t i = 0; i < c->plan.n; i++) {
        planned *p = &c->plan.t[i];
        if (p->n_dims != 2) continue;
        lb_convert_tensor t = {.name = p->name, .n_rows = p->shape[0], .n_per_row = p->shape[1],
                               .src_type = p->src ? p->src->type : LB_TYPE_F32};
        lb_status st = c->job->type_of(c->job->user, &m, &t, &p->type);
        if (st) return st;
        const lb_type_traits *tr = lb_type_traits_of(p->type);
        LB_ASSERT(tr && p->shape[1] % tr->block_size == 0);
        if (tr->is_quantized && !lb_quantizer_of(p->type))
            return lb_fail(LB_ERR_UNSUPPORTED, "%s: type %s needs a quantizer this build lacks", p->name, tr->name);
    }
    return LB_OK;
}

lb_status lb_convert_run(const char *model_path, const char *out_path, const lb_convert_job *job)
{
    LB_ASSERT(job && job->type_of);
    conv c = {.job = job};
    lb_gguf_writer *w = NULL;
    lb_status st = lb_source_open(model_path, &c.src);
    if (!st) st = lb_config_from_source(c.src, &c.cfg);
    if (!st) st = lb_tokenizer_from_source(c.src, &c.tok);
    if (st) goto done;
    c.arch = strcmp(c.cfg.arch, "qwen2") == 0 ? "qwen2" : "llama"; /* Mistral is llama to llama.cpp */
    c.hf = c.src->kind == LB_SOURCE_HF_DIR || c.src->kind == LB_SOURCE_SAFETENSORS;
    if (c.cfg.rope_scaling == LB_ROPE_SCALING_LLAMA3 && c.hf && (st = llama3_rope_freqs(&c))) goto done;
    if ((st = make_plan(&c))) goto done;
    if ((st = assign_types(&c))) goto done;
    if (job->rotate) {
        lb_rotation_kind used;
        if ((st = lb_rotation_make((lb_rotation_kind)job->rotate, c.cfg.n_embd, job->rotate_seed, &c.Q, &used))) goto done;
    }
    if ((st = down_rotation(&c))) goto done;

    st = job->partial_path ? lb_gguf_writer_open_resumable(out_path, job->partial_path, job->resume, 0, &w)
                           : lb_gguf_writer_open(out_path, 0, &w);
    if (st) goto done;
    write_hparams(&c, w);
    if (c.R.n && (st = lb_down_rotation_write(w, &c.R))) goto done;
    if ((st = write_vocab(&c, w))) goto done;
    for (int64_t i = 0; i < c.plan.n; i++) {
        const planned *p = &c.plan.t[i];
        lb_gguf_add_tensor_info(w, p->name, p->type, p->n_dims, p->shape);
    }
    if ((st = lb_gguf_write_header(w))) goto done;
    int64_t first = 0;
    if (job->resume) {
        if ((st = lb_gguf_writer_resume_at(w, job->resume_tensors, job->resume_offset))) goto done;
        first = job->resume_tensors;
    }
    for (int64_t i = first; i < c.plan.n; i++) {
        const planned *p = &c.plan.t[i];
        if ((st = write_tensor(&c, p, w))) goto done;
        if (job->written && (st = job->written(job->user, i, p->name, w))) goto done;
        if (job->tensor_done) {
            int64_t n = p->shape[0] * (p->n_dims > 1 ? p->shape[1] : 1);
            uint64_t nbytes = 0;
            LB_ASSERT(lb_type_nbytes(p->type, (uint64_t)n, &nbytes));
            job->tensor_done(job->user, i, c.plan.n, p->name, p->type, n, nbytes);
        }
    }
    st = lb_gguf_writer_finish(w);
    w = NULL;
done:
    lb_gguf_writer_abort(w);
    free(c.plan.t);
    free(c.rope_freqs);
    free(c.Q);
    lb_kron_rotation_free(&c.R);
    free(c.R_tmp);
    lb_tokenizer_free(c.tok);
    lb_source_close(c.src);
    return st;
}

// ---- lb_convert: one type for every 2-D weight ----

typedef struct plain {
    const lb_convert_params *p;
    lb_type wtype;
} plain;

static lb_status plain_type(void *user, const lb_convert_model_info *m, const lb_convert_tensor *t, lb_type *out)
{
    const plain *pl = user;
    *out = pl->wtype;
    /* convert_hf_to_gguf: a row that Q8_0 cannot hold falls back to F16 */
    if (pl->wtype == LB_TYPE_Q8_0 && t->n_per_row % 32 != 0) *out = LB_TYPE_F16;
    return LB_OK;
}

static void plain_done(void *user, int64_t i, int64_t n, const char *name, lb_type type, int64_t n_elements,
                       uint64_t nbytes)
{
    const plain *pl = user;
    if (pl->p->progress) pl->p->progress(pl->p->progress_user, i + 1, n);
}

lb_status lb_convert_rotation_kind(const char *rotate, int *kind)
{
    *kind = LB_ROTATE_NONE;
    if (!rotate || !*rotate || !strcmp(rotate, "none")) return LB_OK;
    if (!strcmp(rotate, "hadamard")) *kind = LB_ROTATE_HADAMARD;
    else if (!strcmp(rotate, "orthogonal")) *kind = LB_ROTATE_ORTHOGONAL;
    else return lb_fail(LB_ERR_ARG, "unknown rotation '%s' (hadamard, orthogonal)", rotate);
    return LB_OK;
}

lb_status lb_convert(const char *model_path, const char *out_path, const lb_convert_params *params)
{
    lb_clear_error();
    lb_convert_params defaults = {0};
    plain pl = {.p = params ? params : &defaults};
    if ((unsigned)pl.p->type >= LB_CONVERT_TYPE_COUNT)
        return lb_fail(LB_ERR_ARG, "lb_convert: output type %d is not one of f32, f16, bf16, q8_0", (int)pl.p->type);
    pl.wtype = OUT_TYPE[pl.p->type];
    if (pl.wtype == LB_TYPE_Q8_0 && !lb_quantizer_of(LB_TYPE_Q8_0))
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: q8_0 output needs the Q8_0 quantizer, which this build lacks", out_path);
    lb_convert_job job = {.name = pl.p->name, .file_type = FILE_TYPE[pl.p->type],
                          .quantization_version = pl.p->type == LB_CONVERT_Q8_0, .n_threads = 1,
                          .type_of = plain_type, .tensor_done = plain_done, .user = &pl,
                          .rotate_seed = pl.p->rotate_seed, .online_hadamard = pl.p->online_hadamard};
    lb_status st = lb_convert_rotation_kind(pl.p->rotate, &job.rotate);
    return st ? st : lb_convert_run(model_path, out_path, &job);
}
