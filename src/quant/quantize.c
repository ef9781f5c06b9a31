/* The quantizer table and the checked many-row entry point. Row quantizers live in
 * quantize_legacy.c (32-element blocks) and quantize_kquants.c (256-element super-blocks);
 * this file only validates input and walks rows, as ggml_quantize_chunk does (the same
 * imatrix row of per-column weights applies to every row). */
#include "quant/quantize.h"
#include "quant/quantize_internal.h"
#include "quant/types.h"

#include <math.h>

static const lb_quantize_row_fn g_quantizers[LB_TYPE_COUNT] = {
    [LB_TYPE_Q4_0] = lb_quantize_row_q4_0,     [LB_TYPE_Q4_1] = lb_quantize_row_q4_1,
    [LB_TYPE_Q5_0] = lb_quantize_row_q5_0,     [LB_TYPE_Q5_1] = lb_quantize_row_q5_1,
    [LB_TYPE_Q8_0] = lb_quantize_row_q8_0,     [LB_TYPE_Q2_K] = lb_quantize_row_q2_k,
    [LB_TYPE_Q3_K] = lb_quantize_row_q3_k,     [LB_TYPE_Q4_K] = lb_quantize_row_q4_k,
    [LB_TYPE_Q5_K] = lb_quantize_row_q5_k,     [LB_TYPE_Q6_K] = lb_quantize_row_q6_k,
    [LB_TYPE_IQ4_NL] = lb_quantize_row_iq4_nl, [LB_TYPE_IQ4_XS] = lb_quantize_row_iq4_xs,
};

lb_quantize_row_fn lb_quantizer_of(lb_type t)
{
    if ((int)t < 0 || t >= LB_TYPE_COUNT) return NULL;
    return g_quantizers[t];
}

lb_status lb_quantize_rows(lb_type t, const float *src, void *dst, int64_t n_rows, int64_t n_per_row,
                           const float *imatrix, const char *what)
{
    if (!what) what = "tensor";
    const lb_type_traits *tr = lb_type_traits_of(t);
    lb_quantize_row_fn fn = lb_quantizer_of(t);
    if (!tr || !fn) return lb_fail(LB_ERR_UNSUPPORTED, "%s: lowbit cannot quantize to type %d", what, (int)t);
    if (n_rows < 0 || n_per_row <= 0 || n_per_row % tr->block_size != 0)
        return lb_fail(LB_ERR_ARG, "%s: rows of %lld elements cannot be %s (blocks of %lld)", what,
                       (long long)n_per_row, tr->name, (long long)tr->block_size);
    if (n_rows == 0) return LB_OK;
    if (!src || !dst) return lb_fail(LB_ERR_ARG, "%s: NULL source or destination", what);

    if (imatrix) {
        for (int64_t c = 0; c < n_per_row; c++)
            if (!isfinite(imatrix[c]))
                return lb_fail(LB_ERR_NUMERIC, "%s: imatrix column %lld is %g", what, (long long)c, (double)imatrix[c]);
    }
    /* check everything before writing anything: no half-quantized output on bad input */
    for (int64_t r = 0; r < n_rows; r++) {
        const float *x = src + r * n_per_row;
        for (int64_t c = 0; c < n_per_row; c++)
            if (!isfinite(x[c]))
                return lb_fail(LB_ERR_NUMERIC, "%s: row %lld column %lld is %g", what, (long long)r, (long long)c,
                               (double)x[c]);
    }
    const size_t row_size = (size_t)(n_per_row / tr->block_size) * tr->type_size;
    for (int64_t r = 0; r < n_rows; r++)
        fn(src + r * n_per_row, (uint8_t *)dst + (size_t)r * row_size, n_per_row, imatrix);
    return LB_OK;
}
