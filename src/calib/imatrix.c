/* Importance matrix, as llama.cpp's tools/imatrix computes and stores it.
 *
 * Collection: the calibration tokens are cut into chunks of n_ctx; the first token of each chunk
 * is replaced by BOS when the vocabulary adds BOS; every chunk runs through lb_forward, whose
 * observer hook shows each linear group's input rows. For weight W with input x (a row per
 * token) we keep in_sum2[j] = sum over tokens of x_j^2 (double) and counts = number of tokens.
 * q/k/v share one input (attn_norm output), gate/up another (ffn_norm output); o sees the
 * attention output, down silu(gate)*up, output (only with process_output, and only when the
 * model has its own output matrix: with tied embeddings llama.cpp's product is token_embd,
 * which llama-imatrix does not record) the final-norm output.
 *
 * Files (llama.cpp tools/imatrix/imatrix.cpp, save_imatrix / save_imatrix_legacy):
 *   GGUF    general.type = "imatrix", imatrix.datasets [str], imatrix.chunk_count u32,
 *           imatrix.chunk_size u32; per weight, in name order, "<name>.in_sum2" F32 [n_in] and
 *           "<name>.counts" F32 [1] (ggml_n_dims drops the trailing 1s, so both are 1-D).
 *   legacy  int32 n_entries; per entry (name order): int32 len, name, int32 ncall =
 *           ceil(count / chunk_size), int32 nval, float (sum/count)*ncall [nval] (float math);
 *           then int32 chunk_count, int32 len + the dataset file name.
 * Not here: per-expert (3-D) matrices of MoE models, which the Llama family lacks; the in_sum
 * (mean activation) tensors newer llama-imatrix adds, which llama-quantize does not use (read
 * and checked for size, not kept). */
#include "calib/imatrix.h"

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "model/model.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CTX 512
#define PAR_MIN_WORK 200000
#define COL_BLOCK 64

// ---- accumulation ----

void lb_imatrix_accumulate(double *sum2, const float *x, int64_t n_rows, int64_t n, int n_threads)
{
    int64_t n_blocks = (n + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * n >= PAR_MIN_WORK)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK < n ? j0 + COL_BLOCK : n;
        double acc[COL_BLOCK];
        for (int64_t j = j0; j < j1; j++) acc[j - j0] = sum2[j];
        for (int64_t r = 0; r < n_rows; r++) {
            const float *row = x + r * n;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += (double)row[j] * (double)row[j];
        }
        for (int64_t j = j0; j < j1; j++) sum2[j] = acc[j - j0];
    }
}

// ---- the handle ----

void lb_imatrix_close(lb_imatrix *im)
{
    if (!im) return;
    for (int64_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sum2);
    }
    free(im->e);
    for (int64_t i = 0; i < im->n_datasets; i++) free(im->datasets[i]);
    free(im->datasets);
    free(im);
}

static lb_imatrix_slot *add_slot(lb_imatrix *im, int64_t cap, const char *name, int64_t n_in)
{
    LB_ASSERT(im->n < cap);
    lb_imatrix_slot *s = &im->e[im->n];
    s->name = lb_strdup(name);
    s->sum2 = lb_calloc((size_t)n_in, sizeof(double), "imatrix sums");
    if (!s->name || !s->sum2) {
        free(s->name);
        free(s->sum2);
        return NULL;
    }
    s->n_in = n_in;
    im->n++;
    return s;
}

static lb_status add_dataset(lb_imatrix *im, const char *s, size_t len)
{
    char **d = realloc(im->datasets, (size_t)(im->n_datasets + 1) * sizeof *d);
    if (!d) return lb_fail(LB_ERR_NOMEM, "out of memory (imatrix datasets)");
    im->datasets = d;
    if (!(d[im->n_datasets] = lb_strndup(s, len))) return LB_ERR_NOMEM;
    im->n_datasets++;
    return LB_OK;
}

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(((const lb_imatrix_slot *)a)->name, ((const lb_imatrix_slot *)b)->name);
}

void lb_imatrix_describe(const lb_imatrix *im, lb_imatrix_info *out)
{
    out->n_entries = im->n;
    out->chunk_count = im->chunk_count;
    out->chunk_size = im->chunk_size;
    out->n_datasets = im->n_datasets;
}

