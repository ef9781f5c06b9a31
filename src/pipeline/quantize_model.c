/* lowbit quantize: a model to a GGUF quantized the way llama.cpp's llama-quantize does it.
 *
 *   types      llama-quantize's TYPE names (llama_ftype) and their per-tensor recipes:
 *              llama_tensor_get_type() in src/llama-quant.cpp for the llama architecture (no
 *              experts, not Falcon): output.weight (or token_embd.weight when the embeddings are
 *              tied) Q6_K, or Q8_0 when its rows do not fit the base type's blocks; attn_v and
 *              ffn_down more bits in the *_M / *_L / Q2_K mixes, by layer (use_more_bits) and by
 *              n_gqa; attn_output more bits in Q2_K / Q3_K_M / Q3_K_L; then the fallback of
 *              convert_incompatible_tensor for rows that are not a multiple of the block.
 *   imatrix    llama-quantize's per-column weights: sum of squares / token count, looked up by the
 *              tensor's own name; a size mismatch is an error except for token_embd.weight.
 *   order      llama-quantize counts attn_v / ffn_down tensors in its (layer-sorted) order, so
 *              the i-th is layer i; here the layer is read from the name.
 *
 * Differences, on purpose: where llama.cpp throws ("Unsupported tensor size") for a row that a
 * legacy type cannot hold, we write F16; --pure also falls back instead of failing. The tensor
 * order and metadata are lb_convert's (convert_hf_to_gguf's), not a copy of llama-quantize's
 * sorted order. Not here: IQ1/IQ2/IQ3 types (no quantizer); the block-wise methods (GPTQ, AWQ,
 * SmoothQuant) are pipeline/blockwise.c, plugged in through the job's hooks. */
#include "lowbit.h"
#include "model/convert.h"
#include "pipeline/blockwise.h"
#include "pipeline/intn_sim.h"
#include "quant/types.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

// ---- file types (llama.h llama_ftype) ----

enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9, FT_Q2_K = 10,
    FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16,
    FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32,
};

static const struct {
    const char *name;
    int ftype;
    lb_type base; /* llama_model_quantize_impl's default_type */
    lb_type pure; /* the type --pure writes (differs for the aliases Q3_K, Q4_K, Q5_K) */
} FTYPES[] = {
    {"F32", FT_F32, LB_TYPE_F32, LB_TYPE_F32},          {"F16", FT_F16, LB_TYPE_F16, LB_TYPE_F16},
    {"BF16", FT_BF16, LB_TYPE_BF16, LB_TYPE_BF16},      {"Q4_0", FT_Q4_0, LB_TYPE_Q4_0, LB_TYPE_Q4_0},
    {"Q4_1", FT_Q4_1, LB_TYPE_Q4_1, LB_TYPE_Q4_1},      {"Q5_0", FT_Q5_0, LB_TYPE_Q5_0, LB_TYPE_Q5_0},
    {"Q5_1", FT_Q5_1, LB_TYPE_Q5_1, LB_TYPE_Q5_1},      {"Q8_0", FT_Q8_0, LB_TYPE_Q8_0, LB_TYPE_Q8_0},
    {"Q2_K", FT_Q2_K, LB_TYPE_Q2_K, LB_TYPE_Q2_K},      {"Q3_K_S", FT_Q3_K_S, LB_TYPE_Q3_K, LB_TYPE_Q3_K},
    {"Q3_K_M", FT_Q3_K_M, LB_TYPE_Q3_K, LB_TYPE_Q3_K},  {"Q3_K_L", FT_Q3_K_L, LB_TYPE_Q3_K, LB_TYPE_Q3_K},
    {"Q4_K_S", FT_Q4_K_S, LB_TYPE_Q4_K, LB_TYPE_Q4_K},  {"Q4_K_M", FT_Q4_K_M, LB_TYPE_Q4_K, LB_TYPE_Q4_K},
    {"Q5_K_S", FT_Q5_K_S, LB_TYPE_Q5_K, LB_TYPE_Q5_K},  {"Q5_K_M", FT_Q5_K_M, LB_TYPE_Q5_K, LB_TYPE_Q5_K},
    {"Q6_K", FT_Q6_K, LB_TYPE_Q6_K, LB_TYPE_Q6_K},      {"IQ4_NL", FT_IQ4_NL, LB_TYPE_IQ4_NL, LB_TYPE_IQ4_NL},
    {"IQ4_XS", FT_IQ4_XS, LB_TYPE_IQ4_XS, LB_TYPE_IQ4_XS},
    /* llama-quantize's aliases */
    {"Q3_K", FT_Q3_K_M, LB_TYPE_Q3_K, LB_TYPE_Q3_K},    {"Q4_K", FT_Q4_K_M, LB_TYPE_Q4_K, LB_TYPE_Q4_K},
    {"Q5_K", FT_Q5_K_M, LB_TYPE_Q5_K, LB_TYPE_Q5_K},
};
#define N_FTYPES ((int)(sizeof FTYPES / sizeof FTYPES[0]))

