/* GPTQ (Frantar et al. 2022, Algorithm 1 with the lazy batch updates of section 3), following
 * the reference gptq.py (IST-DASLab) and AutoGPTQ's desc_act/static_groups/g_idx handling:
 *
 *   dead columns (H_jj == 0): H_jj = 1, W[:, j] = 0
 *   act_order: walk the columns by decreasing H_jj (stable: ties keep column order), H permuted
 *   U = upper Cholesky factor of (H + damp mean(diag H) I)^-1 (hinv.c, with its fallbacks)
 *   for each block [i1, i2) of block_size columns, for each column j in it, for each row:
 *       q = grid(w_j);  e = (w_j - q) / U_jj;  w_t -= e U_jt (j < t < i2);  loss += e^2 / 2
 *   then w[:, i2:] -= E U[i1:i2, i2:]   (one GEMM per block: the lazy batch update)
 *
 * Groups. Static groups (and every block type under act_order, whose blocks are contiguous in
 * the file) are fitted from the weights with dead columns zeroed, before the walk. Otherwise a
 * group is fitted when the walk reaches its first column, in walk order; with act_order on INT-N
 * that makes groups of consecutive walk positions, recorded in the grid's g_idx map (AutoGPTQ's
 * desc_act + g_idx). The fit sees the group's current values: the errors of every earlier
 * column are in, including those of the same lazy block (for columns past the block, whose
 * share the block GEMM has not added yet, the fit adds it). Two deliberate differences from
 * gptq.py, both only where groups do not start on lazy-block boundaries or with dead columns:
 * gptq.py fits a group that starts inside a lazy block from W, which lacks that block's
 * in-block updates (W1 holds them), so its result depends on block_size; and with
 * group_size -1 it fits the row before zeroing the dead columns. Here the result does not
 * depend on block_size (up to float rounding) and dead columns never widen a range.
 *
 * Precision: H and the factorization in f64, W and the error propagation in f32 (as gptq.py),
 * U converted to f32 for the walk; the block GEMM is cblas_sgemm.
 * Threads: rows are independent given U, so the rows are cut into fixed chunks of CHUNK_ROWS,
 * spread over OpenMP threads; every chunk does the same calls whatever the thread count, so the
 * result does not depend on it. BLAS runs single-threaded inside the parallel region (OpenBLAS's
 * OpenMP build checks omp_in_parallel()).
 * Importance (p->importance, for block-type fits): diag(H) before the dead-column fix, divided
 * by its mean. llama.cpp's imatrix is diag(H) / n_tokens; its quantizers weigh columns only
 * relative to each other, so any positive scale gives the same choices up to rounding, and the
 * mean needs no token count. */
#include "algo/gptq.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define CHUNK_ROWS 32

// ---- setup ----

/* H'[a][b] = H[perm[a]][perm[b]] in place: rows by cycles, then each row's columns. */
static lb_status permute_sym(double *H, int64_t n, const int32_t *perm)
{
    double *tmp = lb_malloc((size_t)n * sizeof(double), "Hessian permutation");
    bool *done = lb_calloc((size_t)n, 1, "Hessian permutation");
    if (!tmp || !done) {
        free(tmp), free(done);
        return LB_ERR_NOMEM;
    }
    const size_t row = (size_t)n * sizeof(double);
    for (int64_t s = 0; s < n; s++) {
        if (done[s]) continue;
        memcpy(tmp, H + s * n, row);
        int64_t a = s;
        while (perm[a] != s) {
            memcpy(H + a * n, H + (int64_t)perm[a] * n, row);
            done[a] = true;
            a = perm[a];
        }
        memcpy(H + a * n, tmp, row);
        done[a] = true;
    }
    for (int64_t a = 0; a < n; a++) {
        double *h = H + a * n;
        for (int64_t b = 0; b < n; b++) tmp[b] = h[perm[b]];
        memcpy(h, tmp, row);
    }
    free(tmp), free(done);
    return LB_OK;
}

typedef struct walk {
    float *W;              /* [rows][cols] caller's, original column order */
    int64_t rows, cols, bs, gs, ng;
    lb_grid *grid;
    bool static_groups;
    const float *U;        /* [cols][cols] upper factor in walk order (f32) */
    const int32_t *perm;   /* [cols] walk position -> column */
    const int32_t *gorder; /* [cols] walk positions, each walk-fitted group's in column order */
    const bool *dead;      /* [cols] by column */
    const float *imp;      /* [cols] by column, or NULL */
    const float *imp_walk; /* [cols] imp at gorder, or NULL */
} walk;

typedef struct scratch {
    float *Wc;   /* [CHUNK_ROWS][cols] the chunk's rows in walk order */
    float *E;    /* [CHUNK_ROWS][bs] scaled errors of the current block */
    float *gbuf; /* [gs] one group's values for a fit */
} scratch;

// ---- the walk over one chunk of rows ----

