/* Finds each weight of a Llama-family model under its Hugging Face or GGUF name, checks its
 * shape against the configuration, and decodes it to f32. Missing tensors, wrong shapes and
 * non-finite values are reported with the tensor's name, file and byte offset. */
#include "model/weights.h"
#include "kernels/ref/vec_dot.h"
#include "quant/fp8.h"
#include "quant/nf4.h"
#include "quant/types.h"

#include <math.h>
#include <string.h>

/* Names of one role in both conventions; %d is the block index. */
typedef struct role_names {
    const char *hf, *gguf;
} role_names;

static const role_names ROLE_TOK_EMBD = {"model.embed_tokens.weight", "token_embd.weight"};
static const role_names ROLE_OUT_NORM = {"model.norm.weight", "output_norm.weight"};
static const role_names ROLE_OUTPUT = {"lm_head.weight", "output.weight"};

static const role_names BLOCK_ROLES[LB_ROLE_COUNT] = {
    [LB_ROLE_ATTN_NORM] = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    [LB_ROLE_Q] = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    [LB_ROLE_K] = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    [LB_ROLE_V] = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    [LB_ROLE_O] = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    [LB_ROLE_QB] = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"},
    [LB_ROLE_KB] = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"},
    [LB_ROLE_VB] = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"},
    [LB_ROLE_FFN_NORM] = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    [LB_ROLE_GATE] = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    [LB_ROLE_UP] = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    [LB_ROLE_DOWN] = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
};

const char *lb_weights_role_name(lb_block_role r, bool gguf) { return gguf ? BLOCK_ROLES[r].gguf : BLOCK_ROLES[r].hf; }

static bool gguf_names(const lb_source *src) { return src->kind == LB_SOURCE_GGUF || src->kind == LB_SOURCE_LLAMA2C; }

static const lb_tensor_info *find_role(const lb_source *src, role_names r, int layer, char *name, size_t cap)
{
    snprintf(name, cap, gguf_names(src) ? r.gguf : r.hf, layer);
    return lb_source_find(src, name);
}

static lb_status check_shape(const lb_tensor_info *t, int64_t d0, int64_t d1)
{
    int want_dims = d1 ? 2 : 1;
    bool ok = t->n_dims == want_dims && t->shape[0] == d0 && (!d1 || t->shape[1] == d1);
    if (ok) return LB_OK;
    char got[96] = "", want[64];
    for (int i = 0; i < t->n_dims; i++) {
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    }
    if (d1)
        snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
    else
        snprintf(want, sizeof want, "%lld", (long long)d0);
    return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %llu has shape [%s], the model config needs [%s]", t->file,
                   t->name, (unsigned long long)t->offset, got, want);
}

const lb_tensor_info *lb_weight_aux(const lb_tensor_info *t, int k)
{
    LB_ASSERT(k >= 0 && k < LB_WEIGHT_N_AUX);
    const lb_tensor_info *aux[LB_WEIGHT_N_AUX] = {t->scale, t->quant_map, t->nested_absmax, t->nested_quant_map};
    return aux[k];
}

lb_weight lb_weight_stored(const lb_tensor_info *t, const void *data, const void *const aux[LB_WEIGHT_N_AUX])
{
    lb_weight w = {.q = data, .type = t->type};
    if (t->scale) {
        w.scale = aux[0];
        w.scale_type = t->scale->type;
        w.scaling = t->fp8_scaling;
    }
    if (t->quant_map) w.qmap = aux[1];
    if (t->nested_absmax) {
        w.nested = aux[2];
        w.nested_map = aux[3];
        w.nested_offset = t->nested_offset;
    }
    return w;
}

/* The bytes of t's parts, for a weight decoded straight from the source mapping. */
static lb_weight stored_in_place(const lb_tensor_info *t)
{
    const void *aux[LB_WEIGHT_N_AUX];
    for (int k = 0; k < LB_WEIGHT_N_AUX; k++) aux[k] = lb_weight_aux(t, k) ? lb_weight_aux(t, k)->data : NULL;
    return lb_weight_stored(t, t->data, aux);
}

static float f32_at(const void *p, int64_t i)
{
    float v;
    memcpy(&v, (const uint8_t *)p + 4 * i, 4); /* safetensors data need not be aligned */
    return v;
}

/* Absmax of NF4 block b: stored, or map[code] * nested + offset (lb_nf4_dq_dequantize). */
static float nf4_absmax(const lb_weight *w, int64_t b)
{
    if (!w->nested) return f32_at(w->scale, b);
    uint8_t code = ((const uint8_t *)w->scale)[b];
    return f32_at(w->nested_map, code) * f32_at(w->nested, b / LB_NF4_DQ_BLOCK) + w->nested_offset;
}