static int find_ftype(const char *name)
{
    for (int i = 0; i < N_FTYPES; i++)
        if (strcasecmp(FTYPES[i].name, name) == 0) return i;
    return -1;
}

int lb_quantize_ftype(const char *type)
{
    int bits;
    if (lb_intn_type(type, &bits)) return FT_F32; /* simulated: an F32 file */
    int i = type ? find_ftype(type) : -1;
    return i < 0 ? -1 : FTYPES[i].ftype;
}

// ---- the recipe (llama_tensor_get_type) ----

typedef struct qstate {
    const lb_quantize_params *p;
    int ftype;
    lb_type base;
    lb_imatrix *im;
    float *w;     /* [w_cap] per-column weights of the current tensor */
    int64_t w_cap;
    lb_blockwise *bw; /* a block-wise method (gptq, awq, smoothquant), else NULL */
    bool intn_rtn;    /* TYPE INTn rounded here (not by GPTQ) */
} qstate;

static bool use_more_bits(int64_t i_layer, int64_t n_layer)
{
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

static int64_t block_of(lb_type t) { return lb_type_traits_of(t)->block_size; }

static bool is_role(const char *name, const char *role) { return strstr(name, role) != NULL; }

/* convert_incompatible_tensor: a row the chosen type cannot hold. */
static lb_type fallback(lb_type t, int64_t n_per_row)
{
    if (n_per_row % block_of(t) == 0) return t;
    switch (t) {
    /* Q2_K/Q3_K -> Q4_0 is what the llama.cpp we test against (llama-cpp-python 0.3.36's) does;
     * older llama.cpp sent them to IQ4_NL (tests/golden/llama_quantize). */
    case LB_TYPE_Q2_K: case LB_TYPE_Q3_K: t = LB_TYPE_Q4_0; break;
    case LB_TYPE_IQ4_XS: t = LB_TYPE_IQ4_NL; break;
    case LB_TYPE_Q4_K: t = LB_TYPE_Q5_0; break;
    case LB_TYPE_Q5_K: t = LB_TYPE_Q5_1; break;
    case LB_TYPE_Q6_K: t = LB_TYPE_Q8_0; break;
    default: t = LB_TYPE_F16; break; /* llama.cpp throws "Unsupported tensor size" */
    }
    return n_per_row % block_of(t) == 0 ? t : LB_TYPE_F16;
}

static lb_type recipe(const qstate *q, const lb_convert_model_info *m, const char *name, int64_t n_per_row)
{
    const int ft = q->ftype;
    const bool has_imatrix = q->im != NULL;
    const int64_t n_gqa = m->n_head_kv > 0 ? m->n_head / m->n_head_kv : 1;
    const int64_t n_layer = m->n_layer;
    /* LLM_TYPE_70B: llama with 80 layers and grouped-query attention */
    const bool is_70b = n_layer == 80 && m->n_head != m->n_head_kv;
    int layer = -1;
    sscanf(name, "blk.%d.", &layer);
    lb_type t = q->base;

    if (!strcmp(name, "output.weight") || (!m->has_output && !strcmp(name, "token_embd.weight"))) {
        if (n_per_row % block_of(t) != 0) t = LB_TYPE_Q8_0;
        else if (t != LB_TYPE_Q8_0) t = LB_TYPE_Q6_K;
    } else if (!strcmp(name, "token_embd.weight")) {
        /* only IQ1/IQ2/IQ3/TQ mixes change it */
    } else if (is_role(name, "attn_v.weight")) {
        if (ft == FT_Q2_K) t = n_gqa >= 4 ? LB_TYPE_Q4_K : LB_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) t = layer < 2 ? LB_TYPE_Q5_K : LB_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) t = LB_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && n_gqa >= 4) t = LB_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(layer, n_layer)) t = LB_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && layer < 4) t = LB_TYPE_Q5_K;
        /* 70B: 8 heads share attn_v, which is 8x smaller than attn_q: more bits cost little */
        if (is_70b && (t == LB_TYPE_Q3_K || t == LB_TYPE_Q4_K)) t = LB_TYPE_Q5_K;
    } else if (is_role(name, "ffn_down")) {
        if (ft == FT_Q2_K) t = LB_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) t = layer < n_layer / 16 ? LB_TYPE_Q5_K : LB_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) t = LB_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) { if (use_more_bits(layer, n_layer)) t = LB_TYPE_Q6_K; }
        else if (layer < n_layer / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS) && !has_imatrix) t = LB_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(layer, n_layer)) t = LB_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && layer < n_layer / 8) t = LB_TYPE_Q5_K;
        /* guard against the first ffn_down layers going wrong with Q4_0/Q5_0 (with an imatrix) */
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && has_imatrix && layer < n_layer / 8)
            t = ft == FT_Q4_0 ? LB_TYPE_Q4_1 : LB_TYPE_Q5_1;
    } else if (is_role(name, "attn_output.weight")) {
        if (ft == FT_Q2_K) t = LB_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) t = LB_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) t = LB_TYPE_Q5_K;
    }
    return fallback(t, n_per_row);
}