bool lb_imatrix_get(const lb_imatrix *im, int64_t i, lb_imatrix_entry *out)
{
    if (!im || i < 0 || i >= im->n) return false;
    const lb_imatrix_slot *s = &im->e[i];
    *out = (lb_imatrix_entry){.name = s->name, .n_in = s->n_in, .count = s->count, .sum2 = s->sum2};
    return true;
}

int64_t lb_imatrix_find(const lb_imatrix *im, const char *name)
{
    for (int64_t i = 0; im && i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0) return i;
    return -1;
}

const char *lb_imatrix_dataset(const lb_imatrix *im, int64_t i)
{
    return im && i >= 0 && i < im->n_datasets ? im->datasets[i] : NULL;
}

// ---- collection ----

/* One accumulator per distinct linear input: [layer][role] for the blocks, then the output head. */
typedef struct collector {
    int64_t n_layer;
    int n_threads;
    bool process_output;
    double **acc;           /* [n_layer * 4 + 1] sums of squares, NULL for unrecorded inputs */
    int64_t *width, *count; /* [n_layer * 4 + 1] */
} collector;

static int64_t slot_of(const collector *c, int layer, lb_linear_role role)
{
    return layer < 0 ? c->n_layer * 4 : (int64_t)layer * 4 + role;
}

static void observe(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows, int64_t n_in)
{
    collector *c = user;
    if (role == LB_LINEAR_OUTPUT && !c->process_output) return;
    int64_t s = slot_of(c, layer, role);
    LB_ASSERT(c->acc[s] && c->width[s] == n_in);
    lb_imatrix_accumulate(c->acc[s], x, n_rows, n_in, c->n_threads);
    c->count[s] += n_rows;
}

/* The tensors each accumulator feeds, in GGUF names. */
static const char *const ROLE_TENSORS[LB_LINEAR_ROLE_COUNT][3] = {
    [LB_LINEAR_QKV] = {"attn_q", "attn_k", "attn_v"},
    [LB_LINEAR_O] = {"attn_output"},
    [LB_LINEAR_GATE_UP] = {"ffn_gate", "ffn_up"},
    [LB_LINEAR_DOWN] = {"ffn_down"},
};

static lb_status run_chunks(lb_model *m, const int32_t *tokens, int64_t n_ctx, int64_t n_chunks, int64_t n_batch,
                            const lb_imatrix_params *p)
{
    const lb_llama_config *c = &m->cfg;
    /* llama-imatrix overwrites each chunk's first token with BOS when the vocabulary adds BOS */
    bool bos = c->bos_id >= 0 && (m->tok ? lb_tokenizer_adds_bos(m->tok) : true);
    lb_kv_cache kv;
    lb_status st = lb_kv_cache_init(&kv, c, n_batch, n_ctx);
    if (st) return st;
    int32_t *batch = lb_malloc((size_t)(n_batch * n_ctx) * sizeof(int32_t), "imatrix batch");
    if (!batch) st = LB_ERR_NOMEM;
    for (int64_t c0 = 0; !st && c0 < n_chunks; c0 += n_batch) {
        int64_t nb = n_chunks - c0 < n_batch ? n_chunks - c0 : n_batch;
        memcpy(batch, tokens + c0 * n_ctx, (size_t)(nb * n_ctx) * sizeof(int32_t));
        if (bos)
            for (int64_t s = 0; s < nb; s++) batch[s * n_ctx] = c->bos_id;
        st = lb_forward(m, &kv, batch, nb, n_ctx, 0, n_ctx - 1, NULL);
        if (!st && p->progress) p->progress(p->progress_user, c0 + nb, n_chunks);
    }
    free(batch);
    lb_kv_cache_free(&kv);
    return st;
}