/* Elements e0 .. e0+n of an NF4 weight (bitsandbytes packing: element 2i in the high nibble of
 * byte i), each quant_map[code] * absmax of its block, as lb_nf4_dequantize. */
static void nf4_decode(const lb_weight *w, int64_t e0, int64_t n, float *y)
{
    float map[16];
    memcpy(map, w->qmap, sizeof map);
    const uint8_t *q = w->q;
    for (int64_t i = e0, end = e0 + n; i < end;) {
        int64_t b = i / LB_NF4_BLOCK, stop = (b + 1) * LB_NF4_BLOCK < end ? (b + 1) * LB_NF4_BLOCK : end;
        float amax = nf4_absmax(w, b);
        for (; i < stop; i++) {
            uint8_t c = (i & 1) ? q[i / 2] & 0xf : q[i / 2] >> 4;
            y[i - e0] = map[c] * amax;
        }
    }
}

/* Scale i of a weight, decoded from its stored type (safetensors data need not be aligned). */
static float scale_at(const lb_weight *w, int64_t i)
{
    float s;
    if (w->scale_type == LB_TYPE_F32) memcpy(&s, (const uint8_t *)w->scale + 4 * i, 4);
    else lb_type_traits_of(w->scale_type)->to_f32((const uint8_t *)w->scale + 2 * i, &s, 1);
    return s;
}

void lb_weight_decode_rows(const lb_weight *w, int64_t r0, int64_t nr, int64_t n_in, float *y)
{
    if (w->type == LB_TYPE_NF4) {
        LB_ASSERT(w->scale && w->qmap);
        nf4_decode(w, r0 * n_in, nr * n_in, y);
        return;
    }
    const lb_type_traits *tr = lb_type_traits_of(w->type);
    uint64_t row_bytes = 0;
    LB_ASSERT(tr && tr->to_f32 && lb_type_nbytes(w->type, (uint64_t)n_in, &row_bytes));
    tr->to_f32((const uint8_t *)w->q + (uint64_t)r0 * row_bytes, y, nr * n_in);
    if (!w->scale) return;
    int64_t nbc = (n_in + LB_FP8_BLOCK - 1) / LB_FP8_BLOCK;
    for (int64_t r = 0; r < nr; r++) {
        int64_t row = r0 + r;
        float *yr = y + r * n_in;
        if (w->scaling == LB_FP8_SCALE_BLOCK) {
            for (int64_t c0 = 0; c0 < n_in; c0 += LB_FP8_BLOCK) {
                float s = scale_at(w, (row / LB_FP8_BLOCK) * nbc + c0 / LB_FP8_BLOCK);
                int64_t c1 = c0 + LB_FP8_BLOCK < n_in ? c0 + LB_FP8_BLOCK : n_in;
                for (int64_t c = c0; c < c1; c++) yr[c] *= s;
            }
        } else {
            float s = scale_at(w, w->scaling == LB_FP8_SCALE_CHANNEL ? row : 0);
            for (int64_t c = 0; c < n_in; c++) yr[c] *= s;
        }
    }
}

lb_status lb_tensor_to_f32(const lb_tensor_info *t, float **out)
{
    *out = NULL;
    const lb_type_traits *tr = lb_type_traits_of(t->type);
    if (!tr || (!tr->to_f32 && t->type != LB_TYPE_NF4))
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %llu has type %s, which lowbit cannot decode to f32",
                       t->file, t->name, (unsigned long long)t->offset, tr ? tr->name : "?");
    float *buf = lb_malloc((size_t)t->n_elements * sizeof(float), t->name);
    if (!buf) return LB_ERR_NOMEM;
    if (t->scale) {
        lb_weight w = stored_in_place(t);
        int64_t n_in = t->shape[t->n_dims - 1];
        lb_weight_decode_rows(&w, 0, t->n_elements / n_in, n_in, buf);
    } else {
        tr->to_f32(t->data, buf, t->n_elements);
    }
    lb_release_pages(t->data, (size_t)t->nbytes);
    for (int64_t i = 0; i < t->n_elements; i++) {
        if (!isfinite(buf[i])) {
            lb_status st = lb_fail(LB_ERR_NUMERIC, "%s: tensor '%s' at offset %llu: element %lld is %g", t->file, t->name,
                                   (unsigned long long)t->offset, (long long)i, buf[i]);
            free(buf);
            return st;
        }
    }
    *out = buf;
    return LB_OK;
}

/* The tensor of a role, shape-checked ([d0] or [d0, d1]); NULL (and LB_OK) when optional and
 * absent. */
