/* llama2.c checkpoint reader (karpathy/llama2.c: export.py legacy_export / version1_export,
 * run.c memory_map_weights). Two float32 layouts:
 *
 *   legacy (v0): 7 x i32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len}
 *                (vocab_size > 0: classifier shared with the embedding; < 0: separate), then
 *                token_embedding[vocab][dim], rms_att[L][dim], wq[L][dim][dim],
 *                wk[L][kv_dim][dim], wv[L][kv_dim][dim], wo[L][dim][dim], rms_ffn[L][dim],
 *                w1[L][hidden][dim], w2[L][dim][hidden], w3[L][hidden][dim], rms_final[dim],
 *                freq_cis_real[seq_len][head_size/2], freq_cis_imag[...] (skipped: we compute
 *                RoPE ourselves), wcls[vocab][dim] when not shared.
 *   version 1:   u32 magic 0x616b3432 ("ak42"), i32 version = 1, the same 7 x i32 (vocab > 0),
 *                u8 shared_classifier, zeros up to byte 256, then rms_att[L][dim],
 *                rms_ffn[L][dim], rms_final[dim], token_embedding, wq, wk, wv, wo, w1, w2, w3,
 *                wcls when not shared. No RoPE tables.
 * Version 2 (int8 Q8_0 groups) is rejected as unsupported.
 *
 * The header is hostile: every parameter must be positive and consistent (n_heads divides
 * dim, n_kv_heads divides n_heads, even head size), all sizes are overflow-checked, and the
 * file size must equal exactly what the header implies. Tensors are exposed under GGUF names
 * and shapes (outermost first), since both formats keep Meta's interleaved RoPE layout. */
#include "io/source.h"

#include <inttypes.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the llama2.c reader assumes a little-endian host");

#define L2C_MAGIC 0x616b3432u
#define L2C_LEGACY_HEADER 28
#define L2C_V1_HEADER 256

// ---- tensor list builder ----

/* Walks the tensors in file order. With store set it records them; without, it only looks
 * for the first tensor that ends past the file (to name it) and stops there. Callers check
 * the closed-form size first, so the walk never runs over more tensors than the file holds. */
typedef struct list {
    const lb_mapping *map;
    bool store;
    lb_tensor_info *t;
    int64_t n, cap;
    uint64_t pos;          /* file offset of the next tensor */
    bool stop;             /* dry walk: the cut tensor was found */
    char cut_name[96];     /* dry walk: the first tensor ending past the file */
    uint64_t cut_off, cut_end;
} list;

/* Sizes here cannot overflow: the caller has checked the whole file size in closed form. */
static lb_status add(list *l, const char *name, int n_dims, int64_t d0, int64_t d1)
{
    if (l->stop) return LB_OK;
    uint64_t n_el = (uint64_t)d0 * (uint64_t)(n_dims > 1 ? d1 : 1), nbytes = 4 * n_el, off = l->pos;
    l->pos += nbytes;
    if (!l->store) {
        if (l->pos > l->map->size) {
            snprintf(l->cut_name, sizeof l->cut_name, "%s", name);
            l->cut_off = off, l->cut_end = l->pos, l->stop = true;
        }
        return LB_OK;
    }
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        lb_tensor_info *nt = realloc(l->t, (size_t)cap * sizeof *nt);
        if (!nt) return lb_fail(LB_ERR_NOMEM, "%s: out of memory for tensor infos", l->map->path);
        l->t = nt;
        l->cap = cap;
    }
    lb_tensor_info *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    t->name = lb_strdup(name);
    if (!t->name) return LB_ERR_NOMEM;
    l->n++;
    t->type = LB_TYPE_F32;
    t->n_dims = n_dims;
    t->shape[0] = d0;
    t->shape[1] = n_dims > 1 ? d1 : 0;
    t->n_elements = (int64_t)n_el;
    t->nbytes = nbytes;
    t->file = l->map->path;
    t->offset = off;
    t->data = l->map->data + off;
    return LB_OK;
}

static lb_status add_layers(list *l, int32_t n_layers, const char *stem, int n_dims, int64_t d0, int64_t d1)
{
    char name[96];
    for (int32_t i = 0; i < n_layers && !l->stop; i++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", (int)i, stem);
        lb_status st = add(l, name, n_dims, d0, d1);
        if (st) return st;
    }
    return LB_OK;
}

static lb_status skip(list *l, uint64_t n_floats)
{
    l->pos += 4 * n_floats; /* a cut here is reported as a plain size mismatch */
    return LB_OK;
}

