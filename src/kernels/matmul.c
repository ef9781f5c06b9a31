/* The dot-traits table (weight type -> activation type, vec_dot, activation quantizer; the
 * pairings of llama.cpp's ggml-cpu type_traits_cpu[].vec_dot_type) and the quantized matrix
 * product built on it: every activation row is quantized once, then each output element is
 * one vec_dot of a weight row with an activation row, as ggml_compute_forward_mul_mat does.
 * Threads split output rows (OpenMP, static schedule): each y[r][o] is computed by exactly one
 * call whatever n_threads is, so results are bit-identical for any thread count.
 * Not here: the kernels themselves (vec_dot_ref.c, act_quant.c), SIMD selection. */
#include "kernels/ref/vec_dot.h"
#include "quant/types.h"

#include <string.h>

// ---- traits ----

static const lb_dot_traits g_dot[LB_TYPE_COUNT] = {
    [LB_TYPE_F32] = {LB_TYPE_F32, lb_vec_dot_f32_f32_ref, lb_quantize_row_f32_ref},
    [LB_TYPE_F16] = {LB_TYPE_F16, lb_vec_dot_f16_f16_ref, lb_quantize_row_f16_ref},
    [LB_TYPE_BF16] = {LB_TYPE_BF16, lb_vec_dot_bf16_bf16_ref, lb_quantize_row_bf16_ref},
    [LB_TYPE_Q4_0] = {LB_TYPE_Q8_0, lb_vec_dot_q4_0_q8_0_ref, lb_quantize_row_q8_0_ref},
    [LB_TYPE_Q4_1] = {LB_TYPE_Q8_1, lb_vec_dot_q4_1_q8_1_ref, lb_quantize_row_q8_1_ref},
    [LB_TYPE_Q5_0] = {LB_TYPE_Q8_0, lb_vec_dot_q5_0_q8_0_ref, lb_quantize_row_q8_0_ref},
    [LB_TYPE_Q5_1] = {LB_TYPE_Q8_1, lb_vec_dot_q5_1_q8_1_ref, lb_quantize_row_q8_1_ref},
    [LB_TYPE_Q8_0] = {LB_TYPE_Q8_0, lb_vec_dot_q8_0_q8_0_ref, lb_quantize_row_q8_0_ref},
    [LB_TYPE_IQ4_NL] = {LB_TYPE_Q8_0, lb_vec_dot_iq4_nl_q8_0_ref, lb_quantize_row_q8_0_ref},
    [LB_TYPE_Q2_K] = {LB_TYPE_Q8_K, lb_vec_dot_q2_k_q8_k_ref, lb_quantize_row_q8_k_ref},
    [LB_TYPE_Q3_K] = {LB_TYPE_Q8_K, lb_vec_dot_q3_k_q8_k_ref, lb_quantize_row_q8_k_ref},
    [LB_TYPE_Q4_K] = {LB_TYPE_Q8_K, lb_vec_dot_q4_k_q8_k_ref, lb_quantize_row_q8_k_ref},
    [LB_TYPE_Q5_K] = {LB_TYPE_Q8_K, lb_vec_dot_q5_k_q8_k_ref, lb_quantize_row_q8_k_ref},
    [LB_TYPE_Q6_K] = {LB_TYPE_Q8_K, lb_vec_dot_q6_k_q8_k_ref, lb_quantize_row_q8_k_ref},
    [LB_TYPE_IQ4_XS] = {LB_TYPE_Q8_K, lb_vec_dot_iq4_xs_q8_k_ref, lb_quantize_row_q8_k_ref},
};

const lb_dot_traits *lb_dot_traits_of(lb_type t)
{
    if ((int)t < 0 || t >= LB_TYPE_COUNT || !g_dot[t].vec_dot) return NULL;
    return &g_dot[t];
}

// ---- matmul ----

/* Bytes of one row of n elements of type t; 0 when t is unknown, n is not a whole number of
 * blocks, or the size overflows. */
static uint64_t row_bytes(lb_type t, int64_t n)
{
    uint64_t b = 0;
    if (n < 0 || !lb_type_nbytes(t, (uint64_t)n, &b)) return 0;
    return b;
}

size_t lb_matmul_act_bytes(lb_type wtype, int64_t n_rows, int64_t n_in)
{
    const lb_dot_traits *dt = lb_dot_traits_of(wtype);
    uint64_t total = 0;
    if (!dt || n_rows < 0 || !lb_mul_ok(row_bytes(dt->vec_dot_type, n_in), (uint64_t)n_rows, &total) ||
        total > SIZE_MAX)
        return 0;
    return (size_t)total;
}

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define PARALLEL_MIN_WORK 1000000.0

lb_status lb_matmul_q(lb_type wtype, const void *W, int64_t n_out, int64_t n_in, const float *x, int64_t n_rows,
                      float *y, void *act, int n_threads)
{
    const lb_dot_traits *dt = lb_dot_traits_of(wtype);
    if (!dt) {
        const lb_type_traits *tt = lb_type_traits_of(wtype);
        return lb_fail(LB_ERR_UNSUPPORTED, "matmul: no dot-product kernel for weight type %s",
                       tt ? tt->name : "(unknown)");
    }
    if (n_out < 0 || n_rows < 0 || n_in <= 0)
        return lb_fail(LB_ERR_ARG, "matmul: bad shape n_out=%lld n_in=%lld n_rows=%lld", (long long)n_out,
                       (long long)n_in, (long long)n_rows);
    const uint64_t w_row = row_bytes(wtype, n_in), a_row = row_bytes(dt->vec_dot_type, n_in);
    if (!w_row || !a_row)
        return lb_fail(LB_ERR_ARG, "matmul: n_in=%lld is not a whole number of %s and %s blocks", (long long)n_in,
                       lb_type_traits_of(wtype)->name, lb_type_traits_of(dt->vec_dot_type)->name);
    if (n_out == 0 || n_rows == 0) return LB_OK;
    if (!W || !x || !y || !act) return lb_fail(LB_ERR_ARG, "matmul: NULL buffer");
    if (n_threads < 1) n_threads = 1;

    const double work = (double)n_out * (double)n_in * (double)n_rows;
    const int nt = work >= PARALLEL_MIN_WORK ? n_threads : 1;
    uint8_t *a = act;
    const uint8_t *w = W;

    /* activations: one quantized row per input row, each written by one thread */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n_rows > 1)
    for (int64_t r = 0; r < n_rows; r++) dt->quantize_act(x + r * n_in, a + (uint64_t)r * a_row, n_in);

#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < n_out; o++) {
        const uint8_t *wo = w + (uint64_t)o * w_row;
        for (int64_t r = 0; r < n_rows; r++) dt->vec_dot(n_in, &y[r * n_out + o], wo, a + (uint64_t)r * a_row);
    }
    return LB_OK;
}
