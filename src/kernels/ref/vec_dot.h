/* Dot products of quantized weight rows with quantized activation rows, the way llama.cpp's CPU
 * backend multiplies them (ggml-cpu: type_traits_cpu[].vec_dot and .vec_dot_type): each weight
 * type names the 8-bit activation type it pairs with (Q8_0, Q8_1 or Q8_K; F32 pairs with F32,
 * F16 with F16, BF16 with BF16), activations are quantized to it once per row, and vec_dot sums
 * block by block. These are the plain C reference kernels (the spec); SIMD twins, when they
 * come, live in src/kernels/x86/ and are tested against them. */
#ifndef LB_KERNELS_VEC_DOT_H
#define LB_KERNELS_VEC_DOT_H

#include "core/core.h"
#include "core/dtype.h"

/* *s = dot(x, y) over n elements; x is a weight row of the weight type, y an activation row
 * of the paired vec_dot_type. */
typedef void (*lb_vec_dot_fn)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
/* Quantizes an activation row (n elements) to the vec_dot_type, as llama.cpp's
 * quantize_row_q8_0 / q8_1 / q8_K (reference versions) or the f16/bf16 conversions. */
typedef void (*lb_act_quantize_fn)(const float *restrict x, void *restrict y, int64_t n);

typedef struct lb_dot_traits {
    lb_type vec_dot_type;
    lb_vec_dot_fn vec_dot;
    lb_act_quantize_fn quantize_act; /* quantizer of vec_dot_type */
} lb_dot_traits;

/* Dot traits of weight type t, NULL when lowbit has no kernel for it. */
const lb_dot_traits *lb_dot_traits_of(lb_type t);

/* y[r][o] = dot(W row o, x row r) for r < n_rows, o < n_out: W is [n_out] rows of n_in elements
 * of type wtype (row stride = its byte size), x is f32 [n_rows][n_in], y f32 [n_rows][n_out].
 * act is caller scratch for the quantized activations (lb_matmul_act_bytes). Threads split
 * output rows, so results do not depend on n_threads. */
size_t lb_matmul_act_bytes(lb_type wtype, int64_t n_rows, int64_t n_in);
lb_status lb_matmul_q(lb_type wtype, const void *W, int64_t n_out, int64_t n_in, const float *x, int64_t n_rows,
                      float *y, void *act, int n_threads);

// ---- the reference kernels one by one (what lb_dot_traits_of hands out) ----

/* Activation quantizers (act_quant.c): n a multiple of the target block size. */
void lb_quantize_row_f32_ref(const float *restrict x, void *restrict y, int64_t n);
void lb_quantize_row_f16_ref(const float *restrict x, void *restrict y, int64_t n);
void lb_quantize_row_bf16_ref(const float *restrict x, void *restrict y, int64_t n);
void lb_quantize_row_q8_0_ref(const float *restrict x, void *restrict y, int64_t n);
void lb_quantize_row_q8_1_ref(const float *restrict x, void *restrict y, int64_t n);
void lb_quantize_row_q8_k_ref(const float *restrict x, void *restrict y, int64_t n);

/* Dot products (vec_dot_ref.c), llama.cpp's generic (scalar) fallbacks operation for operation. */
void lb_vec_dot_f32_f32_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_f16_f16_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_bf16_bf16_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_1_q8_1_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q5_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q5_1_q8_1_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q8_0_q8_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_iq4_nl_q8_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q2_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q3_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q4_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q5_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_q6_k_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void lb_vec_dot_iq4_xs_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

#endif
