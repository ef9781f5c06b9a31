/* lb_export_hf: a model written as a Hugging Face directory that vLLM / transformers load as is.
 *   FP8  compressed-tensors "float-quantized": each quantized linear `X.weight` is F8_E4M3 or
 *        F8_E5M2 [out, in] plus `X.weight_scale` F32 ([1] per tensor, [out, 1] per channel,
 *        [ceil(out/128), ceil(in/128)] per block), codes from lb_fp8_quantize.
 *   NF4  bitsandbytes' Params4bit serialization (QuantState.as_dict(packed=True)): `X.weight` U8
 *        [(n+1)/2, 1] packed codes, `X.weight.absmax` (F32, or U8 codes with double quant),
 *        `X.weight.quant_map` F32[16], with double quant `X.weight.nested_absmax` and
 *        `X.weight.nested_quant_map` F32[256], and `X.weight.quant_state.bitsandbytes__nf4`: U8
 *        bytes of the JSON of the non-tensor fields (quant_type, blocksize, dtype, shape,
 *        nested_blocksize, nested_dtype, nested_offset), space-padded to a fixed length (json
 *        parsers skip trailing white space) because the header needs its size before the data.
 * Embeddings, norms, the output head and kept linears stay in the source's float dtype (BF16
 * when the source is quantized). GGUF / llama2.c q/k rows are un-permuted from interleaved
 * pairs back to Hugging Face's rotate-half order (the inverse of convert_hf_to_gguf's permute).
 * One tensor is in memory at a time. Everything is written into OUT.tmp.PID, which is renamed
 * to OUT when complete (an existing OUT is replaced only then); on failure it is removed. */
#include "pipeline/export_hf.h"
#include "io/safetensors_write.h"
#include "model/weights.h"
#include "quant/nf4.h"
#include "quant/types.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARD_BYTES (4000ull * 1000 * 1000) /* a new shard past ~4 GB (transformers shards at 5 GB) */
#define NF4_STATE_BYTES 256                  /* the padded quant_state JSON */

typedef struct planned {
    char name[128];            /* Hugging Face name */
    char gguf[128];            /* GGUF name (policy globs), "" for globals */
    const lb_tensor_info *src;
    int n_dims;
    int64_t shape[2];          /* [rows, cols] or [n] */
    int64_t permute_heads;     /* > 0: rows un-permuted from GGUF pairs */
    bool linear;               /* a block linear (the policy applies) */
    lb_export_kind kind;
    lb_type keep_type;         /* KEEP: F32, F16 or BF16 */
    uint64_t bytes;            /* of all its parts */
    int shard;
} planned;

typedef struct exporter {
    const lb_export_params *p;
    lb_source *src;
    lb_llama_config cfg;
    lb_export_policy policy;
    lb_export_kind dflt;
    lb_fp8_scaling scaling;
    planned *t;
    int64_t n, cap;
    int n_shards;
    char *tmp;
    lb_export_summary sum;
} exporter;

// ---- parameters ----

static lb_status parse_params(exporter *e)
{
    const lb_export_params *p = e->p;
    if (!p->type || !lb_export_kind_parse(p->type, strlen(p->type), &e->dflt) || e->dflt == LB_EXPORT_KEEP)
        return lb_fail(LB_ERR_ARG, "unknown export type '%s' (FP8_E4M3, FP8_E5M2, NF4)", p->type ? p->type : "(none)");
    const char *sc = p->fp8_scale ? p->fp8_scale : "tensor";
    if (strcasecmp(sc, "tensor") == 0) e->scaling = LB_FP8_SCALE_TENSOR;
    else if (strcasecmp(sc, "channel") == 0) e->scaling = LB_FP8_SCALE_CHANNEL;
    else if (strcasecmp(sc, "block") == 0) e->scaling = LB_FP8_SCALE_BLOCK;
    else return lb_fail(LB_ERR_ARG, "unknown --fp8-scale '%s' (tensor, channel, block)", sc);
    const char *act = p->fp8_act ? p->fp8_act : "dynamic";
    if (strcasecmp(act, "dynamic") == 0) e->sum.act_dynamic = true;
    else if (strcasecmp(act, "none") == 0) e->sum.act_dynamic = false;
    else if (strcasecmp(act, "static") == 0)
        return lb_fail(LB_ERR_UNSUPPORTED, "--fp8-act static needs calibrated per-linear input scales (input_scale), "
                                           "which lowbit does not compute: use dynamic or none");
    else return lb_fail(LB_ERR_ARG, "unknown --fp8-act '%s' (dynamic, none)", act);
    e->sum.scaling = e->scaling;
    e->sum.nf4_double_quant = p->nf4_double_quant;
    return lb_export_policy_parse(p->policy, &e->policy);
}