static double walk_chunk(const walk *k, scratch *s, int64_t r0, int64_t nr)
{
    const int64_t cols = k->cols, gs = k->gs;
    float *Wc = s->Wc, *E = s->E;

    for (int64_t r = 0; r < nr; r++) {
        const float *w = k->W + (r0 + r) * cols;
        for (int64_t p = 0; p < cols; p++) Wc[r * cols + p] = k->dead[k->perm[p]] ? 0.0f : w[k->perm[p]];
    }
    if (k->static_groups) {
        for (int64_t r = 0; r < nr; r++) {
            const float *w = k->W + (r0 + r) * cols;
            for (int64_t gi = 0; gi < k->ng; gi++) {
                for (int64_t i = 0; i < gs; i++) s->gbuf[i] = k->dead[gi * gs + i] ? 0.0f : w[gi * gs + i];
                lb_grid_fit(k->grid, r0 + r, gi, s->gbuf, k->imp ? k->imp + gi * gs : NULL);
            }
        }
    }

    double loss = 0.0;
    for (int64_t i1 = 0; i1 < cols; i1 += k->bs) {
        const int64_t i2 = i1 + k->bs < cols ? i1 + k->bs : cols;
        for (int64_t j = i1; j < i2; j++) {
            const int64_t col = k->perm[j];
            if (!k->static_groups && j % gs == 0) {
                const int64_t gi = lb_grid_group_of(k->grid, col);
                const int32_t *pos = k->gorder + j;
                for (int64_t r = 0; r < nr; r++) {
                    for (int64_t i = 0; i < gs; i++) {
                        /* beyond the lazy block the errors of its columns so far are still
                         * pending (the block GEMM adds them): add them here for the fit */
                        float v = Wc[r * cols + pos[i]];
                        if (pos[i] >= i2)
                            for (int64_t t = i1; t < j; t++) v -= E[r * k->bs + (t - i1)] * k->U[t * cols + pos[i]];
                        s->gbuf[i] = v;
                    }
                    lb_grid_fit(k->grid, r0 + r, gi, s->gbuf, k->imp_walk ? k->imp_walk + j : NULL);
                }
            }
            const float *u = k->U + j * cols;
            const float d = u[j];
            for (int64_t r = 0; r < nr; r++) {
                float *wr = Wc + r * cols;
                const float w = wr[j];
                const float q = lb_grid_round(k->grid, r0 + r, col, w);
                const float e = (w - q) / d;
                loss += (double)e * (double)e;
                wr[j] = q;
                E[r * k->bs + (j - i1)] = e;
                for (int64_t t = j + 1; t < i2; t++) wr[t] -= e * u[t];
            }
        }
        if (i2 < cols) /* Wc[:, i2:] -= E[:, :i2-i1] U[i1:i2, i2:] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)(cols - i2), (int)(i2 - i1), -1.0f, E,
                        (int)k->bs, k->U + i1 * cols + i2, (int)cols, 1.0f, Wc + i2, (int)cols);
    }

    for (int64_t r = 0; r < nr; r++) {
        float *w = k->W + (r0 + r) * cols;
        for (int64_t p = 0; p < cols; p++) w[k->perm[p]] = Wc[r * cols + p];
    }
    return loss / 2.0;
}

// ---- entry ----

lb_status lb_gptq_quantize(const char *name, float *W, int64_t rows, int64_t cols, double *H, lb_grid *grid,
                           const lb_gptq_params *p, int n_threads, lb_gptq_report *rep)
{
    static const lb_gptq_params defaults = {0};
    lb_gptq_report local;
    if (!p) p = &defaults;
    if (!rep) rep = &local;
    if (!name) name = "tensor";
    memset(rep, 0, sizeof *rep);
    if (!W || !H || !grid || rows <= 0 || cols <= 0 || cols > INT_MAX)
        return lb_fail(LB_ERR_ARG, "%s: GPTQ on a [%lld][%lld] weight", name, (long long)rows, (long long)cols);
    const int64_t gs = lb_grid_group_size(grid);
    if (gs <= 0 || cols % gs != 0)
        return lb_fail(LB_ERR_ARG, "%s: %lld columns against a grid of groups of %lld", name, (long long)cols,
                       (long long)gs);
    const bool is_block = lb_grid_bytes(grid, NULL) != NULL;
    const int64_t bs = p->block_size > 0 ? p->block_size : 128;
    const bool static_groups = p->static_groups || (is_block && p->act_order);

    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(W[i]))
            return lb_fail(LB_ERR_NUMERIC, "%s: weight [%lld][%lld] is %g", name, (long long)(i / cols),
                           (long long)(i % cols), (double)W[i]);
    for (int64_t i = 0; i < cols * cols; i++)
        if (!isfinite(H[i]))
            return lb_fail(LB_ERR_NUMERIC, "%s: Hessian entry [%lld][%lld] is %g", name, (long long)(i / cols),
                           (long long)(i % cols), H[i]);

    lb_status st = LB_OK;
    const int64_t n_chunks = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > n_chunks) nt = (int)n_chunks;
    bool *dead = lb_calloc((size_t)cols, sizeof(bool), "GPTQ dead columns");
    int32_t *perm = lb_malloc((size_t)cols * sizeof(int32_t), "GPTQ permutation");
    int32_t *gorder = lb_malloc((size_t)cols * sizeof(int32_t), "GPTQ group order");
    double *hd = lb_malloc((size_t)cols * sizeof(double), "GPTQ diagonal");
    float *imp = p->importance ? lb_malloc((size_t)cols * sizeof(float), "GPTQ importance") : NULL;
    float *imp_walk = p->importance ? lb_malloc((size_t)cols * sizeof(float), "GPTQ importance") : NULL;
    float *U = lb_malloc((size_t)cols * (size_t)cols * sizeof(float), "GPTQ inverse Hessian factor");
    double *loss = lb_calloc((size_t)n_chunks, sizeof(double), "GPTQ losses");
    const size_t per_thread = (size_t)CHUNK_ROWS * (size_t)cols + (size_t)CHUNK_ROWS * (size_t)bs + (size_t)gs;
    float *work = lb_malloc((size_t)nt * per_thread * sizeof(float), "GPTQ row chunks");
    if (!dead || !perm || !gorder || !hd || (p->importance && (!imp || !imp_walk)) || !U || !loss || !work) {
        st = LB_ERR_NOMEM;
        goto done;
    }

    /* dead columns; importance from the diagonal as measured */
    double mean = 0.0;
    for (int64_t j = 0; j < cols; j++) {
        hd[j] = H[j * cols + j];
        mean += hd[j];
        if (hd[j] == 0.0) {
            dead[j] = true;
            rep->n_dead++;
            H[j * cols + j] = 1.0;
        }
    }
    mean /= (double)cols;
    if (imp)
        for (int64_t j = 0; j < cols; j++) imp[j] = mean > 0.0 ? (float)(hd[j] / mean) : 0.0f;

    /* act_order: decreasing H_jj after the dead fix (as gptq.py), stable; insertion sort on runs
     * would be quadratic, so a merge sort through gorder as scratch */
    for (int64_t j = 0; j < cols; j++) perm[j] = (int32_t)j, hd[j] = H[j * cols + j];
    if (p->act_order) {
        for (int64_t w = 1; w < cols; w *= 2) {
            for (int64_t lo = 0; lo < cols; lo += 2 * w) {
                int64_t mid = lo + w < cols ? lo + w : cols, hi = lo + 2 * w < cols ? lo + 2 * w : cols;
                int64_t a = lo, b = mid, o = lo;
                while (a < mid && b < hi) gorder[o++] = hd[perm[b]] > hd[perm[a]] ? perm[b++] : perm[a++];
                while (a < mid) gorder[o++] = perm[a++];
                while (b < hi) gorder[o++] = perm[b++];
            }
            memcpy(perm, gorder, (size_t)cols * sizeof(int32_t));
        }
        st = permute_sym(H, cols, perm);
        if (st) goto done;
    }

    /* groups in walk order: INT-N under act_order records them as g_idx */
    if (!is_block) {
        int32_t *g_idx = NULL;
        if (p->act_order && !static_groups) {
            g_idx = gorder; /* borrowed as scratch, rebuilt below */
            for (int64_t q = 0; q < cols; q++) g_idx[perm[q]] = (int32_t)(q / gs);
        }
        st = lb_grid_set_groups(grid, g_idx);
        if (st) goto done;
    }
    /* each group's walk positions by increasing column: a walk-fitted group is the positions
     * [k gs, (k+1) gs), so sort inside each (insertion sort: groups are short, nearly sorted) */
    for (int64_t q = 0; q < cols; q++) gorder[q] = (int32_t)q;
    if (p->act_order && !static_groups)
        for (int64_t g0 = 0; g0 < cols; g0 += gs)
            for (int64_t a = g0 + 1; a < g0 + gs; a++) {
                int32_t v = gorder[a];
                int64_t b = a;
                for (; b > g0 && perm[gorder[b - 1]] > perm[v]; b--) gorder[b] = gorder[b - 1];
                gorder[b] = v;
            }
    if (imp_walk)
        for (int64_t q = 0; q < cols; q++) imp_walk[q] = imp[perm[gorder[q]]];

    st = lb_gptq_hinv(H, cols, p, name, rep);
    if (st) goto done;
    for (int64_t i = 0; i < cols * cols; i++) U[i] = (float)H[i];

    walk k = {.W = W, .rows = rows, .cols = cols, .bs = bs, .gs = gs, .ng = cols / gs, .grid = grid,
              .static_groups = static_groups, .U = U, .perm = perm, .gorder = gorder, .dead = dead,
              .imp = imp, .imp_walk = imp_walk};
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        float *base = work + (size_t)omp_get_thread_num() * per_thread;
        scratch s = {.Wc = base, .E = base + CHUNK_ROWS * cols, .gbuf = base + CHUNK_ROWS * (cols + bs)};
        int64_t r0 = c * CHUNK_ROWS, nr = rows - r0 < CHUNK_ROWS ? rows - r0 : CHUNK_ROWS;
        loss[c] = walk_chunk(&k, &s, r0, nr);
    }
    for (int64_t c = 0; c < n_chunks; c++) rep->loss += loss[c];

done:
    free(dead), free(perm), free(gorder), free(hd), free(imp), free(imp_walk), free(U), free(loss), free(work);
    return st;
}