lb_status lb_imatrix_collect(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_imatrix_params *p,
                             lb_imatrix **out)
{
    *out = NULL;
    static const lb_imatrix_params defaults = {0};
    if (!p) p = &defaults;
    if (!m || !m->blocks) return lb_fail(LB_ERR_ARG, "imatrix: the model was opened without weights");
    const lb_llama_config *c = &m->cfg;
    int64_t n_ctx = p->n_ctx > 0 ? p->n_ctx : DEFAULT_CTX;
    if (n_ctx < 2) return lb_fail(LB_ERR_ARG, "imatrix: context of %lld tokens is too short", (long long)n_ctx);
    if (n_tokens < 2 * n_ctx) /* llama-imatrix's own minimum */
        return lb_fail(LB_ERR_ARG, "imatrix: the text has %lld tokens; a context of %lld needs at least %lld",
                       (long long)n_tokens, (long long)n_ctx, (long long)(2 * n_ctx));
    int64_t n_chunks = n_tokens / n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    int64_t n_batch = p->n_batch > 0 ? p->n_batch : 1;
    if (n_batch > n_chunks) n_batch = n_chunks;

    int64_t n_slots = c->n_layer * 4 + 1, E = c->n_embd;
    collector col = {.n_layer = c->n_layer, .n_threads = m->n_threads,
                     .process_output = p->process_output && !c->tied_embeddings};
    col.acc = lb_calloc((size_t)n_slots, sizeof *col.acc, "imatrix accumulators");
    col.width = lb_calloc((size_t)n_slots, sizeof *col.width, "imatrix accumulators");
    col.count = lb_calloc((size_t)n_slots, sizeof *col.count, "imatrix accumulators");
    lb_imatrix *im = lb_calloc(1, sizeof *im, "imatrix");
    int64_t cap = c->n_layer * 7 + 1;
    lb_status st = LB_OK;
    if (!col.acc || !col.width || !col.count || !im || !(im->e = lb_calloc((size_t)cap, sizeof *im->e, "imatrix"))) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    int64_t widths[LB_LINEAR_ROLE_COUNT] = {[LB_LINEAR_QKV] = E, [LB_LINEAR_O] = c->n_head * c->head_dim,
                                             [LB_LINEAR_GATE_UP] = E, [LB_LINEAR_DOWN] = c->n_ff, [LB_LINEAR_OUTPUT] = E};
    for (int64_t s = 0; s < n_slots; s++) {
        lb_linear_role role = s == n_slots - 1 ? LB_LINEAR_OUTPUT : (lb_linear_role)(s % 4);
        if (role == LB_LINEAR_OUTPUT && !col.process_output) continue;
        col.width[s] = widths[role];
        if (!(col.acc[s] = lb_calloc((size_t)col.width[s], sizeof(double), "imatrix sums"))) {
            st = LB_ERR_NOMEM;
            goto done;
        }
    }

    LB_ASSERT(!m->observe);
    m->observe = observe;
    m->observe_user = &col;
    st = run_chunks(m, tokens, n_ctx, n_chunks, n_batch, p);
    m->observe = NULL;
    m->observe_user = NULL;
    if (st) goto done;

    /* one entry per weight; q/k/v (gate/up) get copies of their shared sums */
    for (int64_t s = 0; s < n_slots; s++) {
        if (!col.acc[s]) continue;
        for (int64_t j = 0; j < col.width[s]; j++)
            if (!isfinite(col.acc[s][j])) {
                st = lb_fail(LB_ERR_NUMERIC, "imatrix: non-finite sum of squares at column %lld of layer %lld's inputs",
                             (long long)j, (long long)(s / 4));
                goto done;
            }
        const char *const *names = s == n_slots - 1 ? (const char *const[]){"output.weight", NULL}
                                                     : ROLE_TENSORS[s % 4];
        for (int k = 0; k < 3 && names[k]; k++) {
            char name[96];
            if (s == n_slots - 1) snprintf(name, sizeof name, "%s", names[k]);
            else snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)(s / 4), names[k]);
            lb_imatrix_slot *e = add_slot(im, cap, name, col.width[s]);
            if (!e) {
                st = LB_ERR_NOMEM;
                goto done;
            }
            memcpy(e->sum2, col.acc[s], (size_t)col.width[s] * sizeof(double));
            e->count = col.count[s];
        }
    }
    qsort(im->e, (size_t)im->n, sizeof *im->e, slot_cmp);
    im->chunk_count = n_chunks;
    im->chunk_size = n_ctx;
    if (p->dataset && (st = add_dataset(im, p->dataset, strlen(p->dataset)))) goto done;

done:
    if (col.acc)
        for (int64_t s = 0; s < n_slots; s++) free(col.acc[s]);
    free(col.acc);
    free(col.width);
    free(col.count);
    if (st) lb_imatrix_close(im);
    else *out = im;
    return st;
}

