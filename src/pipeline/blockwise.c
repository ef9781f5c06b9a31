/* Block-wise GPTQ driver (see blockwise.h for the flow). */
#include "pipeline/blockwise.h"
#include "algo/gptq.h"
#include "calib/calib_data.h"
#include "calib/hessian.h"
#include "model/model.h"
#include "model/rope.h"
#include "model/weights.h"
#include "io/gguf_write.h"
#include "pipeline/block_scale.h"
#include "pipeline/checkpoint.h"
#include "pipeline/intn_sim.h"
#include "quant/grid.h"
#include "quant/types.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const HINV_NAMES[] = {"cholesky", "damped", "ldlt", "eigen"};

/* Float tensors of the current block handed to convert's transform hook after scaling: the
 * seven linears (by LB_LIN_*; those GPTQ does not produce), then the norms and v's bias that
 * absorbed 1/s. */
enum { HF_ATTN_NORM = LB_LIN_COUNT, HF_FFN_NORM, HF_V_BIAS, HF_COUNT };
static const char *hf_suffix(int i)
{
    static const char *const extra[] = {"attn_norm.weight", "ffn_norm.weight", "attn_v.bias"};
    return i < LB_LIN_COUNT ? lb_block_linear_suffix(i) : extra[i - LB_LIN_COUNT];
}
typedef struct held_f32 {
    float *v;
    int64_t rows, cols;
} held_f32;

/* A quantized linear of the current block, held until convert asks for it. */
typedef struct held {
    void *bytes; /* rows in the source's layout */
    size_t row_bytes;
    int64_t rows;
    lb_type type;
} held;

typedef struct named_type {
    char name[64];
    lb_type type;
    bool gptq;
    lb_quantize_tensor_report rep; /* filled when GPTQ'd (rel_err, damp, hinv) */
} named_type;

struct lb_blockwise {
    const lb_quantize_params *p;
    lb_model *m;
    lb_kv_cache kv;                 /* one layer, chunk sequences */
    int64_t n_seq, seq_len, chunk;  /* windows, their length, sequences per forward pass */
    int32_t *tokens;                /* [n_seq][seq_len] */
    lb_checkpoint ck;
    int64_t cur_layer;              /* block whose linears are held, -1 = none */
    held h[LB_LIN_COUNT];
    held_f32 hf[HF_COUNT];
    named_type *types;
    int64_t n_types, cap_types;
    /* Hessians of the block being calibrated, by role (NULL when not collected in this pass) */
    double *H[LB_LINEAR_ROLE_COUNT];
    int64_t H_n[LB_LINEAR_ROLE_COUNT];
    lb_status observe_err;
    double *hscratch; /* LB_HESSIAN_CHUNK * widest input */
    double t_start;
    int64_t blocks_this_run;
    int n_threads;
    bool intn; /* TYPE INTn: simulated group-wise integers (intn_sim.h) */
    bool gptq;              /* GPTQ the linears (else convert rounds the held floats) */
    lb_scale_method scale; /* AWQ / SmoothQuant before quantizing */
};

static bool parse_linear(const char *name, int64_t *layer, int *k);