// ---- the plan ----

static int64_t n_elements(const planned *t) { return t->n_dims == 2 ? t->shape[0] * t->shape[1] : t->shape[0]; }

static uint64_t nf4_blocks(const planned *t) { return ((uint64_t)n_elements(t) + LB_NF4_BLOCK - 1) / LB_NF4_BLOCK; }

static uint64_t part_bytes(const exporter *e, const planned *t)
{
    uint64_t n = (uint64_t)n_elements(t);
    switch (t->kind) {
    case LB_EXPORT_KEEP: return n * lb_type_traits_of(t->keep_type)->type_size;
    case LB_EXPORT_E4M3:
    case LB_EXPORT_E5M2: return n + 4 * (uint64_t)lb_fp8_n_scales(e->scaling, t->shape[0], t->shape[1]);
    case LB_EXPORT_NF4: {
        uint64_t nb = nf4_blocks(t), b = (n + 1) / 2 + 16 * 4 + NF4_STATE_BYTES;
        if (!e->p->nf4_double_quant) return b + 4 * nb;
        return b + nb + 4 * ((nb + LB_NF4_DQ_BLOCK - 1) / LB_NF4_DQ_BLOCK) + 256 * 4;
    }
    default: LB_ASSERT(!"bad kind"); return 0;
    }
}

static lb_status plan_add(exporter *e, const char *name, const char *gguf, const lb_tensor_info *t, bool linear,
                          int64_t heads)
{
    if (e->n == e->cap) {
        int64_t cap = e->cap ? 2 * e->cap : 256;
        planned *p = realloc(e->t, (size_t)cap * sizeof *p);
        if (!p) return lb_fail(LB_ERR_NOMEM, "out of memory planning the export");
        e->t = p, e->cap = cap;
    }
    planned *p = &e->t[e->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->gguf, sizeof p->gguf, "%s", gguf ? gguf : "");
    p->src = t;
    p->n_dims = t->n_dims == 2 ? 2 : 1;
    p->shape[0] = t->n_dims == 2 ? t->shape[0] : t->n_elements;
    p->shape[1] = t->n_dims == 2 ? t->shape[1] : 0;
    p->permute_heads = heads;
    p->linear = linear;
    p->keep_type = t->type == LB_TYPE_F32 || t->type == LB_TYPE_F16 || t->type == LB_TYPE_BF16 ? t->type : LB_TYPE_BF16;
    p->kind = linear ? lb_export_policy_kind(&e->policy, e->dflt, strstr(name, ".self_attn.") != NULL,
                                             strstr(name, ".mlp.") != NULL, name, gguf)
                     : LB_EXPORT_KEEP;
    p->bytes = part_bytes(e, p);
    return LB_OK;
}