// ---- writing ----

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int64_t chunk_size_or_default(const lb_imatrix *im) { return im->chunk_size > 0 ? im->chunk_size : DEFAULT_CTX; }

static lb_status save_gguf(const lb_imatrix *im, const char *path)
{
    lb_gguf_writer *w;
    lb_status st = lb_gguf_writer_open(path, 0, &w);
    if (st) return st;
    lb_gguf_add_str(w, "general.type", "imatrix");
    lb_gguf_add_arr_str(w, "imatrix.datasets", (const char *const *)im->datasets, NULL, (uint64_t)im->n_datasets);
    lb_gguf_add_u32(w, "imatrix.chunk_count", (uint32_t)im->chunk_count);
    lb_gguf_add_u32(w, "imatrix.chunk_size", (uint32_t)im->chunk_size);
    for (int64_t i = 0; i < im->n; i++) {
        char name[256];
        int64_t one = 1;
        snprintf(name, sizeof name, "%s.in_sum2", im->e[i].name);
        lb_gguf_add_tensor_info(w, name, LB_TYPE_F32, 1, &im->e[i].n_in);
        snprintf(name, sizeof name, "%s.counts", im->e[i].name);
        lb_gguf_add_tensor_info(w, name, LB_TYPE_F32, 1, &one);
    }
    if ((st = lb_gguf_write_header(w))) {
        lb_gguf_writer_abort(w);
        return st;
    }
    float buf[1024];
    for (int64_t i = 0; i < im->n; i++) {
        const lb_imatrix_slot *e = &im->e[i];
        for (int64_t j0 = 0; j0 < e->n_in; j0 += 1024) {
            int64_t nj = e->n_in - j0 < 1024 ? e->n_in - j0 : 1024;
            for (int64_t j = 0; j < nj; j++) buf[j] = (float)e->sum2[j0 + j];
            lb_gguf_write_data(w, buf, (size_t)nj * sizeof(float));
        }
        float count = (float)e->count;
        lb_gguf_write_data(w, &count, sizeof count);
    }
    return lb_gguf_writer_finish(w);
}

/* Sticky-error writes of the legacy format to a FILE. */
typedef struct dat_out {
    FILE *f;
    bool failed;
} dat_out;

static void put(dat_out *o, const void *p, size_t n)
{
    if (!o->failed && n && fwrite(p, 1, n, o->f) != n) o->failed = true;
}

static void put_i32(dat_out *o, int32_t v) { put(o, &v, 4); }

