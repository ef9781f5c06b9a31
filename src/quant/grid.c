/* The quantization grid GPTQ walks (see grid.h): one struct for both families.
 *
 *   INT-N: AutoGPTQ's Quantizer (quantizer.py find_params + quantize) in float32, the same
 *   arithmetic as intn.c: range [min(xmin, 0), max(xmax, 0)], symmetric widens it to +-max|x|
 *   and fixes zero = (maxq + 1) / 2, asymmetric zero = round(-xmin / scale) (round half to
 *   even, as torch.round). The scale is then rounded to f16, what a GPTQ checkpoint stores, so
 *   the values GPTQ compensates for are the values the file decodes to; the zero point keeps
 *   AutoGPTQ's f32-scale value. Importance is ignored (AutoGPTQ's fit has none).
 *   GGUF block types: a group is one block; the fit is the type's llama.cpp quantizer on that
 *   block alone (with the importance as its imatrix row), the rounding the type's block rounder
 *   (grid_blocks.c) under the scales the fit stored, so the packed rows are ordinary tensor bytes.
 *
 * Not here: the GPTQ walk (algo/gptq.c), file packing of INT-N codes (io writers). */
#include "quant/grid.h"
#include "quant/grid_internal.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <math.h>
#include <string.h>

struct lb_grid {
    bool is_intn;
    lb_intn_params intn;
    int64_t rows, cols;
    int64_t group_size; /* columns per group (block size for block types) */
    int64_t n_groups;   /* per row */

    /* INT-N */
    uint8_t *codes;  /* [rows][cols] */
    float *scales;   /* [rows][n_groups], f16-exact */
    uint8_t *zeros;  /* [rows][n_groups] */
    int32_t *g_idx;  /* [cols] or NULL: contiguous groups */

    /* GGUF block types */
    lb_type type;
    const lb_type_traits *traits;
    lb_quantize_row_fn quantize;
    lb_block_round_fn round;
    size_t row_bytes;
    uint8_t *bytes; /* [rows][row_bytes] */
};

// ---- create / free ----

lb_status lb_grid_create(const lb_grid_spec *spec, int64_t rows, int64_t cols, lb_grid **out)
{
    *out = NULL;
    if (!spec || rows <= 0 || cols <= 0) return lb_fail(LB_ERR_ARG, "grid: bad shape [%lld][%lld]", (long long)rows, (long long)cols);
    lb_grid *g = lb_calloc(1, sizeof *g, "grid");
    if (!g) return LB_ERR_NOMEM;
    g->rows = rows, g->cols = cols;
    uint64_t n;
    if (spec->intn.bits > 0) {
        g->is_intn = true;
        g->intn = spec->intn;
        g->n_groups = lb_intn_n_groups(&spec->intn, cols);
        if (g->n_groups < 0) {
            lb_grid_free(g);
            return lb_fail(LB_ERR_ARG, "grid: INT%d with group size %lld does not fit %lld columns", spec->intn.bits,
                           (long long)spec->intn.group_size, (long long)cols);
        }
        g->group_size = cols / g->n_groups;
        if (!lb_mul_ok((uint64_t)rows, (uint64_t)cols, &n)) {
            lb_grid_free(g);
            return lb_fail(LB_ERR_ARG, "grid: [%lld][%lld] overflows", (long long)rows, (long long)cols);
        }
        g->codes = lb_malloc(n, "grid codes");
        g->scales = lb_calloc((size_t)(rows * g->n_groups), sizeof(float), "grid scales");
        g->zeros = lb_calloc((size_t)(rows * g->n_groups), 1, "grid zeros");
        if (!g->codes || !g->scales || !g->zeros) {
            lb_grid_free(g);
            return LB_ERR_NOMEM;
        }
        memset(g->codes, 0, n);
    } else {
        g->type = spec->type;
        g->traits = lb_type_traits_of(spec->type);
        g->quantize = lb_quantizer_of(spec->type);
        g->round = lb_block_rounder_of(spec->type);
        if (!g->traits || !g->quantize || !g->round) {
            lb_grid_free(g);
            return lb_fail(LB_ERR_ARG, "grid: type %d has no quantizer or block rounder", (int)spec->type);
        }
        g->group_size = g->traits->block_size;
        uint64_t rb;
        if (!lb_type_nbytes(spec->type, (uint64_t)cols, &rb)) {
            lb_status st = lb_fail(LB_ERR_ARG, "grid: %lld columns are not whole %s blocks of %lld", (long long)cols,
                                   g->traits->name, (long long)g->group_size);
            lb_grid_free(g);
            return st;
        }
        g->n_groups = cols / g->group_size;
        g->row_bytes = (size_t)rb;
        if (!lb_mul_ok(rb, (uint64_t)rows, &n)) {
            lb_grid_free(g);
            return lb_fail(LB_ERR_ARG, "grid: [%lld][%lld] overflows", (long long)rows, (long long)cols);
        }
        g->bytes = lb_calloc(n, 1, "grid blocks");
        if (!g->bytes) {
            lb_grid_free(g);
            return LB_ERR_NOMEM;
        }
    }
    *out = g;
    return LB_OK;
}

void lb_grid_free(lb_grid *g)
{
    if (!g) return;
    free(g->codes), free(g->scales), free(g->zeros), free(g->g_idx), free(g->bytes);
    free(g);
}

// ---- group map ----

int64_t lb_grid_group_size(const lb_grid *g) { return g->group_size; }