static lb_status make_plan(exporter *e)
{
    const lb_llama_config *c = &e->cfg;
    const lb_tensor_info *embd, *norm, *out;
    lb_status st = lb_weights_find_globals(e->src, c, &embd, &norm, &out);
    if (st) return st;
    e->sum.tied = out == embd;
    if ((st = plan_add(e, "model.embed_tokens.weight", NULL, embd, false, 0))) return st;
    for (int l = 0; l < c->n_layer; l++) {
        const lb_tensor_info *t[LB_ROLE_COUNT];
        if ((st = lb_weights_find_block(e->src, c, l, t))) return st;
        for (int r = 0; r < LB_ROLE_COUNT; r++) {
            if (!t[r]) continue;
            char hf[128], gg[128];
            snprintf(hf, sizeof hf, lb_weights_role_name((lb_block_role)r, false), l);
            snprintf(gg, sizeof gg, lb_weights_role_name((lb_block_role)r, true), l);
            /* GGUF/llama2.c llama q/k rows (and biases) hold interleaved RoPE pairs */
            int64_t heads = 0;
            if (c->rope_interleaved && (r == LB_ROLE_Q || r == LB_ROLE_QB)) heads = c->n_head;
            if (c->rope_interleaved && (r == LB_ROLE_K || r == LB_ROLE_KB)) heads = c->n_head_kv;
            if ((st = plan_add(e, hf, gg, t[r], lb_block_role_is_linear((lb_block_role)r), heads))) return st;
        }
    }
    if ((st = plan_add(e, "model.norm.weight", NULL, norm, false, 0))) return st;
    if (!e->sum.tied && (st = plan_add(e, "lm_head.weight", NULL, out, false, 0))) return st;

    /* what the config needs; NF4 and FP8 are two loaders' formats and cannot share a checkpoint */
    for (int64_t i = 0; i < e->n; i++) {
        planned *p = &e->t[i];
        if (!p->linear) continue;
        e->sum.kinds_used[p->kind] = true;
        char **m = realloc(e->sum.modules[p->kind], (size_t)(e->sum.n_modules[p->kind] + 1) * sizeof *m);
        if (!m) return lb_fail(LB_ERR_NOMEM, "out of memory planning the export");
        e->sum.modules[p->kind] = m;
        size_t len = strlen(p->name) - strlen(".weight");
        if (!(m[e->sum.n_modules[p->kind]++] = lb_strndup(p->name, len))) return LB_ERR_NOMEM;
    }
    bool fp8 = e->sum.kinds_used[LB_EXPORT_E4M3] || e->sum.kinds_used[LB_EXPORT_E5M2];
    if (fp8 && e->sum.kinds_used[LB_EXPORT_NF4])
        return lb_fail(LB_ERR_ARG, "--policy mixes NF4 and FP8: a checkpoint is either bitsandbytes (NF4) or "
                                   "compressed-tensors (FP8), not both");
    if (!fp8 && !e->sum.kinds_used[LB_EXPORT_NF4])
        return lb_fail(LB_ERR_ARG, "--policy keeps every linear 16-bit: nothing to quantize");

    const lb_tensor_info *first = embd;
    e->sum.torch_dtype = first->type == LB_TYPE_F32 ? "float32" : first->type == LB_TYPE_F16 ? "float16" : "bfloat16";

    uint64_t in_shard = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if (in_shard && in_shard + e->t[i].bytes > SHARD_BYTES) e->n_shards++, in_shard = 0;
        e->t[i].shard = e->n_shards;
        in_shard += e->t[i].bytes;
    }
    e->n_shards++;
    return LB_OK;
}

// ---- tensors ----

/* Inverse of convert_hf_to_gguf's LlamaModel.permute: GGUF row h*hd + 2i + j holds HF row
 * h*hd + j*hd/2 + i. */
static lb_status unpermute(float *x, int64_t n_rows, int64_t row_len, int64_t n_head, const char *name)
{
    int64_t hd = n_rows / n_head;
    if (n_rows % n_head || hd % 2)
        return lb_fail(LB_ERR_FORMAT, "tensor '%s': %lld rows do not split into %lld heads of even size", name,
                       (long long)n_rows, (long long)n_head);
    float *tmp = lb_malloc((size_t)(n_rows * row_len) * sizeof *tmp, name);
    if (!tmp) return LB_ERR_NOMEM;
    memcpy(tmp, x, (size_t)(n_rows * row_len) * sizeof *tmp);
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < hd / 2; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(x + (h * hd + j * hd / 2 + i) * row_len, tmp + (h * hd + 2 * i + j) * row_len,
                       (size_t)row_len * sizeof *x);
    free(tmp);
    return LB_OK;
}

static void part_name(char *buf, size_t cap, const char *name, const char *suffix) { snprintf(buf, cap, "%s%s", name, suffix); }