/* Bytes the header implies, in closed form with every product checked. */
static bool expected_size(const lb_llama2c_header *h, uint64_t header_size, uint64_t *out)
{
    const uint64_t dim = (uint64_t)h->dim, hidden = (uint64_t)h->hidden_dim, vocab = (uint64_t)h->vocab_size;
    const uint64_t head_size = dim / (uint64_t)h->n_heads, kv_dim = head_size * (uint64_t)h->n_kv_heads;
    uint64_t dd, kd, hd, per_layer, layers, emb, total, tables = 0;
    /* per layer: 2 norms [dim], wq and wo [dim][dim], wk and wv [kv_dim][dim], w1 w2 w3 [hidden][dim] */
    bool ok = lb_mul_ok(dim, dim, &dd) && lb_mul_ok(kv_dim, dim, &kd) && lb_mul_ok(hidden, dim, &hd) &&
              lb_mul_ok(dd, 2, &dd) && lb_mul_ok(kd, 2, &kd) && lb_mul_ok(hd, 3, &hd) && lb_add_ok(dd, kd, &per_layer) &&
              lb_add_ok(per_layer, hd, &per_layer) && lb_add_ok(per_layer, 2 * dim, &per_layer) &&
              lb_mul_ok(per_layer, (uint64_t)h->n_layers, &layers) && lb_mul_ok(vocab, dim, &emb) &&
              lb_add_ok(layers, emb, &total) && lb_add_ok(total, dim, &total);
    /* legacy: freq_cis_real and freq_cis_imag, [seq_len][head_size / 2] each */
    if (ok && h->version == 0) ok = lb_mul_ok((uint64_t)h->seq_len, head_size, &tables) && lb_add_ok(total, tables, &total);
    if (ok && !h->shared_classifier) ok = lb_add_ok(total, emb, &total);
    return ok && lb_mul_ok(total, 4, &total) && lb_add_ok(total, header_size, out);
}

// ---- header ----

static void describe(const lb_llama2c_header *h, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "dim=%d, hidden_dim=%d, n_layers=%d, n_heads=%d, n_kv_heads=%d, vocab_size=%d, seq_len=%d, %s classifier",
             (int)h->dim, (int)h->hidden_dim, (int)h->n_layers, (int)h->n_heads, (int)h->n_kv_heads, (int)h->vocab_size,
             (int)h->seq_len, h->shared_classifier ? "shared" : "separate");
}

static lb_status read_header(const lb_mapping *map, lb_llama2c_header *h, uint64_t *header_size)
{
    const char *path = map->path;
    int32_t p[7];
    uint32_t magic = 0;
    *header_size = 0;
    if (map->size >= 4) memcpy(&magic, map->data, 4);
    memset(h, 0, sizeof *h);
    if (magic == L2C_MAGIC) {
        if (map->size < L2C_V1_HEADER)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: file of %" PRIu64 " bytes is too small for the %d-byte llama2.c header",
                           path, map->size, L2C_V1_HEADER);
        int32_t version;
        memcpy(&version, map->data + 4, 4);
        if (version == 2)
            return lb_fail(LB_ERR_UNSUPPORTED,
                           "%s: at offset 4: llama2.c version 2 (int8 Q8_0) checkpoints are not supported; export with --version 1",
                           path);
        if (version != 1)
            return lb_fail(LB_ERR_UNSUPPORTED, "%s: at offset 4: llama2.c version %d is not supported", path, (int)version);
        memcpy(p, map->data + 8, sizeof p);
        uint8_t shared = map->data[36];
        if (shared > 1)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset 36: shared_classifier flag is %u (want 0 or 1)", path, shared);
        for (int k = 37; k < L2C_V1_HEADER; k++)
            if (map->data[k] != 0)
                return lb_fail(LB_ERR_FORMAT, "%s: at offset %d: llama2.c v1 header padding is not zero", path, k);
        h->version = 1;
        h->shared_classifier = shared;
        if (p[5] <= 0)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset 28: vocab_size %d must be positive in a v1 header", path, (int)p[5]);
        *header_size = L2C_V1_HEADER;
    } else {
        if (map->size < L2C_LEGACY_HEADER)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: file of %" PRIu64 " bytes is too small for the %d-byte llama2.c header",
                           path, map->size, L2C_LEGACY_HEADER);
        memcpy(p, map->data, sizeof p);
        h->version = 0;
        /* legacy: the sign of vocab_size is the flag (positive = shared classifier) */
        h->shared_classifier = p[5] > 0;
        if (p[5] == INT32_MIN)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset 20: vocab_size %d is invalid", path, (int)p[5]);
        if (p[5] < 0) p[5] = -p[5];
        *header_size = L2C_LEGACY_HEADER;
    }
    h->dim = p[0], h->hidden_dim = p[1], h->n_layers = p[2], h->n_heads = p[3];
    h->n_kv_heads = p[4], h->vocab_size = p[5], h->seq_len = p[6];

    static const char *const names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    uint64_t base = h->version ? 8 : 0;
    for (int k = 0; k < 7; k++)
        if (p[k] <= 0)
            return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": llama2.c header %s = %d must be positive", path,
                           base + 4 * (uint64_t)k, names[k], (int)p[k]);
    if (h->dim % h->n_heads != 0 || (h->dim / h->n_heads) % 2 != 0)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": dim %d is not n_heads %d times an even head size", path,
                       base, (int)h->dim, (int)h->n_heads);
    if (h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads != 0)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": n_heads %d is not a multiple of n_kv_heads %d", path,
                       base + 16, (int)h->n_heads, (int)h->n_kv_heads);
    return LB_OK;
}