static lb_status type_of(void *user, const lb_convert_model_info *m, const lb_convert_tensor *t, lb_type *out)
{
    const qstate *q = user;
    const lb_type_traits *tr = lb_type_traits_of(q->base);
    if (!tr->is_quantized) *out = q->base;                        /* F32/F16/BF16: every 2-D weight */
    else if (q->p->pure) *out = fallback(q->base, t->n_per_row);  /* --pure */
    else *out = recipe(q, m, t->name, t->n_per_row);
    if (q->bw) lb_blockwise_set_type(q->bw, t->name, *out);
    if (q->p->fold_only) *out = LB_TYPE_F32; /* the search still aims at the recipe's type */
    return LB_OK;
}

// ---- importance weights ----

static lb_status weights_of(void *user, const lb_convert_tensor *t, lb_type type, const float **out)
{
    qstate *q = user;
    *out = NULL;
    if (!q->im) return LB_OK;
    int64_t k = lb_imatrix_find(q->im, t->name);
    lb_imatrix_entry e;
    if (k < 0 || !lb_imatrix_get(q->im, k, &e)) return LB_OK; /* llama-quantize: "did not find weights" */
    if (e.n_in != t->n_per_row) {
        if (!strcmp(t->name, "token_embd.weight")) return LB_OK;
        return lb_fail(LB_ERR_FORMAT, "%s: imatrix entry '%s' has %lld columns, the tensor has %lld", q->p->imatrix,
                       t->name, (long long)e.n_in, (long long)t->n_per_row);
    }
    if (e.count <= 0) return LB_OK;
    if (t->n_per_row > q->w_cap) {
        float *w = realloc(q->w, (size_t)t->n_per_row * sizeof *w);
        if (!w) return lb_fail(LB_ERR_NOMEM, "out of memory for imatrix weights of %s", t->name);
        q->w = w, q->w_cap = t->n_per_row;
    }
    /* llama-quantize: in_sum2 / counts in float (a double quotient of the same float sum rounds
       to the same float: 53 >= 2 * 24 + 2 bits) */
    for (int64_t j = 0; j < t->n_per_row; j++) q->w[j] = (float)(e.sum2[j] / (double)e.count);
    *out = q->w;
    return LB_OK;
}

static void tensor_done(void *user, int64_t i, int64_t n, const char *name, lb_type type, int64_t n_elements,
                        uint64_t nbytes)
{
    const qstate *q = user;
    if (!q->p->on_tensor) return;
    lb_quantize_tensor_report r = {.index = i, .count = n, .name = name, .type = lb_type_traits_of(type)->name,
                                   .n_elements = n_elements, .n_bytes = nbytes, .rel_err = -1};
    if (q->bw) lb_blockwise_tensor_report(q->bw, name, &r);
    q->p->on_tensor(q->p->user, &r);
}

/* TYPE INTn with round to nearest: the block linears' values moved onto the grid. */
static lb_status round_intn(void *user, const lb_convert_tensor *t, float *x)
{
    const qstate *q = user;
    if (!lb_blockwise_is_linear(t->name)) return LB_OK;
    lb_intn_params ip = lb_intn_for_cols(q->p, t->n_per_row);
    return lb_intn_round_rows(&ip, x, t->n_rows, t->n_per_row);
}

/* A scaled block's tensors (block-wise AWQ / SmoothQuant), then INT-N rounding. */
static lb_status transform(void *user, const lb_convert_tensor *t, float *x)
{
    const qstate *q = user;
    lb_status st = q->bw ? lb_blockwise_transform(q->bw, t, x) : LB_OK;
    return !st && q->intn_rtn ? round_intn(user, t, x) : st;
}

static lb_status produce(void *user, const lb_convert_tensor *t, lb_type type, void *out, uint64_t nbytes, bool *done)
{
    return lb_blockwise_produce(((qstate *)user)->bw, t, type, out, nbytes, done);
}

static lb_status written(void *user, int64_t i, const char *name, lb_gguf_writer *w)
{
    return lb_blockwise_written(((qstate *)user)->bw, i, name, w);
}

// ---- driver ----