/* The padded quant_state JSON of an NF4 tensor (offset: nested_offset with double quant). */
static void nf4_state(const exporter *e, const planned *t, float offset, char out[NF4_STATE_BYTES])
{
    const char *dtype = t->keep_type == LB_TYPE_F32 ? "float32" : t->keep_type == LB_TYPE_F16 ? "float16" : "bfloat16";
    int k = snprintf(out, NF4_STATE_BYTES, "{\"quant_type\": \"nf4\", \"blocksize\": %d, \"dtype\": \"%s\", \"shape\": [%" PRId64 ", %" PRId64 "]",
                     LB_NF4_BLOCK, dtype, t->shape[0], t->shape[1]);
    if (e->p->nf4_double_quant)
        k += snprintf(out + k, (size_t)(NF4_STATE_BYTES - k),
                      ", \"nested_blocksize\": %d, \"nested_dtype\": \"float32\", \"nested_offset\": %.9g", LB_NF4_DQ_BLOCK,
                      (double)offset);
    k += snprintf(out + k, (size_t)(NF4_STATE_BYTES - k), "}");
    LB_ASSERT(k < NF4_STATE_BYTES);
    memset(out + k, ' ', (size_t)(NF4_STATE_BYTES - k));
}

static void declare(const exporter *e, const planned *t, lb_st_writer *w)
{
    char nm[192];
    int64_t n = n_elements(t);
    if (t->kind == LB_EXPORT_KEEP) {
        lb_st_writer_declare(w, t->name, lb_type_traits_of(t->keep_type)->name, t->shape, t->n_dims, t->bytes);
    } else if (t->kind != LB_EXPORT_NF4) {
        lb_st_writer_declare(w, t->name, t->kind == LB_EXPORT_E4M3 ? "F8_E4M3" : "F8_E5M2", t->shape, 2, (uint64_t)n);
        int64_t rows = t->shape[0], cols = t->shape[1];
        int64_t sh[2] = {1, 1};
        int nd = 1;
        if (e->scaling == LB_FP8_SCALE_CHANNEL) sh[0] = rows, nd = 2;
        if (e->scaling == LB_FP8_SCALE_BLOCK) sh[0] = (rows + 127) / 128, sh[1] = (cols + 127) / 128, nd = 2;
        part_name(nm, sizeof nm, t->name, "_scale");
        lb_st_writer_declare(w, nm, "F32", sh, nd, 4 * (uint64_t)lb_fp8_n_scales(e->scaling, rows, cols));
    } else {
        int64_t nb = (int64_t)nf4_blocks(t), packed[2] = {(n + 1) / 2, 1}, one[1];
        lb_st_writer_declare(w, t->name, "U8", packed, 2, (uint64_t)packed[0]);
        one[0] = nb;
        part_name(nm, sizeof nm, t->name, ".absmax");
        lb_st_writer_declare(w, nm, e->p->nf4_double_quant ? "U8" : "F32", one, 1, (uint64_t)nb * (e->p->nf4_double_quant ? 1 : 4));
        one[0] = 16;
        part_name(nm, sizeof nm, t->name, ".quant_map");
        lb_st_writer_declare(w, nm, "F32", one, 1, 64);
        if (e->p->nf4_double_quant) {
            one[0] = (nb + LB_NF4_DQ_BLOCK - 1) / LB_NF4_DQ_BLOCK;
            part_name(nm, sizeof nm, t->name, ".nested_absmax");
            lb_st_writer_declare(w, nm, "F32", one, 1, 4 * (uint64_t)one[0]);
            one[0] = 256;
            part_name(nm, sizeof nm, t->name, ".nested_quant_map");
            lb_st_writer_declare(w, nm, "F32", one, 1, 1024);
        }
        one[0] = NF4_STATE_BYTES;
        part_name(nm, sizeof nm, t->name, ".quant_state.bitsandbytes__nf4");
        lb_st_writer_declare(w, nm, "U8", one, 1, NF4_STATE_BYTES);
    }
}