// ---- tensors ----

static lb_status build(list *l, const lb_llama2c_header *h)
{
    const int64_t dim = h->dim, hidden = h->hidden_dim, vocab = h->vocab_size;
    const int64_t head_size = dim / h->n_heads, kv_dim = head_size * h->n_kv_heads;
    const int32_t L = h->n_layers;
    lb_status st = LB_OK;
    if (h->version == 0) {
        if (!st) st = add(l, "token_embd.weight", 2, vocab, dim);
        if (!st) st = add_layers(l, L, "attn_norm", 1, dim, 0);
        if (!st) st = add_layers(l, L, "attn_q", 2, dim, dim);
        if (!st) st = add_layers(l, L, "attn_k", 2, kv_dim, dim);
        if (!st) st = add_layers(l, L, "attn_v", 2, kv_dim, dim);
        if (!st) st = add_layers(l, L, "attn_output", 2, dim, dim);
        if (!st) st = add_layers(l, L, "ffn_norm", 1, dim, 0);
        if (!st) st = add_layers(l, L, "ffn_gate", 2, hidden, dim);
        if (!st) st = add_layers(l, L, "ffn_down", 2, dim, hidden);
        if (!st) st = add_layers(l, L, "ffn_up", 2, hidden, dim);
        if (!st) st = add(l, "output_norm.weight", 1, dim, 0);
        /* freq_cis_real and freq_cis_imag: [seq_len][head_size / 2] each */
        if (!st) st = skip(l, (uint64_t)h->seq_len * (uint64_t)head_size);
    } else {
        if (!st) st = add_layers(l, L, "attn_norm", 1, dim, 0);
        if (!st) st = add_layers(l, L, "ffn_norm", 1, dim, 0);
        if (!st) st = add(l, "output_norm.weight", 1, dim, 0);
        if (!st) st = add(l, "token_embd.weight", 2, vocab, dim);
        if (!st) st = add_layers(l, L, "attn_q", 2, dim, dim);
        if (!st) st = add_layers(l, L, "attn_k", 2, kv_dim, dim);
        if (!st) st = add_layers(l, L, "attn_v", 2, kv_dim, dim);
        if (!st) st = add_layers(l, L, "attn_output", 2, dim, dim);
        if (!st) st = add_layers(l, L, "ffn_gate", 2, hidden, dim);
        if (!st) st = add_layers(l, L, "ffn_down", 2, dim, hidden);
        if (!st) st = add_layers(l, L, "ffn_up", 2, hidden, dim);
    }
    if (!st && !h->shared_classifier) st = add(l, "output.weight", 2, vocab, dim);
    return st;
}

lb_status lb_llama2c_parse(const lb_mapping *map, lb_llama2c_header *hdr, lb_tensor_info **tensors, int64_t *n)
{
    const char *path = map->path ? map->path : "(llama2.c)";
    lb_mapping named = *map;
    named.path = (char *)path;
    uint64_t header_size, want;
    lb_status st = read_header(&named, hdr, &header_size);
    if (st) return st;

    char desc[256];
    describe(hdr, desc, sizeof desc);
    if (!expected_size(hdr, header_size, &want))
        return lb_fail(LB_ERR_FORMAT, "%s: at offset 0: llama2.c header (%s) implies a size that overflows", path, desc);
    if (want < map->size)
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": file size %" PRIu64 " does not match the %" PRIu64
                       " bytes the header (%s) implies",
                       path, want, map->size, want, desc);
    if (want > map->size) {
        list dry = {.map = &named, .store = false, .pos = header_size};
        build(&dry, hdr);
        if (dry.stop)
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%s' at offset %" PRIu64 ": data [%" PRIu64 ", %" PRIu64 ") beyond end of file (size %" PRIu64
                           "); the header (%s) implies %" PRIu64 " bytes",
                           path, dry.cut_name, dry.cut_off, dry.cut_off, dry.cut_end, map->size, desc, want);
        return lb_fail(LB_ERR_FORMAT, "%s: at offset %" PRIu64 ": file size %" PRIu64 " does not match the %" PRIu64
                       " bytes the header (%s) implies",
                       path, map->size, map->size, want, desc);
    }

    list l = {.map = &named, .store = true, .pos = header_size};
    st = build(&l, hdr);
    LB_ASSERT(st || l.pos == want); /* the walk and the closed form agree */
    lb_tensor_info *all = st ? NULL : realloc(*tensors, (size_t)(*n + l.n + 1) * sizeof *all);
    if (!st && !all) st = lb_fail(LB_ERR_NOMEM, "%s: out of memory for tensor infos", path);
    if (st) {
        for (int64_t i = 0; i < l.n; i++) free(l.t[i].name);
        free(l.t);
        return st;
    }
    *tensors = all;
    memcpy(all + *n, l.t, (size_t)l.n * sizeof *all);
    *n += l.n;
    free(l.t);
    return LB_OK;
}