/* Rotation with GPTQ: the calibration must see the rotated model, so it is written first (F32,
 * or F16 when that would pass 4 GB) and quantized like any model, then removed. */
static lb_status quantize_rotated(const char *model_path, const char *out_path, const lb_quantize_params *p)
{
    lb_model *m = NULL;
    lb_status st = lb_model_open(model_path, &(lb_open_params){.no_weights = true, .quiet = true}, &m);
    if (st) return st;
    lb_model_desc d;
    lb_model_describe(m, &d);
    lb_model_close(m);
    size_t n = strlen(out_path) + 32;
    char *tmp = lb_malloc(n, "rotated model path");
    if (!tmp) return LB_ERR_NOMEM;
    snprintf(tmp, n, "%s.rotated.tmp.gguf", out_path);
    lb_convert_params cp = {.type = (uint64_t)d.n_params * 4 > (4ull << 30) ? LB_CONVERT_F16 : LB_CONVERT_F32,
                            .name = p->name, .rotate = p->rotate, .rotate_seed = p->rotate_seed,
                            .online_hadamard = p->online_hadamard};
    if (p->on_log) p->on_log(p->user, "rotation: writing the rotated model for calibration");
    st = lb_convert(model_path, tmp, &cp);
    if (!st) {
        lb_quantize_params inner = *p;
        inner.rotate = NULL;
        inner.online_hadamard = false; /* the temporary model carries R; its record is copied */
        st = lb_quantize_model(tmp, out_path, &inner);
    }
    remove(tmp);
    free(tmp);
    return st;
}

lb_status lb_quantize_model(const char *model_path, const char *out_path, const lb_quantize_params *params)
{
    lb_clear_error();
    lb_quantize_params defaults = {0};
    const lb_quantize_params *p = params ? params : &defaults;
    int rotate = 0;
    lb_status rst = lb_convert_rotation_kind(p->rotate, &rotate);
    if (rst) return rst;
    if ((rotate || p->online_hadamard) && p->imatrix)
        return lb_fail(LB_ERR_ARG, "lb_quantize_model: an imatrix of the unrotated model does not fit the rotated one; "
                                   "write the rotated model with lowbit convert --rotate and compute the imatrix on it");
    bool blockwise = p->method && strcasecmp(p->method, "rtn") != 0, gptq = false;
    lb_scale_method scale = LB_SCALE_NONE;
    if (blockwise && (rst = lb_blockwise_method(p->method, &gptq, &scale))) return rst;
    if (p->fold_only && (!scale || gptq))
        return lb_fail(LB_ERR_ARG, "lb_quantize_model: fold_only writes the scaled model of method awq or smoothquant, "
                                   "not of '%s'", p->method ? p->method : "rtn");
    if ((rotate || p->online_hadamard) && blockwise) return quantize_rotated(model_path, out_path, p);
    const char *type = p->type ? p->type : "Q4_K_M";
    int bits;
    bool intn = lb_intn_type(type, &bits);
    int k = intn ? find_ftype("F32") : find_ftype(type);
    if (k < 0) return lb_fail(LB_ERR_ARG, "lb_quantize_model: unknown type '%s'", type);
    qstate q = {.p = p, .ftype = FTYPES[k].ftype, .base = p->pure ? FTYPES[k].pure : FTYPES[k].base};
    lb_status st = LB_OK;
    if (p->imatrix && (st = lb_imatrix_load(p->imatrix, p->imatrix_chunk_size, &q.im))) return st;
    lb_convert_job job = {
        .name = p->name, .file_type = p->fold_only ? 0u : (uint32_t)q.ftype, .quantization_version = true, .copy_same_type = true,
        .n_threads = p->n_threads, .type_of = type_of, .weights_of = weights_of, .tensor_done = tensor_done,
        .user = &q, .rotate = rotate, .rotate_seed = p->rotate_seed, .online_hadamard = p->online_hadamard};
    if (blockwise && !intn && !lb_type_traits_of(q.base)->is_quantized)
        st = lb_fail(LB_ERR_ARG, "lb_quantize_model: method %s needs a quantized type, not %s", p->method, type);
    q.intn_rtn = intn && !gptq && !p->fold_only;
    if (q.intn_rtn || scale) job.transform = transform;
    if (!st && blockwise && !(st = lb_blockwise_open(model_path, out_path, p, &q.bw))) {
        if (gptq) job.produce = produce;
        job.written = written;
        lb_blockwise_output(q.bw, &job.partial_path, &job.resume, &job.resume_tensors, &job.resume_offset);
    }
    if (!st) st = lb_convert_run(model_path, out_path, &job);
    lb_blockwise_close(q.bw, st == LB_OK);
    free(q.w);
    lb_imatrix_close(q.im);
    return st;
}