/* Encodes x (the tensor's values, HF row order) and writes its parts in declared order. */
static lb_status encode(const exporter *e, const planned *t, const float *x, lb_st_writer *w)
{
    int64_t n = n_elements(t);
    if (t->kind == LB_EXPORT_KEEP) {
        size_t es = lb_type_traits_of(t->keep_type)->type_size;
        uint8_t *b = lb_malloc((size_t)n * es, t->name);
        if (!b) return LB_ERR_NOMEM;
        for (int64_t i = 0; i < n; i++) {
            if (t->keep_type == LB_TYPE_F32) memcpy(b + 4 * i, &x[i], 4);
            else {
                uint16_t h = t->keep_type == LB_TYPE_F16 ? lb_f32_to_f16(x[i]) : lb_f32_to_bf16(x[i]);
                memcpy(b + 2 * i, &h, 2);
            }
        }
        lb_st_writer_write(w, b, (uint64_t)n * es);
        free(b);
        return LB_OK;
    }
    if (t->kind != LB_EXPORT_NF4) {
        int64_t rows = t->shape[0], cols = t->shape[1], ns = lb_fp8_n_scales(e->scaling, rows, cols);
        uint8_t *codes = lb_malloc((size_t)n, t->name);
        float *scales = lb_malloc((size_t)ns * sizeof *scales, t->name);
        if (!codes || !scales) return free(codes), free(scales), LB_ERR_NOMEM;
        lb_fp8_quantize(t->kind == LB_EXPORT_E4M3 ? LB_TYPE_F8_E4M3 : LB_TYPE_F8_E5M2, e->scaling, x, rows, cols, codes, scales);
        lb_st_writer_write(w, codes, (uint64_t)n);
        lb_st_writer_write(w, scales, (uint64_t)ns * 4);
        free(codes);
        free(scales);
        return LB_OK;
    }
    int64_t nb = (int64_t)nf4_blocks(t), nb2 = (nb + LB_NF4_DQ_BLOCK - 1) / LB_NF4_DQ_BLOCK;
    uint8_t *packed = lb_malloc((size_t)(n + 1) / 2, t->name), *codes = lb_malloc((size_t)nb, t->name);
    float *absmax = lb_malloc((size_t)nb * sizeof *absmax, t->name), *absmax2 = lb_malloc((size_t)nb2 * sizeof *absmax2, t->name);
    lb_status st = LB_OK;
    if (!packed || !codes || !absmax || !absmax2) st = LB_ERR_NOMEM;
    else {
        float offset = 0;
        lb_nf4_quantize(x, n, packed, absmax);
        lb_st_writer_write(w, packed, (uint64_t)(n + 1) / 2);
        if (e->p->nf4_double_quant) {
            lb_nf4_dq_quantize(absmax, nb, codes, absmax2, &offset);
            lb_st_writer_write(w, codes, (uint64_t)nb);
        } else {
            lb_st_writer_write(w, absmax, (uint64_t)nb * 4);
        }
        lb_st_writer_write(w, lb_nf4_table, 64);
        if (e->p->nf4_double_quant) {
            lb_st_writer_write(w, absmax2, (uint64_t)nb2 * 4);
            lb_st_writer_write(w, lb_nf4_dynamic_map, 1024);
        }
        char state[NF4_STATE_BYTES];
        nf4_state(e, t, offset, state);
        lb_st_writer_write(w, state, NF4_STATE_BYTES);
    }
    free(packed), free(codes), free(absmax), free(absmax2);
    return st;
}

static lb_status write_tensor(const exporter *e, const planned *t, lb_st_writer *w)
{
    const lb_tensor_info *s = t->src;
    /* a tensor kept in its own dtype and order is copied byte for byte */
    if (t->kind == LB_EXPORT_KEEP && s->type == t->keep_type && !t->permute_heads) {
        lb_st_writer_write(w, s->data, s->nbytes);
        lb_release_pages(s->data, (size_t)s->nbytes);
        return LB_OK;
    }
    float *x;
    lb_status st = lb_tensor_to_f32(s, &x);
    if (st) return st;
    if (t->permute_heads)
        st = unpermute(x, t->shape[0], t->n_dims == 2 ? t->shape[1] : 1, t->permute_heads, s->name);
    if (!st) st = encode(e, t, x, w);
    free(x);
    return st;
}