static lb_status find_checked(const lb_source *src, role_names r, int layer, int64_t d0, int64_t d1, bool optional,
                              const lb_tensor_info **out)
{
    char name[160];
    *out = find_role(src, r, layer, name, sizeof name);
    if (!*out) return optional ? LB_OK : lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' is missing", src->path, name);
    return check_shape(*out, d0, d1);
}

/* Decodes a tensor that may be absent (NULL -> NULL). */
static lb_status decode_opt(const lb_tensor_info *t, float **out)
{
    *out = NULL;
    return t ? lb_tensor_to_f32(t, out) : LB_OK;
}

bool lb_weight_keeps_stored(lb_type t, bool llamacpp_numerics)
{
    if (llamacpp_numerics) return lb_weight_multiplies_stored(t, true);
    /* exact numerics: 16-bit floats stay 16-bit (half the memory; token generation reads them
     * once through the F16/BF16 dot kernels, prompts decode them to f32 per product); FP8 stays
     * at one byte a weight and NF4 at half a byte (plus absmax), each decoded with its scales per
     * product (lb_weight_decode_rows) */
    return t == LB_TYPE_F16 || t == LB_TYPE_BF16 || t == LB_TYPE_F8_E4M3 || t == LB_TYPE_F8_E5M2 || t == LB_TYPE_NF4;
}

/* A linear weight: decoded to f32, or, when it keeps its stored form, borrowed from the
 * mapping (still decoded once to reject NaN/Inf, then the copy is dropped). */
static lb_status load_linear(const lb_tensor_info *t, lb_linear_load mode, lb_weight *w)
{
    memset(w, 0, sizeof *w);
    lb_status st = lb_tensor_to_f32(t, &w->f32);
    if (st) return st;
    w->type = LB_TYPE_F32;
    if (mode != LB_LOAD_F32 && lb_weight_keeps_stored(t->type, mode == LB_LOAD_LLAMACPP)) {
        free(w->f32);
        w->f32 = NULL;
        *w = stored_in_place(t);
    }
    return LB_OK;
}

bool lb_block_role_is_linear(lb_block_role r)
{
    return r == LB_ROLE_Q || r == LB_ROLE_K || r == LB_ROLE_V || r == LB_ROLE_O || r == LB_ROLE_GATE ||
           r == LB_ROLE_UP || r == LB_ROLE_DOWN;
}

lb_status lb_weights_find_block(const lb_source *src, const lb_llama_config *c, int layer,
                                const lb_tensor_info *t[LB_ROLE_COUNT])
{
    int64_t q_dim = c->n_head * c->head_dim, kv_dim = c->n_head_kv * c->head_dim, E = c->n_embd, F = c->n_ff;
    const struct {
        int64_t d0, d1;
        bool optional;
    } shape[LB_ROLE_COUNT] = {
        [LB_ROLE_ATTN_NORM] = {E, 0, false}, [LB_ROLE_Q] = {q_dim, E, false},     [LB_ROLE_K] = {kv_dim, E, false},
        [LB_ROLE_V] = {kv_dim, E, false},    [LB_ROLE_O] = {E, q_dim, false},     [LB_ROLE_QB] = {q_dim, 0, !c->qkv_bias},
        [LB_ROLE_KB] = {kv_dim, 0, !c->qkv_bias}, [LB_ROLE_VB] = {kv_dim, 0, !c->qkv_bias},
        [LB_ROLE_FFN_NORM] = {E, 0, false},  [LB_ROLE_GATE] = {F, E, false},      [LB_ROLE_UP] = {F, E, false},
        [LB_ROLE_DOWN] = {E, F, false},
    };
    for (int r = 0; r < LB_ROLE_COUNT; r++) {
        lb_status st = find_checked(src, BLOCK_ROLES[r], layer, shape[r].d0, shape[r].d1, shape[r].optional, &t[r]);
        if (st) return st;
    }
    return LB_OK;
}