lb_status lb_grid_set_groups(lb_grid *g, const int32_t *g_idx)
{
    if (!g->is_intn) return lb_fail(LB_ERR_ARG, "grid: a %s grid has fixed blocks, no group map", g->traits->name);
    if (!g_idx) {
        free(g->g_idx);
        g->g_idx = NULL;
        return LB_OK;
    }
    /* every group exactly group_size columns */
    int64_t *count = lb_calloc((size_t)g->n_groups, sizeof(int64_t), "grid group count");
    if (!count) return LB_ERR_NOMEM;
    lb_status st = LB_OK;
    for (int64_t c = 0; c < g->cols && !st; c++) {
        if (g_idx[c] < 0 || g_idx[c] >= g->n_groups || ++count[g_idx[c]] > g->group_size)
            st = lb_fail(LB_ERR_ARG, "grid: g_idx[%lld] = %d: not a map onto %lld groups of %lld columns", (long long)c,
                         (int)g_idx[c], (long long)g->n_groups, (long long)g->group_size);
    }
    free(count);
    if (st) return st;
    int32_t *copy = lb_malloc((size_t)g->cols * sizeof(int32_t), "grid g_idx");
    if (!copy) return LB_ERR_NOMEM;
    memcpy(copy, g_idx, (size_t)g->cols * sizeof(int32_t));
    free(g->g_idx);
    g->g_idx = copy;
    return LB_OK;
}

int64_t lb_grid_group_of(const lb_grid *g, int64_t c) { return g->g_idx ? g->g_idx[c] : c / g->group_size; }

// ---- fit ----

/* AutoGPTQ Quantizer.find_params for one group (f32, as intn.c), then the scale to f16. */
static void fit_intn(lb_grid *g, int64_t r, int64_t gi, const float *w)
{
    const lb_intn_params *p = &g->intn;
    float maxq = (float)((1 << p->bits) - 1);
    float xmin = 0.0f, xmax = 0.0f;
    for (int64_t i = 0; i < g->group_size; i++) xmin = fminf(xmin, w[i]), xmax = fmaxf(xmax, w[i]);
    if (p->sym) {
        xmax = fmaxf(fabsf(xmin), xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) xmin = -1.0f, xmax = 1.0f;
    float scale = (xmax - xmin) / maxq;
    float zero = p->sym ? (maxq + 1.0f) / 2.0f : rintf(-xmin / scale);
    /* f16 as stored; a scale below f16's smallest subnormal keeps that subnormal (every weight of
     * such a group rounds to the zero point), one above f16's range its largest finite value */
    float s16 = lb_f16_to_f32(lb_f32_to_f16(scale));
    if (s16 == 0.0f) s16 = 0x1p-24f;
    if (isinf(s16)) s16 = 65504.0f;
    g->scales[r * g->n_groups + gi] = s16;
    g->zeros[r * g->n_groups + gi] = (uint8_t)zero; /* 0 <= -xmin / scale <= maxq: xmin <= 0 <= xmax */
}

void lb_grid_fit(lb_grid *g, int64_t r, int64_t gi, const float *w, const float *imp)
{
    LB_ASSERT(r >= 0 && r < g->rows && gi >= 0 && gi < g->n_groups);
    if (g->is_intn) {
        fit_intn(g, r, gi, w);
        return;
    }
    uint8_t *blk = g->bytes + (size_t)r * g->row_bytes + (size_t)gi * g->traits->type_size;
    g->quantize(w, blk, g->group_size, imp);
}

// ---- round ----

float lb_grid_round(lb_grid *g, int64_t r, int64_t c, float w)
{
    LB_ASSERT(r >= 0 && r < g->rows && c >= 0 && c < g->cols);
    int64_t gi = lb_grid_group_of(g, c);
    if (g->is_intn) {
        /* quantizer.py quantize(): q = clamp(round(x / scale) + zero, 0, maxq), x = scale (q - zero) */
        float scale = g->scales[r * g->n_groups + gi];
        uint8_t zero = g->zeros[r * g->n_groups + gi];
        float maxq = (float)((1 << g->intn.bits) - 1);
        float q = fminf(fmaxf(rintf(w / scale) + (float)zero, 0.0f), maxq); /* NaN w -> 0 */
        uint8_t code = (uint8_t)q;
        g->codes[r * g->cols + c] = code;
        return scale * (float)((int)code - (int)zero);
    }
    uint8_t *blk = g->bytes + (size_t)r * g->row_bytes + (size_t)gi * g->traits->type_size;
    return g->round(blk, c % g->group_size, w);
}

// ---- packed rows ----

const void *lb_grid_bytes(const lb_grid *g, size_t *row_bytes)
{
    if (row_bytes) *row_bytes = g->is_intn ? 0 : g->row_bytes;
    return g->is_intn ? NULL : g->bytes;
}

void lb_grid_intn(const lb_grid *g, const uint8_t **codes, const float **scales, const uint8_t **zeros)
{
    if (codes) *codes = g->is_intn ? g->codes : NULL;
    if (scales) *scales = g->is_intn ? g->scales : NULL;
    if (zeros) *zeros = g->is_intn ? g->zeros : NULL;
}

void lb_grid_dequantize(const lb_grid *g, float *y)
{
    for (int64_t r = 0; r < g->rows; r++) {
        float *yr = y + r * g->cols;
        if (!g->is_intn) {
            g->traits->to_f32(g->bytes + (size_t)r * g->row_bytes, yr, g->cols);
            continue;
        }
        for (int64_t c = 0; c < g->cols; c++) {
            int64_t gi = lb_grid_group_of(g, c);
            yr[c] = g->scales[r * g->n_groups + gi] *
                    (float)((int)g->codes[r * g->cols + c] - (int)g->zeros[r * g->n_groups + gi]);
        }
    }
}