static void shard_name(const exporter *e, int k, char *buf, size_t cap)
{
    if (e->n_shards == 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05d-of-%05d.safetensors", k + 1, e->n_shards);
}

static lb_status write_shards(exporter *e)
{
    int64_t done = 0;
    for (int k = 0; k < e->n_shards; k++) {
        char name[64];
        shard_name(e, k, name, sizeof name);
        char *path = lb_path_join(e->tmp, name);
        if (!path) return LB_ERR_NOMEM;
        lb_st_writer *w;
        lb_status st = lb_st_writer_open(path, &w);
        free(path);
        if (st) return st;
        lb_st_writer_meta(w, "format", "pt");
        for (int64_t i = 0; i < e->n; i++)
            if (e->t[i].shard == k) declare(e, &e->t[i], w);
        for (int64_t i = 0; i < e->n && !st; i++) {
            const planned *t = &e->t[i];
            if (t->shard != k) continue;
            st = write_tensor(e, t, w);
            if (!st && !e->p->quiet)
                fprintf(stderr, "[%4" PRId64 "/%4" PRId64 "] %-52s %-9s %10.2f MiB\n", ++done, e->n, t->name,
                        t->kind == LB_EXPORT_KEEP ? lb_type_traits_of(t->keep_type)->name : lb_export_kind_name(t->kind),
                        (double)t->bytes / (1 << 20));
        }
        if (st) {
            lb_st_writer_abort(w);
            return st;
        }
        if ((st = lb_st_writer_finish(w))) return st;
    }
    return LB_OK;
}

// ---- small files ----

static lb_status write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = lb_path_join(dir, name);
    if (!path) return LB_ERR_NOMEM;
    lb_status st = LB_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) st = lb_fail(LB_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const uint8_t *p = data;
    while (!st && len) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) st = lb_fail(LB_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        else p += k, len -= (size_t)k;
    }
    if (!st && fsync(fd) != 0) st = lb_fail(LB_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !st) st = lb_fail(LB_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    free(path);
    return st;
}

static lb_status write_json(const char *dir, const char *name, const cJSON *j)
{
    char *text = j ? cJSON_Print(j) : NULL;
    if (!text) return lb_fail(LB_ERR_NOMEM, "out of memory writing %s", name);
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (!nl) return free(text), LB_ERR_NOMEM;
    nl[n] = '\n', nl[n + 1] = '\0';
    lb_status st = write_file(dir, name, nl, n + 1);
    free(nl);
    return st;
}

static lb_status write_index(const exporter *e)
{
    if (e->n_shards == 1) return LB_OK;
    cJSON *j = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(j, "metadata"), *map = cJSON_AddObjectToObject(j, "weight_map");
    uint64_t total = 0;
    for (int64_t i = 0; i < e->n; i++) {
        const planned *t = &e->t[i];
        char file[64];
        shard_name(e, t->shard, file, sizeof file);
        total += t->bytes;
        /* every part of the tensor lives in its shard; list them by the names declare() gives */
        const char *suffixes[6] = {""};
        int ns = 1;
        if (t->kind == LB_EXPORT_E4M3 || t->kind == LB_EXPORT_E5M2) suffixes[ns++] = "_scale";
        if (t->kind == LB_EXPORT_NF4) {
            suffixes[ns++] = ".absmax", suffixes[ns++] = ".quant_map", suffixes[ns++] = ".quant_state.bitsandbytes__nf4";
            if (e->p->nf4_double_quant) suffixes[ns++] = ".nested_absmax", suffixes[ns++] = ".nested_quant_map";
        }
        for (int k = 0; k < ns; k++) {
            char nm[192];
            part_name(nm, sizeof nm, t->name, suffixes[k]);
            cJSON_AddStringToObject(map, nm, file);
        }
    }
    cJSON_AddNumberToObject(meta, "total_size", (double)total);
    lb_status st = write_json(e->tmp, "model.safetensors.index.json", j);
    cJSON_Delete(j);
    return st;
}