static void logf_(const lb_blockwise *bw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const lb_blockwise *bw, const char *fmt, ...)
{
    if (!bw->p->on_log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bw->p->on_log(bw->p->user, line);
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// ---- types from the recipe ----

void lb_blockwise_set_type(lb_blockwise *bw, const char *name, lb_type type)
{
    if (bw->n_types == bw->cap_types) {
        int64_t cap = bw->cap_types ? 2 * bw->cap_types : 64;
        named_type *t = realloc(bw->types, (size_t)cap * sizeof *t);
        if (!t) return; /* a tensor not found later is simply not GPTQ'd; the plan stays valid */
        bw->types = t, bw->cap_types = cap;
    }
    named_type *t = &bw->types[bw->n_types++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
}

static named_type *find_type(const lb_blockwise *bw, const char *name)
{
    for (int64_t i = 0; i < bw->n_types; i++)
        if (!strcmp(bw->types[i].name, name)) return &bw->types[i];
    return NULL;
}

/* GPTQ applies to every linear under INT-N, else to those whose type is a block type (not
 * F16/F32 fallbacks). */
static bool gptq_applies(const lb_blockwise *bw, lb_type t)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    return bw->intn || (tr && tr->is_quantized);
}

// ---- activations ----

static size_t x_row_bytes(const lb_blockwise *bw) { return (size_t)bw->m->cfg.n_embd * sizeof(float); }

static lb_status x_io(const lb_blockwise *bw, int which, bool write, int64_t seq0, int64_t n_seq, float *x)
{
    const char *path = bw->ck.x_path[which];
    size_t n = (size_t)(n_seq * bw->seq_len) * x_row_bytes(bw);
    off_t off = (off_t)((size_t)(seq0 * bw->seq_len) * x_row_bytes(bw));
    int fd = bw->ck.x_fd[which];
    uint8_t *p = (uint8_t *)x;
    for (size_t done = 0; done < n;) {
        ssize_t k = write ? pwrite(fd, p + done, n - done, off + (off_t)done) : pread(fd, p + done, n - done, off + (off_t)done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return lb_fail(LB_ERR_IO, "%s: %s %zu bytes at byte offset %lld failed: %s", path, write ? "writing" : "reading",
                           n - done, (long long)(off + (off_t)done), k < 0 ? strerror(errno) : "file too short");
        done += (size_t)k;
    }
    return LB_OK;
}

/* X_0: the token embeddings of the calibration windows. */
static lb_status embed_windows(lb_blockwise *bw)
{
    const lb_llama_config *c = &bw->m->cfg;
    /* under either naming, the head for tied checkpoints that keep only lm_head; shape-checked */
    const lb_tensor_info *t, *out_norm, *output;
    lb_status st = lb_weights_find_globals(bw->m->src, c, &t, &out_norm, &output);
    float *embd = NULL;
    if (!st) st = lb_tensor_to_f32(t, &embd);
    if (st) return st;
    float *x = bw->m->x;
    for (int64_t s0 = 0; s0 < bw->n_seq && !st; s0 += bw->chunk) {
        int64_t ns = bw->n_seq - s0 < bw->chunk ? bw->n_seq - s0 : bw->chunk;
        for (int64_t r = 0; r < ns * bw->seq_len; r++) {
            int32_t id = bw->tokens[s0 * bw->seq_len + r];
            if (id < 0 || id >= c->n_vocab) {
                st = lb_fail(LB_ERR_ARG, "calibration token %d is outside the vocabulary (%lld)", id, (long long)c->n_vocab);
                break;
            }
            memcpy(x + r * c->n_embd, embd + (int64_t)id * c->n_embd, x_row_bytes(bw));
        }
        if (!st) st = x_io(bw, 0, true, s0, ns, x);
    }
    free(embd);
    return st;
}

// ---- Hessians ----

static void observe(void *user, int layer, lb_linear_role role, const float *x, int64_t n_rows, int64_t n_in)
{
    lb_blockwise *bw = user;
    if (role >= LB_LINEAR_ROLE_COUNT || !bw->H[role]) return;
    LB_ASSERT(bw->H_n[role] == n_in);
    if (!bw->observe_err) bw->observe_err = lb_hessian_accumulate(bw->H[role], x, n_rows, n_in, bw->hscratch);
}

static void free_hessians(lb_blockwise *bw)
{
    for (int r = 0; r < LB_LINEAR_ROLE_COUNT; r++) {
        free(bw->H[r]);
        bw->H[r] = NULL;
    }
}

static lb_status alloc_hessian(lb_blockwise *bw, lb_linear_role r)
{
    int64_t n = lb_linear_role_width(&bw->m->cfg, r);
    bw->H[r] = lb_calloc((size_t)(n * n), sizeof(double), "Hessian");
    bw->H_n[r] = n;
    return bw->H[r] ? LB_OK : LB_ERR_NOMEM;
}

/* Runs X_{in} through block `layer` a chunk at a time; the observer collects the Hessians that
 * are allocated; out >= 0: the block's output goes to X file `out`. */
static lb_status run_pass(lb_blockwise *bw, int64_t layer, int in, int out)
{
    lb_model *m = bw->m;
    m->observe = observe;
    m->observe_user = bw;
    lb_status st = LB_OK;
    for (int64_t s0 = 0; s0 < bw->n_seq && !st; s0 += bw->chunk) {
        int64_t ns = bw->n_seq - s0 < bw->chunk ? bw->n_seq - s0 : bw->chunk;
        if ((st = x_io(bw, in, false, s0, ns, m->x))) break;
        lb_block_forward(m, &bw->kv, &m->blocks[layer], layer, 0, ns, bw->seq_len, 0);
        if (out >= 0) st = x_io(bw, out, true, s0, ns, m->x);
    }
    m->observe = NULL;
    if (!st && bw->observe_err) st = bw->observe_err;
    for (int r = 0; r < LB_LINEAR_ROLE_COUNT && !st; r++)
        if (bw->H[r]) lb_hessian_symmetrize(bw->H[r], bw->H_n[r]);
    return st;
}

// ---- GPTQ of one linear ----

/* Estimated sum over rows of w^T (H + damp I) w, from up to 64 evenly spaced rows (the
 * denominator of the relative error; the numerator is GPTQ's own loss). */
static double weight_energy(const float *W, int64_t rows, int64_t cols, const double *H, double damp_abs)
{
    int64_t step = rows > 64 ? rows / 64 : 1, n = (rows + step - 1) / step;
    double *w = lb_malloc((size_t)(2 * n * cols) * sizeof *w, "energy");
    if (!w) return NAN;
    double *hw = w + n * cols, total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < cols; j++) w[i * cols + j] = W[i * step * cols + j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)cols, (int)cols, 1.0, w, (int)cols, H,
                (int)cols, 0.0, hw, (int)cols);
    for (int64_t i = 0; i < n * cols; i++) total += (hw[i] + damp_abs * w[i]) * w[i];
    free(w);
    return total * (double)rows / (double)n;
}

static lb_status gptq_linear(lb_blockwise *bw, int64_t layer, int k, const double *H, bool last_use)
{
    const lb_llama_config *c = &bw->m->cfg;
    lb_block *b = &bw->m->blocks[layer];
    lb_weight *w = lb_block_linear(b, k);
    char name[64];
    snprintf(name, sizeof name, "blk.%lld.%s", (long long)layer, lb_block_linear_suffix(k));
    named_type *nt = find_type(bw, name);
    if (!nt || !gptq_applies(bw, nt->type)) return LB_OK; /* float fallback: written as converted */
    int64_t cols = lb_linear_role_width(c, lb_block_linear_role(k));
    int64_t rows = lb_block_linear_rows(c, k);
    double t0 = lb_now_s();
    double *Hw = (double *)H;
    if (!last_use) {
        Hw = lb_malloc((size_t)(cols * cols) * sizeof *Hw, "Hessian copy");
        if (!Hw) return LB_ERR_NOMEM;
        memcpy(Hw, H, (size_t)(cols * cols) * sizeof *Hw);
    }
    double mean_diag = 0;
    for (int64_t i = 0; i < cols; i++) mean_diag += H[i * cols + i];
    mean_diag /= (double)cols;
    lb_gptq_params gp = {.block_size = bw->p->gptq_block, .damp = bw->p->damp, .act_order = bw->p->act_order,
                         .static_groups = bw->p->act_order, .importance = true};
    double damp_rel = gp.damp > 0 ? gp.damp : 0.01;
    double energy = weight_energy(w->f32, rows, cols, H, damp_rel * mean_diag);
    lb_grid *grid = NULL;
    lb_grid_spec spec = {.type = nt->type};
    if (bw->intn) spec.intn = lb_intn_for_cols(bw->p, cols);
    lb_gptq_report rep = {0};
    lb_status st = lb_grid_create(&spec, rows, cols, &grid);
    if (!st) st = lb_gptq_quantize(name, w->f32, rows, cols, Hw, grid, &gp, bw->n_threads, &rep);
    if (Hw != H) free(Hw);
    if (st) {
        lb_grid_free(grid);
        return st;
    }
    size_t row_bytes = (size_t)cols * sizeof(float);
    const void *bytes = bw->intn ? (const void *)w->f32 : lb_grid_bytes(grid, &row_bytes); /* INT-N: the values */
    held *h = &bw->h[k];
    free(h->bytes);
    h->bytes = lb_malloc((size_t)rows * row_bytes, name);
    if (!h->bytes) {
        lb_grid_free(grid);
        return LB_ERR_NOMEM;
    }
    memcpy(h->bytes, bytes, (size_t)rows * row_bytes);
    h->row_bytes = row_bytes;
    h->rows = rows;
    h->type = nt->type;
    lb_grid_free(grid);
    /* GPTQ's loss is half the increase of sum (w - q)^T (H + damp I) (w - q) (OBS), summed */
    double rel = energy > 0 ? sqrt(2.0 * rep.loss / energy) : 0.0;
    nt->gptq = true;
    nt->rep.rel_err = rel;
    nt->rep.damp = rep.damp;
    nt->rep.hinv = HINV_NAMES[rep.method];
    char tname[32];
    if (bw->intn)
        snprintf(tname, sizeof tname, "INT%d%s", spec.intn.bits, spec.intn.group_size > 0 ? "" : "/row");
    else
        snprintf(tname, sizeof tname, "%s", lb_type_traits_of(nt->type)->name);
    logf_(bw, "  %-26s %-6s rel.err %.4f  %5.1fs%s%s", name, tname, rel,
          lb_now_s() - t0, rep.method != LB_HINV_CHOLESKY ? "  fallback: " : "",
          rep.method != LB_HINV_CHOLESKY ? HINV_NAMES[rep.method] : "");
    if (rep.method != LB_HINV_CHOLESKY)
        logf_(bw, "  %s: H^-1 by %s, damping %.3g of the mean diagonal", name, HINV_NAMES[rep.method], rep.damp);
    return LB_OK;
}

// ---- one block ----

/* Frees the f32 copies of the linears GPTQ has quantized (their values are exactly what their
 * packed bytes decode to) ... */
static void park_linears(lb_blockwise *bw, lb_block *b)
{
    for (int k = 0; k < LB_LIN_DOWN; k++)
        if (bw->h[k].bytes) {
            free(lb_block_linear(b, k)->f32);
            lb_block_linear(b, k)->f32 = NULL;
        }
}

/* ... and decodes them back for the pass that computes the next block's input. */
static lb_status unpark_linears(lb_blockwise *bw, lb_block *b)
{
    for (int k = 0; k < LB_LIN_DOWN; k++) {
        lb_weight *w = lb_block_linear(b, k);
        const held *h = &bw->h[k];
        if (w->f32 || !h->bytes) continue;
        const lb_type_traits *tr = lb_type_traits_of(h->type);
        int64_t n = (int64_t)((uint64_t)h->rows * h->row_bytes / tr->type_size) * tr->block_size;
        if (!(w->f32 = lb_malloc((size_t)n * sizeof(float), lb_block_linear_suffix(k)))) return LB_ERR_NOMEM;
        tr->to_f32(h->bytes, w->f32, n);
    }
    return LB_OK;
}

/* How linear k of block `layer` will be quantized (for the AWQ search and RTN's pass C). */
static lb_fake_quant fake_quant_of(const lb_blockwise *bw, int64_t layer, int k)
{
    char name[64];
    snprintf(name, sizeof name, "blk.%lld.%s", (long long)layer, lb_block_linear_suffix(k));
    const named_type *nt = find_type(bw, name);
    lb_fake_quant fq = {.type = nt ? nt->type : LB_TYPE_F32};
    if (nt && bw->intn) fq.intn = lb_intn_for_cols(bw->p, lb_linear_role_width(&bw->m->cfg, lb_block_linear_role(k)));
    return fq;
}

static lb_status read_x(void *user, int64_t seq0, int64_t n, float *x)
{
    const lb_blockwise *bw = user;
    return x_io(bw, bw->ck.x_cur, false, seq0, n, x);
}

static lb_status hold_f32(held_f32 *h, const float *v, int64_t rows, int64_t cols)
{
    free(h->v);
    if (!(h->v = lb_malloc((size_t)(rows * cols) * sizeof(float), "scaled tensor"))) return LB_ERR_NOMEM;
    memcpy(h->v, v, (size_t)(rows * cols) * sizeof(float));
    h->rows = rows, h->cols = cols;
    return LB_OK;
}

/* AWQ / SmoothQuant on the loaded block, then the tensors convert takes from here: the norms
 * (and v's bias) that absorbed 1/s, and the scaled linears that GPTQ will not produce. */
static lb_status scale_block(lb_blockwise *bw, int64_t layer)
{
    lb_model *m = bw->m;
    const lb_llama_config *c = &m->cfg;
    lb_block *b = &m->blocks[layer];
    const lb_quantize_params *p = bw->p;
    lb_block_scale_job j = {.m = m, .kv = &bw->kv, .layer = layer, .n_seq = bw->n_seq, .seq_len = bw->seq_len,
                            .chunk = bw->chunk, .read_x = read_x, .user = bw, .method = bw->scale,
                            .alpha = p->smooth_alpha > 0 ? p->smooth_alpha : 0.5, .smooth_down = p->smooth_down,
                            .n_grid = p->awq_grid > 0 ? p->awq_grid : 20,
                            .search_tokens = p->awq_tokens > 0 ? p->awq_tokens : 1024, .clip = !p->awq_no_clip,
                            .n_threads = bw->n_threads, .log = p->on_log, .log_user = p->user};
    for (int k = 0; k < LB_LIN_COUNT; k++) j.fq[k] = fake_quant_of(bw, layer, k);
    lb_status st = lb_block_scale(&j, b);
    if (!st) st = hold_f32(&bw->hf[HF_ATTN_NORM], b->attn_norm, 1, c->n_embd);
    if (!st) st = hold_f32(&bw->hf[HF_FFN_NORM], b->ffn_norm, 1, c->n_embd);
    if (!st && b->bv) st = hold_f32(&bw->hf[HF_V_BIAS], b->bv, c->n_head_kv * c->head_dim, 1);
    for (int k = 0; k < LB_LIN_COUNT && !st; k++) {
        if (bw->gptq && gptq_applies(bw, j.fq[k].type)) continue;
        st = hold_f32(&bw->hf[k], lb_block_linear(b, k)->f32, lb_block_linear_rows(c, k),
                      lb_linear_role_width(c, lb_block_linear_role(k)));
    }
    return st;
}

/* GPTQ of the block's seven linears; *t_h: seconds spent in passes and Hessians. */
static lb_status gptq_block(lb_blockwise *bw, int64_t layer, double *t_h)
{
    lb_model *m = bw->m;
    int in = bw->ck.x_cur, out = 1 - in;
    bool seq = !bw->p->no_sequential;
    lb_status st = LB_OK;
    double t0 = lb_now_s();
    /* pass A: inputs of q/k/v, o, gate/up (and down when not sequential) */
    lb_linear_role first[] = {LB_LINEAR_QKV, LB_LINEAR_O, LB_LINEAR_GATE_UP, LB_LINEAR_DOWN};
    for (int r = 0; r < (seq ? 3 : 4) && !st; r++) st = alloc_hessian(bw, first[r]);
    if (!st) st = run_pass(bw, layer, in, seq ? -1 : out);
    *t_h = lb_now_s() - t0;
    for (int k = 0; k < LB_LIN_DOWN && !st; k++) {
        lb_linear_role r = lb_block_linear_role(k);
        bool last = k == LB_LIN_V || k == LB_LIN_O || k == LB_LIN_UP; /* the last linear that reads this Hessian */
        st = gptq_linear(bw, layer, k, bw->H[r], last);
        if (last) {
            free(bw->H[r]);
            bw->H[r] = NULL;
        }
    }
    /* pass B: the down input through the half-quantized block */
    if (!st && seq) {
        double tb = lb_now_s();
        st = alloc_hessian(bw, LB_LINEAR_DOWN);
        if (!st) st = run_pass(bw, layer, in, -1);
        *t_h += lb_now_s() - tb;
    }
    /* the quantized linears wait as their packed bytes while the biggest Hessian is inverted */
    if (!st) park_linears(bw, &m->blocks[layer]);
    if (!st) st = gptq_linear(bw, layer, LB_LIN_DOWN, bw->H[LB_LINEAR_DOWN], true);
    free_hessians(bw);
    if (!st) st = unpark_linears(bw, &m->blocks[layer]);
    /* pass C: X_{i+1} through the quantized block */
    if (!st && seq) st = run_pass(bw, layer, in, out);
    return st;
}

/* Round to nearest after scaling: convert quantizes the held floats; X_{i+1} comes from the
 * block with every linear rounded the same way (or, --no-sequential, from the float block). */
static lb_status rtn_block(lb_blockwise *bw, int64_t layer)
{
    lb_block *b = &bw->m->blocks[layer];
    const lb_llama_config *c = &bw->m->cfg;
    int in = bw->ck.x_cur, out = 1 - in;
    lb_status st = LB_OK;
    for (int k = 0; k < LB_LIN_COUNT && !st && !bw->p->no_sequential; k++) {
        lb_fake_quant fq = fake_quant_of(bw, layer, k);
        char name[64];
        snprintf(name, sizeof name, "blk.%lld.%s", (long long)layer, lb_block_linear_suffix(k));
        st = lb_fake_quant_rows(&fq, lb_block_linear(b, k)->f32, lb_block_linear_rows(c, k),
                                lb_linear_role_width(c, lb_block_linear_role(k)), bw->n_threads, name);
    }
    return st ? st : run_pass(bw, layer, in, out);
}

static lb_status calibrate_block(lb_blockwise *bw, int64_t layer)
{
    lb_model *m = bw->m;
    const lb_llama_config *c = &m->cfg;
    double t0 = lb_now_s(), t_h = 0;
    /* every linear as f32: the methods rewrite them in place */
    lb_status st = lb_weights_load_block(m->src, c, (int)layer, LB_LOAD_F32, &m->blocks[layer]);
    if (st) return st;
    if (bw->scale) st = scale_block(bw, layer);
    double t_s = lb_now_s() - t0;
    if (!st) st = bw->gptq ? gptq_block(bw, layer, &t_h) : rtn_block(bw, layer);
    lb_block_free(&m->blocks[layer]);
    if (st) return st;
    bw->cur_layer = layer;
    bw->blocks_this_run++;
    double dt = lb_now_s() - t0, per = (lb_now_s() - bw->t_start) / (double)bw->blocks_this_run;
    double eta = per * (double)(c->n_layer - layer - 1);
    char parts[96] = "";
    if (bw->scale && bw->gptq) snprintf(parts, sizeof parts, " (scales %.1fs, Hessians and passes %.1fs)", t_s, t_h);
    else if (bw->scale) snprintf(parts, sizeof parts, " (scales %.1fs)", t_s);
    else snprintf(parts, sizeof parts, " (Hessians and passes %.1fs)", t_h);
    logf_(bw, "block %lld/%lld done in %.1fs%s, ETA %.0fs", (long long)layer + 1, (long long)c->n_layer, dt, parts, eta);
    return LB_OK;
}

// ---- convert hooks ----

bool lb_blockwise_is_linear(const char *name)
{
    int64_t layer;
    int k;
    return parse_linear(name, &layer, &k);
}

/* "blk.<L>.<suffix>" -> L and the linear's index, or false. */
static bool parse_linear(const char *name, int64_t *layer, int *k)
{
    int l, n = 0;
    if (sscanf(name, "blk.%d.%n", &l, &n) != 1 || n == 0) return false;
    for (int i = 0; i < LB_LIN_COUNT; i++)
        if (!strcmp(name + n, lb_block_linear_suffix(i))) {
            *layer = l, *k = i;
            return true;
        }
    return false;
}

/* Block `layer` calibrated (and its tensors held) before its first tensor is written. */
static lb_status ensure_block(lb_blockwise *bw, int64_t layer, const char *name)
{
    if (layer == bw->cur_layer) return LB_OK;
    if (layer != bw->ck.blocks_done)
        return lb_fail(LB_ERR_ARG, "block-wise quantization: %s requested before block %lld", name,
                       (long long)bw->ck.blocks_done);
    return calibrate_block(bw, layer);
}

lb_status lb_blockwise_produce(void *user, const lb_convert_tensor *t, lb_type type, void *q, uint64_t nbytes, bool *done)
{
    lb_blockwise *bw = user;
    *done = false;
    int64_t layer;
    int k;
    if (!parse_linear(t->name, &layer, &k)) return LB_OK; /* embeddings, head: the recipe's rounding */
    lb_status st = ensure_block(bw, layer, t->name);
    if (st) return st;
    held *h = &bw->h[k];
    if (!h->bytes) return LB_OK; /* not GPTQ'd (float fallback) */
    LB_ASSERT(h->type == type && (uint64_t)h->rows * h->row_bytes == nbytes);
    memcpy(q, h->bytes, (size_t)nbytes);
    int64_t rows = h->rows;
    size_t row_bytes = h->row_bytes;
    free(h->bytes);
    h->bytes = NULL;
    *done = true;
    return t->permute_heads > 0 ? lb_convert_permute_rows(q, rows, row_bytes, t->permute_heads, t->name) : LB_OK;
}

lb_status lb_blockwise_transform(void *user, const lb_convert_tensor *t, float *x)
{
    lb_blockwise *bw = user;
    int l, n = 0;
    if (!bw->scale || sscanf(t->name, "blk.%d.%n", &l, &n) != 1 || n == 0) return LB_OK;
    int i = 0;
    while (i < HF_COUNT && strcmp(t->name + n, hf_suffix(i))) i++;
    if (i == HF_COUNT) return LB_OK; /* q/k biases: not scaled */
    lb_status st = ensure_block(bw, l, t->name);
    if (st) return st;
    held_f32 *h = &bw->hf[i];
    if (!h->v) return LB_OK; /* produced by GPTQ */
    LB_ASSERT(h->rows * h->cols == t->n_rows * t->n_per_row);
    memcpy(x, h->v, (size_t)(h->rows * h->cols) * sizeof *x);
    free(h->v);
    h->v = NULL;
    return t->permute_heads > 0 && i < LB_LIN_COUNT
               ? lb_convert_permute_rows(x, h->rows, (size_t)h->cols * sizeof *x, t->permute_heads, t->name)
               : LB_OK;
}

lb_status lb_blockwise_written(void *user, int64_t i, const char *name, lb_gguf_writer *w)
{
    lb_blockwise *bw = user;
    int64_t layer;
    int k;
    if (!parse_linear(name, &layer, &k) || k != LB_LIN_DOWN) return LB_OK; /* ffn_down ends a block */
    int64_t n_done;
    uint64_t offset;
    lb_status st = lb_gguf_writer_sync(w, &n_done, &offset);
    if (!st) st = lb_checkpoint_commit(&bw->ck, layer + 1, n_done, offset);
    if (st) return st;
    /* tests: die here, as a crash or kill -9 would, to check --resume */
    const char *kill_after = getenv("LOWBIT_TEST_KILL_AFTER_BLOCK");
    if (kill_after && atoll(kill_after) == layer + 1) raise(SIGKILL);
    return LB_OK;
}

// ---- open / close ----

/* Bytes the block-wise run needs at its peak, by part (printed as the memory plan). */
typedef struct plan {
    double block, hess_a, hess_b, gptq, scratch, embed, scaling, total;
} plan;

static plan memory_plan(const lb_llama_config *c, int64_t rows)
{
    double E = (double)c->n_embd, F = (double)c->n_ff, Q = (double)(c->n_head * c->head_dim),
           KV = (double)(c->n_head_kv * c->head_dim), V = (double)c->n_vocab;
    plan p = {0};
    p.block = 4.0 * (Q * E + 2 * KV * E + E * Q + 3 * E * F);
    p.hess_a = 8.0 * (2 * E * E + Q * Q) + 8.0 * (E > Q ? E * E : Q * Q); /* three + a working copy */
    p.hess_b = 8.0 * F * F;
    double widest = F > E ? F : E;
    p.gptq = 4.0 * widest * widest + 4.0 * widest * 64; /* f32 factor of H^-1, row chunks */
    p.scratch = 4.0 * rows * (3 * E + 2 * Q + 2 * KV + 2 * F) + 8.0 * rows * (V > F ? V : F) + 8.0 * rows * KV;
    p.embed = 4.0 * V * E;
    double down = 4.0 * E * F; /* during GPTQ of down the other linears wait packed */
    double a = p.block + p.hess_a + p.gptq, b = p.block + p.hess_b;
    if (down + p.hess_b + p.gptq > b) b = down + p.hess_b + p.gptq;
    p.total = (a > b ? a : b) + p.scratch;
    if (p.embed + p.scratch > p.total) p.total = p.embed + p.scratch;
    return p;
}

lb_status lb_blockwise_method(const char *method, bool *gptq, lb_scale_method *scale)
{
    static const struct {
        const char *name;
        bool gptq;
        lb_scale_method scale;
    } METHODS[] = {{"gptq", true, LB_SCALE_NONE},        {"awq", false, LB_SCALE_AWQ},
                   {"awq+gptq", true, LB_SCALE_AWQ},      {"smoothquant", false, LB_SCALE_SMOOTH},
                   {"smoothquant+gptq", true, LB_SCALE_SMOOTH}};
    for (size_t i = 0; method && i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (!strcasecmp(method, METHODS[i].name)) {
            *gptq = METHODS[i].gptq, *scale = METHODS[i].scale;
            return LB_OK;
        }
    return lb_fail(LB_ERR_ARG, "unknown method '%s' (rtn, gptq, awq, awq+gptq, smoothquant, smoothquant+gptq)",
                   method ? method : "(none)");
}

lb_status lb_blockwise_open(const char *model_path, const char *out_path, const lb_quantize_params *p,
                            lb_blockwise **out)
{
    *out = NULL;
    lb_blockwise *bw = lb_calloc(1, sizeof *bw, "block-wise state");
    if (!bw) return LB_ERR_NOMEM;
    bw->p = p;
    bw->cur_layer = -1;
    bw->n_threads = p->n_threads > 0 ? p->n_threads : lb_n_cores();
    bw->n_seq = p->calib_samples > 0 ? p->calib_samples : 128;
    bw->seq_len = p->calib_seq_len > 0 ? p->calib_seq_len : 512;
    bw->ck.x_fd[0] = bw->ck.x_fd[1] = -1;
    int bits;
    bw->intn = lb_intn_type(p->type, &bits);
    lb_status st = lb_blockwise_method(p->method, &bw->gptq, &bw->scale);
    if (st) {
        free(bw);
        return st;
    }
    lb_open_params op = {.n_threads = bw->n_threads, .no_weights = true, .quiet = true};
    uint64_t text_hash = 0;
    st = lb_model_open(model_path, &op, &bw->m);
    if (!st && !bw->m->tok)
        st = lb_fail(LB_ERR_FORMAT, "%s: method %s needs the model's tokenizer for the calibration text", model_path,
                     p->method);
    if (!st) st = lb_calib_windows(bw->m->tok, p->calib, bw->n_seq, bw->seq_len, p->seed, &bw->tokens, &text_hash);
    if (st) goto fail;
    const lb_llama_config *c = &bw->m->cfg;
    /* sequences per forward pass: up to 2048 rows (whole sequences) and about 256 MiB of
       forward-pass scratch */
    int64_t per_row = 3 * c->n_embd + 4 * c->n_head * c->head_dim + 2 * c->n_ff + 2 * (c->n_vocab > c->n_ff ? c->n_vocab : c->n_ff);
    int64_t rows = ((int64_t)1 << 26) / per_row;
    if (rows > 2048) rows = 2048;
    bw->chunk = rows / bw->seq_len > 1 ? rows / bw->seq_len : 1;
    if (bw->chunk > bw->n_seq) bw->chunk = bw->n_seq;
    plan pl = memory_plan(c, bw->chunk * bw->seq_len);
    if (bw->scale) {
        /* the search's windows and copies, and the scaled floats held for convert */
        pl.scaling = (double)lb_block_scale_bytes(c, bw->scale, p->awq_tokens > 0 ? p->awq_tokens : 1024) + pl.block;
        pl.total += pl.scaling;
    }
    logf_(bw, "memory plan: block weights %.2f GiB, Hessians %.2f GiB (attention, gate/up) then %.2f GiB (down), "
              "GPTQ work %.2f GiB, activations %lld x %lld rows at a time %.2f GiB; peak about %.2f GiB",
          gib(pl.block), gib(pl.hess_a), gib(pl.hess_b), gib(pl.gptq), (long long)bw->chunk, (long long)bw->seq_len,
          gib(pl.scratch), gib(pl.total));
    if (bw->scale)
        logf_(bw, "scaling: %s on every block (search and held tensors %.2f GiB, included above)",
              bw->scale == LB_SCALE_AWQ ? "AWQ" : "SmoothQuant", gib(pl.scaling));
    logf_(bw, "calibration: %lld windows of %lld tokens from %s (seed %llu); activations %.2f GiB on disk",
          (long long)bw->n_seq, (long long)bw->seq_len, p->calib, (unsigned long long)p->seed,
          gib(2.0 * (double)(bw->n_seq * bw->seq_len) * (double)x_row_bytes(bw)));
    if (p->mem_limit && pl.total > (double)p->mem_limit) {
        st = lb_fail(LB_ERR_ARG, "the memory plan needs about %.2f GiB, more than --mem-limit %.2f GiB (largest parts: "
                                 "block weights %.2f GiB, down Hessian %.2f GiB)",
                     gib(pl.total), gib((double)p->mem_limit), gib(pl.block), gib(pl.hess_b));
        goto fail;
    }
    bw->m->blocks = lb_calloc((size_t)c->n_layer, sizeof(lb_block), "blocks");
    if (!bw->m->blocks) {
        st = LB_ERR_NOMEM;
        goto fail;
    }
    if ((st = lb_rope_init(&bw->m->rope, c, bw->m->src))) goto fail;
    lb_llama_config one = *c;
    one.n_layer = 1;
    if ((st = lb_kv_cache_init(&bw->kv, &one, bw->chunk, bw->seq_len))) goto fail;
    if ((st = lb_model_reserve(bw->m, bw->chunk * bw->seq_len, bw->seq_len))) goto fail;
    int64_t widest = c->n_ff > c->n_embd ? c->n_ff : c->n_embd;
    if (c->n_head * c->head_dim > widest) widest = c->n_head * c->head_dim;
    if (!(bw->hscratch = lb_malloc((size_t)(LB_HESSIAN_CHUNK * widest) * sizeof(double), "Hessian scratch"))) {
        st = LB_ERR_NOMEM;
        goto fail;
    }

    lb_fingerprint fp = {.model = bw->m->src, .text_hash = text_hash, .params = p};
    if ((st = lb_checkpoint_open(&bw->ck, out_path, lb_fingerprint_of(&fp), p->resume,
                                 (uint64_t)(bw->n_seq * bw->seq_len) * x_row_bytes(bw))))
        goto fail;
    if (bw->ck.resumed)
        logf_(bw, "resuming after block %lld of %lld (%lld tensors written)", (long long)bw->ck.blocks_done,
              (long long)c->n_layer, (long long)bw->ck.tensors_done);
    else if ((st = embed_windows(bw)))
        goto fail;
    bw->t_start = lb_now_s();
    *out = bw;
    return LB_OK;
fail:
    lb_blockwise_close(bw, false);
    return st;
}

void lb_blockwise_output(const lb_blockwise *bw, const char **partial_path, bool *resume, int64_t *n_tensors,
                         uint64_t *offset)
{
    *partial_path = bw->ck.partial_path;
    *resume = bw->ck.resumed;
    *n_tensors = bw->ck.tensors_done;
    *offset = bw->ck.offset;
}

bool lb_blockwise_tensor_report(const lb_blockwise *bw, const char *name, lb_quantize_tensor_report *r)
{
    const named_type *t = find_type(bw, name);
    if (!t || !t->gptq) return false;
    r->rel_err = t->rep.rel_err;
    r->damp = t->rep.damp;
    r->hinv = t->rep.hinv;
    return true;
}

void lb_blockwise_close(lb_blockwise *bw, bool success)
{
    if (!bw) return;
    free_hessians(bw);
    free(bw->hscratch);
    for (int k = 0; k < LB_LIN_COUNT; k++) free(bw->h[k].bytes);
    for (int k = 0; k < HF_COUNT; k++) free(bw->hf[k].v);
    lb_checkpoint_close(&bw->ck, success);
    lb_kv_cache_free(&bw->kv);
    if (bw->m && bw->m->blocks)
        for (int64_t l = 0; l < bw->m->cfg.n_layer; l++) lb_block_free(&bw->m->blocks[l]);
    lb_model_close(bw->m);
    free(bw->tokens);
    free(bw->types);
    free(bw);
}