lb_status lb_weights_load_block(const lb_source *src, const lb_llama_config *c, int layer, lb_linear_load mode,
                                lb_block *b)
{
    memset(b, 0, sizeof *b);
    const lb_tensor_info *t[LB_ROLE_COUNT];
    lb_status st = lb_weights_find_block(src, c, layer, t);
    if (st) return st;
    if ((st = lb_tensor_to_f32(t[LB_ROLE_ATTN_NORM], &b->attn_norm)) ||
        (st = load_linear(t[LB_ROLE_Q], mode, &b->wq)) ||
        (st = load_linear(t[LB_ROLE_K], mode, &b->wk)) ||
        (st = load_linear(t[LB_ROLE_V], mode, &b->wv)) ||
        (st = load_linear(t[LB_ROLE_O], mode, &b->wo)) || (st = decode_opt(t[LB_ROLE_QB], &b->bq)) ||
        (st = decode_opt(t[LB_ROLE_KB], &b->bk)) || (st = decode_opt(t[LB_ROLE_VB], &b->bv)) ||
        (st = lb_tensor_to_f32(t[LB_ROLE_FFN_NORM], &b->ffn_norm)) ||
        (st = load_linear(t[LB_ROLE_GATE], mode, &b->w_gate)) ||
        (st = load_linear(t[LB_ROLE_UP], mode, &b->w_up)) ||
        (st = load_linear(t[LB_ROLE_DOWN], mode, &b->w_down))) {
        lb_block_free(b);
        return st;
    }
    return LB_OK;
}

bool lb_weight_multiplies_stored(lb_type t, bool llamacpp_numerics)
{
    return llamacpp_numerics && t != LB_TYPE_F32 && lb_dot_traits_of(t);
}

uint64_t lb_weight_decode_bytes(const lb_tensor_info *t, bool llamacpp_numerics)
{
    return t && !lb_weight_multiplies_stored(t->type, llamacpp_numerics) ? (uint64_t)t->n_elements * sizeof(float) : 0;
}

uint64_t lb_weight_resident_bytes(const lb_tensor_info *t, bool linear, bool llamacpp_numerics)
{
    if (!t) return 0;
    if (linear && lb_weight_keeps_stored(t->type, llamacpp_numerics)) {
        uint64_t b = t->nbytes;
        for (int k = 0; k < LB_WEIGHT_N_AUX; k++) b += lb_weight_aux(t, k) ? lb_weight_aux(t, k)->nbytes : 0;
        return b;
    }
    return (uint64_t)t->n_elements * sizeof(float);
}

void lb_block_free(lb_block *b)
{
    float *all[] = {b->attn_norm, b->wq.f32, b->wk.f32, b->wv.f32, b->wo.f32, b->bq, b->bk, b->bv, b->ffn_norm,
                    b->w_gate.f32, b->w_up.f32, b->w_down.f32};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(b, 0, sizeof *b);
}

lb_status lb_weights_find_globals(const lb_source *src, const lb_llama_config *c, const lb_tensor_info **embd,
                                  const lb_tensor_info **out_norm, const lb_tensor_info **output)
{
    /* Tied checkpoints may store only one of the two matrices (tinystories-656k keeps lm_head). */
    char name[160];
    bool have_embd = find_role(src, ROLE_TOK_EMBD, 0, name, sizeof name) != NULL;
    bool have_out = find_role(src, ROLE_OUTPUT, 0, name, sizeof name) != NULL;
    role_names embd_role = have_embd || !have_out ? ROLE_TOK_EMBD : ROLE_OUTPUT;
    bool tied = c->tied_embeddings || !have_out || !have_embd;
    lb_status st;
    if ((st = find_checked(src, embd_role, 0, c->n_vocab, c->n_embd, false, embd)) ||
        (st = find_checked(src, ROLE_OUT_NORM, 0, c->n_embd, 0, false, out_norm)) ||
        (st = find_checked(src, tied ? embd_role : ROLE_OUTPUT, 0, c->n_vocab, c->n_embd, false, output)))
        return st;
    return LB_OK;
}

lb_status lb_weights_load_globals(const lb_source *src, const lb_llama_config *c, bool keep_quantized, bool load_embd,
                                  bool load_output, float **tok_embd, float **out_norm, lb_weight *output)
{
    *tok_embd = *out_norm = NULL;
    memset(output, 0, sizeof *output);
    const lb_tensor_info *te, *tn, *to;
    lb_status st = lb_weights_find_globals(src, c, &te, &tn, &to);
    if (st) return st;
    bool tied = te == to;
    if (load_embd && (st = lb_tensor_to_f32(te, tok_embd))) return st;
    if ((st = lb_tensor_to_f32(tn, out_norm))) goto fail;
    if (load_output) {
        if (tied && *tok_embd && !lb_weight_keeps_stored(to->type, keep_quantized)) {
            output->f32 = *tok_embd; /* one decoded copy serves both */
            output->type = LB_TYPE_F32;
        } else if ((st = load_linear(to, keep_quantized ? LB_LOAD_LLAMACPP : LB_LOAD_EXACT, output))) {
            goto fail;
        }
    }
    return LB_OK;
fail:
    free(*tok_embd);
    free(*out_norm);
    *tok_embd = *out_norm = NULL;
    return st;
}