/* Tokenizer and generation files of an HF source, copied unchanged. */
static lb_status copy_tokenizer(const exporter *e)
{
    if (e->src->kind != LB_SOURCE_HF_DIR && e->src->kind != LB_SOURCE_SAFETENSORS) return LB_OK;
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "tokenizer.model", "vocab.json", "merges.txt",
                                        "added_tokens.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *from = lb_path_join(e->src->dir, files[i]);
        if (!from) return LB_ERR_NOMEM;
        lb_status st = LB_OK;
        if (lb_file_exists(from)) {
            char *data;
            size_t len;
            if (!(st = lb_read_file(from, &data, &len))) {
                st = write_file(e->tmp, files[i], data, len);
                free(data);
            }
        }
        free(from);
        if (st) return st;
    }
    return LB_OK;
}

// ---- the directory ----

/* Removes a directory of plain files (the temp directory, a replaced export). */
static bool remove_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = lb_path_join(dir, de->d_name);
        if (p) unlink(p);
        free(p);
    }
    closedir(d);
    return rmdir(dir) == 0;
}

/* OUT.tmp.PID -> OUT; an existing OUT is moved aside first and removed after. */
static lb_status publish(const char *tmp, const char *out)
{
    struct stat sb;
    if (stat(out, &sb) != 0) {
        if (rename(tmp, out) != 0) return lb_fail(LB_ERR_IO, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
        return LB_OK;
    }
    if (!S_ISDIR(sb.st_mode)) return lb_fail(LB_ERR_IO, "%s: exists and is not a directory", out);
    size_t n = strlen(out) + 32;
    char *old = lb_malloc(n, "path");
    if (!old) return LB_ERR_NOMEM;
    snprintf(old, n, "%s.old.%ld", out, (long)getpid());
    lb_status st = LB_OK;
    if (rename(out, old) != 0) st = lb_fail(LB_ERR_IO, "%s: cannot move aside to %s: %s", out, old, strerror(errno));
    else if (rename(tmp, out) != 0) {
        st = lb_fail(LB_ERR_IO, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
        (void)rename(old, out);
    } else if (!remove_flat(old)) {
        fprintf(stderr, "lowbit: warning: the replaced %s was left at %s (it holds more than plain files)\n", out, old);
    }
    free(old);
    return st;
}

lb_status lb_export_hf(const char *model_path, const char *out_dir, const lb_export_params *params)
{
    if (!model_path || !out_dir || !params) return lb_fail(LB_ERR_ARG, "lb_export_hf: NULL argument");
    exporter e = {.p = params};
    lb_status st = parse_params(&e);
    if (!st) st = lb_source_open(model_path, &e.src);
    if (!st) st = lb_config_from_source(e.src, &e.cfg);
    if (!st) st = make_plan(&e);
    bool made = false;
    if (!st) {
        size_t n = strlen(out_dir) + 32;
        if (!(e.tmp = lb_malloc(n, "path"))) st = LB_ERR_NOMEM;
        else {
            snprintf(e.tmp, n, "%s.tmp.%ld", out_dir, (long)getpid());
            if (mkdir(e.tmp, 0755) != 0) st = lb_fail(LB_ERR_IO, "%s: cannot create the output directory: %s", e.tmp, strerror(errno));
            else made = true;
        }
    }
    if (!st) st = write_shards(&e);
    if (!st) st = write_index(&e);
    if (!st) {
        cJSON *cfg = lb_export_config(e.src, &e.cfg, &e.sum);
        st = write_json(e.tmp, "config.json", cfg);
        cJSON_Delete(cfg);
    }
    if (!st) st = copy_tokenizer(&e);
    if (!st) st = publish(e.tmp, out_dir);
    if (st && made) remove_flat(e.tmp);
    for (int k = 0; k < LB_EXPORT_KIND_COUNT; k++) {
        for (int64_t i = 0; i < e.sum.n_modules[k]; i++) free(e.sum.modules[k][i]);
        free(e.sum.modules[k]);
    }
    free(e.tmp);
    free(e.t);
    lb_export_policy_free(&e.policy);
    lb_source_close(e.src);
    return st;
}
