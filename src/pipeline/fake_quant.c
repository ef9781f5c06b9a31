/* Simulated quantization (see fake_quant.h). */
#include "pipeline/fake_quant.h"
#include "pipeline/intn_sim.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <stdlib.h>

bool lb_fake_quant_active(const lb_fake_quant *q)
{
    if (q->intn.bits > 0) return true;
    const lb_type_traits *tr = lb_type_traits_of(q->type);
    return tr && tr->is_quantized && lb_quantizer_of(q->type);
}

int64_t lb_fake_quant_group(const lb_fake_quant *q, int64_t cols)
{
    if (q->intn.bits > 0) return q->intn.group_size > 0 && cols % q->intn.group_size == 0 ? q->intn.group_size : cols;
    return cols % 32 == 0 ? 32 : cols;
}

lb_status lb_fake_quant_rows(const lb_fake_quant *q, float *w, int64_t rows, int64_t cols, int n_threads,
                             const char *name)
{
    if (!lb_fake_quant_active(q)) return LB_OK;
    if (n_threads < 1) n_threads = 1;
    int64_t per = (rows + n_threads - 1) / n_threads;
    lb_status st = LB_OK;
    if (q->intn.bits > 0) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
        for (int t = 0; t < n_threads; t++) {
            int64_t r0 = t * per, n = r0 + per > rows ? rows - r0 : per;
            if (n <= 0) continue;
            lb_status s = lb_intn_round_rows(&q->intn, w + r0 * cols, n, cols);
            if (s) {
#pragma omp critical
                st = s;
            }
        }
        return st;
    }
    const lb_type_traits *tr = lb_type_traits_of(q->type);
    uint64_t row_bytes;
    if (!lb_type_nbytes(q->type, (uint64_t)cols, &row_bytes))
        return lb_fail(LB_ERR_ARG, "%s: rows of %lld do not fit %s blocks", name, (long long)cols, tr->name);
    uint8_t *buf = lb_malloc((size_t)(row_bytes * (uint64_t)rows), "simulated quantization");
    if (!buf) return LB_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int t = 0; t < n_threads; t++) {
        int64_t r0 = t * per, n = r0 + per > rows ? rows - r0 : per;
        if (n <= 0) continue;
        lb_status s = lb_quantize_rows(q->type, w + r0 * cols, buf + (uint64_t)r0 * row_bytes, n, cols, NULL, name);
        if (s) {
#pragma omp critical
            st = s;
            continue;
        }
        for (int64_t r = r0; r < r0 + n; r++) tr->to_f32(buf + (uint64_t)r * row_bytes, w + r * cols, cols);
    }
    free(buf);
    return st;
}
