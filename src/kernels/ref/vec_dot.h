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

#include <stdbool.h>

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

/* Dot traits of weight type t, NULL when lowbit has no kernel for it: the fastest kernels this
 * CPU runs (chosen once, thread-safely, on first use), or the reference ones when the
 * environment has LOWBIT_FORCE_REF=1 at that moment. The pointer stays valid forever. */
const lb_dot_traits *lb_dot_traits_of(lb_type t);

/* Kernel sets, lowest first. A set without its own kernel for a type hands out the next lower
 * set's (e.g. AVX-512 has no Q4_K kernel of its own: it uses AVX2's). */
typedef enum lb_kernel_isa {
    LB_KERNEL_REF = 0,    /* src/kernels/ref, plain C */
    LB_KERNEL_AVX2 = 1,   /* src/kernels/x86/vec_dot_avx2.c: AVX2 + FMA + F16C */
    LB_KERNEL_AVX512 = 2, /* src/kernels/x86/vec_dot_avx512.c: + AVX-512 F/BW/VL/VNNI */
    LB_KERNEL_ISA_COUNT
} lb_kernel_isa;

/* Whether this CPU (and OS) runs the kernels of set isa; LB_KERNEL_REF always. */
bool lb_kernel_isa_supported(lb_kernel_isa isa);
/* The highest set this CPU runs, or LB_KERNEL_REF when the environment had LOWBIT_FORCE_REF=1
 * at the first kernel lookup: what every run-time kernel choice (dot products, F16/BF16 rows)
 * follows. */
lb_kernel_isa lb_kernel_isa_best(void);
const char *lb_kernel_isa_name(lb_kernel_isa isa);
/* Dot traits of t from one kernel set, whatever the CPU and LOWBIT_FORCE_REF say (for tests
 * and benchmarks: check lb_kernel_isa_supported first); NULL as lb_dot_traits_of. */
const lb_dot_traits *lb_dot_traits_isa_of(lb_type t, lb_kernel_isa isa);
/* = lb_dot_traits_isa_of(t, LB_KERNEL_REF): the spec the SIMD twins are tested against. */
const lb_dot_traits *lb_dot_traits_ref_of(lb_type t);

/* y[r][o] = dot(W row o, x row r) for r < n_rows, o < n_out: W is [n_out] rows of n_in elements
 * of type wtype (row stride = its byte size), x is f32 [n_rows][n_in], y f32 [n_rows][n_out].
 * act is caller scratch for the quantized activations (lb_matmul_act_bytes). Threads split
 * output rows, so results do not depend on n_threads. */
size_t lb_matmul_act_bytes(lb_type wtype, int64_t n_rows, int64_t n_in);
lb_status lb_matmul_q(lb_type wtype, const void *W, int64_t n_out, int64_t n_in, const float *x, int64_t n_rows,
                      float *y, void *act, int n_threads);
/* lb_matmul_q with explicit kernels dt (from one of the lookups above for wtype). */
lb_status lb_matmul_q_with(const lb_dot_traits *dt, lb_type wtype, const void *W, int64_t n_out, int64_t n_in,
                           const float *x, int64_t n_rows, float *y, void *act, int n_threads);

/* How a product is computed. Both quantize the activations to the weight type's 8-bit
 * partner (llama.cpp's numerics); DOT multiplies blocks with the integer kernels, SGEMM decodes
 * tiles of weight rows and the quantized activations to f32 and hands them to OpenBLAS sgemm
 * (same values, float sums in another order). Prompt batches of LB_MATMUL_SGEMM_MIN_ROWS rows
 * or more take SGEMM: bench/matmul_batch.c measures where it overtakes DOT on this machine. */
typedef enum lb_matmul_path { LB_MATMUL_DOT = 0, LB_MATMUL_SGEMM = 1 } lb_matmul_path;
#define LB_MATMUL_SGEMM_MIN_ROWS 16
/* Quantized activations (Q8_0, Q8_1, Q8_K, or a float type) back to f32: exactly the values
 * the integer dot products multiply (d * q per block), so SGEMM differs from DOT only in the
 * order float sums are taken (the 8-bit rounding of x is kept). */
void lb_matmul_act_to_f32(lb_type act_type, const void *src, float *dst, int64_t n);
/* Rows from which lb_matmul_q decodes weight tiles and runs sgemm instead of dot products. */
int64_t lb_matmul_sgemm_min_rows(lb_type wtype);
/* The path lb_matmul_q takes for n_rows rows (LOWBIT_MATMUL=dot|sgemm forces one). */
lb_matmul_path lb_matmul_path_of(lb_type wtype, int64_t n_rows);
lb_status lb_matmul_q_path(const lb_dot_traits *dt, lb_type wtype, const void *W, int64_t n_out, int64_t n_in,
                           const float *x, int64_t n_rows, float *y, void *act, int n_threads, lb_matmul_path path);

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