static lb_status save_dat(const lb_imatrix *im, const char *path)
{
    int64_t cs = chunk_size_or_default(im);
    for (int64_t i = 0; i < im->n; i++)
        if ((im->e[i].count + cs - 1) / cs > INT32_MAX || im->e[i].n_in > INT32_MAX)
            return lb_fail(LB_ERR_ARG, "%s: entry '%s' is too large for the legacy imatrix format", path, im->e[i].name);
    char *tmp = lb_malloc(strlen(path) + 32, "temporary path");
    if (!tmp) return LB_ERR_NOMEM;
    snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
    dat_out o = {.f = fopen(tmp, "wb")};
    if (!o.f) {
        lb_status st = lb_fail(LB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    int32_t n_entries = 0; /* llama.cpp skips entries without data */
    for (int64_t i = 0; i < im->n; i++) n_entries += im->e[i].count > 0;
    put_i32(&o, n_entries);
    float *vals = NULL;
    for (int64_t i = 0; i < im->n && !o.failed; i++) {
        const lb_imatrix_slot *e = &im->e[i];
        if (e->count <= 0) continue;
        int32_t len = (int32_t)strlen(e->name), ncall = (int32_t)((e->count + cs - 1) / cs);
        put_i32(&o, len);
        put(&o, e->name, (size_t)len);
        put_i32(&o, ncall);
        put_i32(&o, (int32_t)e->n_in);
        float *nv = realloc(vals, (size_t)e->n_in * sizeof(float));
        if (!nv) {
            o.failed = true;
            errno = ENOMEM;
            break;
        }
        vals = nv;
        /* (value / count) * ncall in float, exactly as save_imatrix_legacy */
        for (int64_t j = 0; j < e->n_in; j++) vals[j] = ((float)e->sum2[j] / (float)e->count) * (float)ncall;
        put(&o, vals, (size_t)e->n_in * sizeof(float));
    }
    free(vals);
    put_i32(&o, (int32_t)im->chunk_count);
    const char *ds = im->n_datasets ? im->datasets[im->n_datasets - 1] : "";
    put_i32(&o, (int32_t)strlen(ds));
    put(&o, ds, strlen(ds));
    int err = o.failed ? (errno ? errno : EIO) : 0;
    if (!err && (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0)) err = errno;
    if (fclose(o.f) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    lb_status st = LB_OK;
    if (err) {
        remove(tmp);
        st = lb_fail(LB_ERR_IO, "%s: writing the imatrix failed: %s", path, strerror(err));
    }
    free(tmp);
    return st;
}

lb_status lb_imatrix_save(const lb_imatrix *im, const char *path)
{
    if (!im || !path || !*path) return lb_fail(LB_ERR_ARG, "imatrix save: no imatrix or no path");
    if (im->n < 1) return lb_fail(LB_ERR_ARG, "%s: the imatrix has no entries", path);
    return ends_with(path, ".gguf") ? save_gguf(im, path) : save_dat(im, path);
}

lb_status lb_imatrix_compute(lb_model *m, const int32_t *tokens, int64_t n_tokens, const lb_imatrix_params *p,
                             const char *out_path)
{
    lb_imatrix *im;
    lb_status st = lb_imatrix_collect(m, tokens, n_tokens, p, &im);
    if (st) return st;
    st = lb_imatrix_save(im, out_path);
    lb_imatrix_close(im);
    return st;
}

// ---- reading ----

/* Checks a sum of squares read from a file: finite and not negative. */
static lb_status check_sum(const char *path, const char *name, float v, uint64_t offset)
{
    if (isfinite(v) && v >= 0) return LB_OK;
    return lb_fail(LB_ERR_FORMAT, "%s: entry '%s': value %g at offset %llu is not a finite non-negative sum of squares",
                   path, name, (double)v, (unsigned long long)offset);
}

static lb_status load_gguf(const char *path, lb_imatrix *im)
{
    lb_gguf *g;
    lb_status st = lb_gguf_open(path, &g);
    if (st) return st;
    lb_str type;
    if (lb_gguf_get_str(g, "general.type", &type) && !lb_str_eq(type, "imatrix")) {
        st = lb_fail(LB_ERR_FORMAT, "%s: general.type is '%.*s', not 'imatrix'", path, (int)type.len, type.ptr);
        goto done;
    }
    int64_t v;
    if (lb_gguf_get_i64(g, "imatrix.chunk_count", &v) && v >= 0) im->chunk_count = v;
    if (lb_gguf_get_i64(g, "imatrix.chunk_size", &v) && v >= 0) im->chunk_size = v;
    int64_t kd = lb_gguf_find(g, "imatrix.datasets");
    if (kd >= 0 && lb_gguf_kv_type(g, kd) == LB_GGUF_ARRAY && lb_gguf_arr_type(g, kd) == LB_GGUF_STRING)
        for (uint64_t i = 0; i < lb_gguf_arr_len(g, kd); i++) {
            lb_str s = lb_gguf_arr_str(g, kd, i);
            if ((st = add_dataset(im, s.ptr, (size_t)s.len))) goto done;
        }
    int64_t nt = lb_gguf_n_tensors(g), cap = nt;
    im->e = lb_calloc((size_t)(cap > 0 ? cap : 1), sizeof *im->e, "imatrix");
    if (!im->e) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < nt; i++) {
        const lb_tensor_info *t = lb_gguf_tensor(g, i);
        bool is_sum2 = ends_with(t->name, ".in_sum2"), is_counts = ends_with(t->name, ".counts");
        bool is_sum = ends_with(t->name, ".in_sum");
        if (!is_sum2 && !is_counts && !is_sum) continue; /* llama.cpp ignores other tensors */
        size_t base_len = strlen(t->name) - (is_sum2 ? 8 : is_counts ? 7 : 7);
        char other[320];
        snprintf(other, sizeof other, "%.*s.%s", (int)base_len, t->name, is_sum2 ? "counts" : "in_sum2");
        const lb_tensor_info *mate = lb_gguf_find_tensor(g, other);
        if (!mate) {
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' (offset %llu) has no matching '%s'", path, t->name,
                         (unsigned long long)t->offset, other);
            goto done;
        }
        if (!is_sum2) {
            if (is_sum && mate->n_elements != t->n_elements) {
                st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' has %lld elements but '%s' has %lld", path, t->name,
                             (long long)t->n_elements, other, (long long)mate->n_elements);
                goto done;
            }
            continue; /* read with its in_sum2 */
        }
        const lb_tensor_info *cnt = mate;
        if (t->type != LB_TYPE_F32 || cnt->type != LB_TYPE_F32) {
            st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensors '%s' and '%s' must be F32", path, t->name, other);
            goto done;
        }
        if (cnt->n_elements != 1) {
            st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' holds %lld counts (per-expert matrices are not supported)",
                         path, other, (long long)cnt->n_elements);
            goto done;
        }
        char name[320];
        snprintf(name, sizeof name, "%.*s", (int)base_len, t->name);
        if (lb_imatrix_find(im, name) >= 0) {
            st = lb_fail(LB_ERR_FORMAT, "%s: entry '%s' appears twice", path, name);
            goto done;
        }
        float count;
        memcpy(&count, cnt->data, sizeof count);
        if (!isfinite(count) || count < 0 || count > 9007199254740992.0f || count != floorf(count)) {
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %llu: count %g is not a non-negative whole number",
                         path, other, (unsigned long long)cnt->offset, (double)count);
            goto done;
        }
        lb_imatrix_slot *e = add_slot(im, cap, name, t->n_elements);
        if (!e) {
            st = LB_ERR_NOMEM;
            goto done;
        }
        e->count = (int64_t)count;
        bool any = false;
        for (int64_t j = 0; j < t->n_elements; j++) {
            float x;
            memcpy(&x, t->data + 4 * j, 4);
            if ((st = check_sum(path, t->name, x, t->offset + 4 * (uint64_t)j))) goto done;
            e->sum2[j] = x;
            any |= x > 0;
        }
        if (e->count == 0 && any) {
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %llu: count 0 but '%s' holds non-zero sums", path,
                         other, (unsigned long long)cnt->offset, t->name);
            goto done;
        }
    }
    if (im->n < 1) st = lb_fail(LB_ERR_FORMAT, "%s: no imatrix entries (no '<name>.in_sum2' tensors)", path);
