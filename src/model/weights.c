/* Finds each weight of a Llama-family model under its Hugging Face or GGUF name, checks its
 * shape against the configuration, and decodes it to f32. Missing tensors, wrong shapes and
 * non-finite values are reported with the tensor's name, file and byte offset. */
#include "model/weights.h"
#include "kernels/ref/vec_dot.h"
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

typedef enum block_role {
    R_ATTN_NORM, R_Q, R_K, R_V, R_O, R_QB, R_KB, R_VB, R_FFN_NORM, R_GATE, R_UP, R_DOWN, R_COUNT
} block_role;

static const role_names BLOCK_ROLES[R_COUNT] = {
    [R_ATTN_NORM] = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    [R_Q] = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    [R_K] = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    [R_V] = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    [R_O] = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    [R_QB] = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"},
    [R_KB] = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"},
    [R_VB] = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"},
    [R_FFN_NORM] = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    [R_GATE] = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    [R_UP] = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    [R_DOWN] = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
};

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

lb_status lb_tensor_to_f32(const lb_tensor_info *t, float **out)
{
    *out = NULL;
    const lb_type_traits *tr = lb_type_traits_of(t->type);
    if (!tr || !tr->to_f32)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %llu has type %s, which lowbit cannot decode to f32",
                       t->file, t->name, (unsigned long long)t->offset, tr ? tr->name : "?");
    float *buf = lb_malloc((size_t)t->n_elements * sizeof(float), t->name);
    if (!buf) return LB_ERR_NOMEM;
    tr->to_f32(t->data, buf, t->n_elements);
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

/* Decodes the tensor of a role after checking its shape ([d0] or [d0, d1]). */
static lb_status load(const lb_source *src, role_names r, int layer, int64_t d0, int64_t d1, bool optional, float **out)
{
    char name[160];
    const lb_tensor_info *t = find_role(src, r, layer, name, sizeof name);
    *out = NULL;
    if (!t) {
        if (optional) return LB_OK;
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' is missing", src->path, name);
    }
    lb_status st = check_shape(t, d0, d1);
    return st ? st : lb_tensor_to_f32(t, out);
}

/* A linear weight: decoded to f32, or, with llamacpp numerics and a type the vec_dot kernels
 * take, kept as stored (still decoded once to reject NaN/Inf, then the copy is dropped). */
static lb_status load_linear(const lb_source *src, role_names r, int layer, int64_t d0, int64_t d1, bool keep_quantized,
                             lb_weight *w)
{
    memset(w, 0, sizeof *w);
    lb_status st = load(src, r, layer, d0, d1, false, &w->f32);
    if (st) return st;
    char name[160];
    const lb_tensor_info *t = find_role(src, r, layer, name, sizeof name);
    w->type = t->type;
    if (keep_quantized && t->type != LB_TYPE_F32 && lb_dot_traits_of(t->type)) {
        free(w->f32);
        w->f32 = NULL;
        w->q = t->data;
    } else {
        w->type = LB_TYPE_F32;
    }
    return LB_OK;
}

lb_status lb_weights_load_block(const lb_source *src, const lb_llama_config *c, int layer, bool keep_quantized,
                                lb_block *b)
{
    memset(b, 0, sizeof *b);
    int64_t q_dim = c->n_head * c->head_dim, kv_dim = c->n_head_kv * c->head_dim;
    const role_names *R = BLOCK_ROLES;
    lb_status st;
    if ((st = load(src, R[R_ATTN_NORM], layer, c->n_embd, 0, false, &b->attn_norm)) ||
        (st = load_linear(src, R[R_Q], layer, q_dim, c->n_embd, keep_quantized, &b->wq)) ||
        (st = load_linear(src, R[R_K], layer, kv_dim, c->n_embd, keep_quantized, &b->wk)) ||
        (st = load_linear(src, R[R_V], layer, kv_dim, c->n_embd, keep_quantized, &b->wv)) ||
        (st = load_linear(src, R[R_O], layer, c->n_embd, q_dim, keep_quantized, &b->wo)) ||
        (st = load(src, R[R_QB], layer, q_dim, 0, !c->qkv_bias, &b->bq)) ||
        (st = load(src, R[R_KB], layer, kv_dim, 0, !c->qkv_bias, &b->bk)) ||
        (st = load(src, R[R_VB], layer, kv_dim, 0, !c->qkv_bias, &b->bv)) ||
        (st = load(src, R[R_FFN_NORM], layer, c->n_embd, 0, false, &b->ffn_norm)) ||
        (st = load_linear(src, R[R_GATE], layer, c->n_ff, c->n_embd, keep_quantized, &b->w_gate)) ||
        (st = load_linear(src, R[R_UP], layer, c->n_ff, c->n_embd, keep_quantized, &b->w_up)) ||
        (st = load_linear(src, R[R_DOWN], layer, c->n_embd, c->n_ff, keep_quantized, &b->w_down))) {
        lb_block_free(b);
        return st;
    }
    return LB_OK;
}

void lb_block_free(lb_block *b)
{
    float *all[] = {b->attn_norm, b->wq.f32, b->wk.f32, b->wv.f32, b->wo.f32, b->bq, b->bk, b->bv, b->ffn_norm,
                    b->w_gate.f32, b->w_up.f32, b->w_down.f32};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(b, 0, sizeof *b);
}

lb_status lb_weights_load_globals(const lb_source *src, const lb_llama_config *c, bool keep_quantized, float **tok_embd,
                                  float **out_norm, lb_weight *output)
{
    *tok_embd = *out_norm = NULL;
    memset(output, 0, sizeof *output);
    lb_status st;
    /* Tied checkpoints may store only one of the two matrices (tinystories-656k keeps lm_head). */
    char name[160];
    bool have_embd = find_role(src, ROLE_TOK_EMBD, 0, name, sizeof name) != NULL;
    bool have_out = find_role(src, ROLE_OUTPUT, 0, name, sizeof name) != NULL;
    role_names embd_role = have_embd || !have_out ? ROLE_TOK_EMBD : ROLE_OUTPUT;
    if ((st = load(src, embd_role, 0, c->n_vocab, c->n_embd, false, tok_embd))) return st;
    if ((st = load(src, ROLE_OUT_NORM, 0, c->n_embd, 0, false, out_norm))) goto fail;
    bool tied = c->tied_embeddings || !have_out || !have_embd;
    if ((st = load_linear(src, tied ? embd_role : ROLE_OUTPUT, 0, c->n_vocab, c->n_embd, keep_quantized, output))) goto fail;
    if (tied && output->f32) { /* one decoded copy serves both */
        free(output->f32);
        output->f32 = *tok_embd;
    }
    return LB_OK;
fail:
    free(*tok_embd);
    free(*out_norm);
    *tok_embd = *out_norm = NULL;
    return st;
}