done:
    lb_gguf_close(g);
    return st;
}

/* Bounds-checked little-endian reader over a mapping of the legacy format. */
typedef struct dat_in {
    const lb_mapping *map;
    uint64_t pos;
} dat_in;

static lb_status need(const dat_in *in, uint64_t n, const char *what)
{
    if (n <= in->map->size - in->pos) return LB_OK;
    return lb_fail(LB_ERR_FORMAT, "%s: truncated at offset %llu: %s needs %llu bytes, %llu remain", in->map->path,
                   (unsigned long long)in->pos, what, (unsigned long long)n, (unsigned long long)(in->map->size - in->pos));
}

static lb_status get_i32(dat_in *in, int32_t *v, const char *what)
{
    lb_status st = need(in, 4, what);
    if (st) return st;
    memcpy(v, in->map->data + in->pos, 4);
    in->pos += 4;
    return LB_OK;
}

static lb_status load_dat(const lb_mapping *map, int64_t chunk_size, lb_imatrix *im)
{
    const char *path = map->path;
    dat_in in = {.map = map};
    int32_t n_entries;
    lb_status st = get_i32(&in, &n_entries, "the entry count");
    if (st) return st;
    /* each entry takes at least 4 + 1 + 4 + 4 + 4 bytes */
    if (n_entries < 1 || (uint64_t)n_entries > (map->size - 4) / 17)
        return lb_fail(LB_ERR_FORMAT, "%s: offset 0: %d imatrix entries cannot fit in %llu bytes", path, n_entries,
                       (unsigned long long)map->size);
    if (!(im->e = lb_calloc((size_t)n_entries, sizeof *im->e, "imatrix"))) return LB_ERR_NOMEM;
    int64_t max_count = 0;
    for (int32_t i = 0; i < n_entries; i++) {
        char what[64];
        snprintf(what, sizeof what, "entry %d's name length", i);
        int32_t len, ncall, nval;
        if ((st = get_i32(&in, &len, what))) return st;
        if (len < 1 || len > 4096)
            return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: entry %d has a name of %d bytes", path,
                           (unsigned long long)(in.pos - 4), i, len);
        snprintf(what, sizeof what, "entry %d's name", i);
        if ((st = need(&in, (uint64_t)len, what))) return st;
        const char *nm = (const char *)map->data + in.pos;
        if (memchr(nm, 0, (size_t)len))
            return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: entry %d's name holds a NUL byte", path,
                           (unsigned long long)in.pos, i);
        char name[4097];
        memcpy(name, nm, (size_t)len);
        name[len] = '\0';
        in.pos += (uint64_t)len;
        if ((st = get_i32(&in, &ncall, "ncall"))) return lb_fail_context(st, "entry '%s'", name);
        if (ncall < 1)
            return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: entry '%s' claims ncall %d (needs at least 1)", path,
                           (unsigned long long)(in.pos - 4), name, ncall);
        if ((st = get_i32(&in, &nval, "nval"))) return lb_fail_context(st, "entry '%s'", name);
        if (nval < 1)
            return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: entry '%s' claims %d values", path,
                           (unsigned long long)(in.pos - 4), name, nval);
        if ((st = need(&in, 4 * (uint64_t)nval, "the values")))
            return lb_fail_context(st, "entry '%s' (%d values)", name, nval);
        if (lb_imatrix_find(im, name) >= 0)
            return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: entry '%s' appears twice", path,
                           (unsigned long long)(in.pos - 8 - (uint64_t)len - 4), name);
        lb_imatrix_slot *e = add_slot(im, n_entries, name, nval);
        if (!e) return LB_ERR_NOMEM;
        /* as load_imatrix_legacy: sums = value * chunk_size, count = ncall * chunk_size */
        e->count = (int64_t)ncall * chunk_size;
        for (int32_t j = 0; j < nval; j++) {
            float x;
            memcpy(&x, map->data + in.pos, 4);
            if ((st = check_sum(path, name, x, in.pos))) return st;
            e->sum2[j] = (double)x * (double)chunk_size;
            in.pos += 4;
        }
        if (e->count > max_count) max_count = e->count;
    }
    im->chunk_size = chunk_size;
    im->chunk_count = max_count / chunk_size; /* as llama.cpp: the file's own number is ignored */
    /* trailer: chunk count, dataset name; older files end before it */
    int32_t last_chunk, len;
    if (in.pos == map->size) return LB_OK;
    if ((st = get_i32(&in, &last_chunk, "the chunk count"))) return st;
    if (in.pos == map->size) return LB_OK;
    if ((st = get_i32(&in, &len, "the dataset name length"))) return st;
    if (len < 0)
        return lb_fail(LB_ERR_FORMAT, "%s: offset %llu: dataset name of %d bytes", path,
                       (unsigned long long)(in.pos - 4), len);
    if ((st = need(&in, (uint64_t)len, "the dataset name"))) return st;
    if (len > 0 && (st = add_dataset(im, (const char *)map->data + in.pos, (size_t)len))) return st;
    return LB_OK;
}

lb_status lb_imatrix_load(const char *path, int64_t chunk_size, lb_imatrix **out)
{
    *out = NULL;
    if (chunk_size < 0) return lb_fail(LB_ERR_ARG, "imatrix load: negative chunk size");
    if (chunk_size == 0) chunk_size = DEFAULT_CTX;
    lb_mapping map;
    lb_status st = lb_map_file(path, &map);
    if (st) return st;
    lb_imatrix *im = lb_calloc(1, sizeof *im, "imatrix");
    if (!im) {
        lb_unmap(&map);
        return LB_ERR_NOMEM;
    }
    bool gguf = map.size >= 4 && memcmp(map.data, "GGUF", 4) == 0;
    if (gguf) {
        lb_unmap(&map);
        st = load_gguf(path, im);
    } else {
        st = load_dat(&map, chunk_size, im);
        lb_unmap(&map);
    }
    if (!st) qsort(im->e, (size_t)im->n, sizeof *im->e, slot_cmp);
    if (st) lb_imatrix_close(im);
    else *out = im;
    return st;
}
