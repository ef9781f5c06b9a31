/* The dot-traits tables (weight type -> activation type, vec_dot, activation quantizer; the
 * pairings of llama.cpp's ggml-cpu type_traits_cpu[].vec_dot_type), one per kernel set (ref,
 * AVX2, AVX-512), and the quantized matrix product built on them: every activation row is
 * quantized once, then each output element is one vec_dot of a weight row with an activation
 * row, as ggml_compute_forward_mul_mat does.
 * Kernel selection, BLIS cntx_init style: the tables are filled once (pthread_once) starting
 * from the reference kernels and overriding with each SIMD set's twins; lb_dot_traits_of hands
 * out the highest set cpuid allows, or ref under LOWBIT_FORCE_REF=1. After that one-time init
 * everything here is read-only.
 * Threads split output rows (OpenMP), each thread a contiguous range: each y[r][o] is computed
 * by exactly one vec_dot call whatever n_threads is, so results are bit-identical for any
 * thread count. Prompt batches instead decode fixed tiles of weight rows and the quantized
 * activations to f32 for sgemm (lb_matmul_path), equally independent of the thread count.
 * Not here: the kernels themselves (ref/, x86/). */
#include "kernels/ref/vec_dot.h"
#include "kernels/x86/vec_dot_x86.h"
#include "quant/blocks.h"
#include "quant/types.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// ---- traits ----

static const lb_dot_traits k_dot_ref[LB_TYPE_COUNT] = {
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

/* Each SIMD set's own vec_dot twins (same pairing and quantizer as the reference). */
typedef struct twin {
    lb_type t;
    lb_vec_dot_fn vec_dot;
} twin;

static const twin k_twins_avx2[] = {
    {LB_TYPE_Q4_0, lb_vec_dot_q4_0_q8_0_avx2},  {LB_TYPE_Q4_1, lb_vec_dot_q4_1_q8_1_avx2},
    {LB_TYPE_Q8_0, lb_vec_dot_q8_0_q8_0_avx2},  {LB_TYPE_Q4_K, lb_vec_dot_q4_k_q8_k_avx2},
    {LB_TYPE_Q5_K, lb_vec_dot_q5_k_q8_k_avx2},  {LB_TYPE_Q6_K, lb_vec_dot_q6_k_q8_k_avx2},
    {LB_TYPE_IQ4_XS, lb_vec_dot_iq4_xs_q8_k_avx2},
};
static const twin k_twins_avx512[] = {
    {LB_TYPE_Q4_0, lb_vec_dot_q4_0_q8_0_avx512}, {LB_TYPE_Q4_1, lb_vec_dot_q4_1_q8_1_avx512},
    {LB_TYPE_Q8_0, lb_vec_dot_q8_0_q8_0_avx512}, {LB_TYPE_Q5_K, lb_vec_dot_q5_k_q8_k_avx512},
    {LB_TYPE_IQ4_XS, lb_vec_dot_iq4_xs_q8_k_avx512},
};

/* Written once by init_tables (under pthread_once), read-only afterwards. */
static lb_dot_traits g_dot[LB_KERNEL_ISA_COUNT][LB_TYPE_COUNT];
static lb_kernel_isa g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static bool cpu_has(lb_kernel_isa isa)
{
    switch (isa) {
    case LB_KERNEL_REF: return true;
    case LB_KERNEL_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case LB_KERNEL_AVX512:
        return cpu_has(LB_KERNEL_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    default: return false;
    }
}

static void init_tables(void)
{
    __builtin_cpu_init();
    memcpy(g_dot[LB_KERNEL_REF], k_dot_ref, sizeof k_dot_ref);
    static const struct {
        const twin *twins;
        size_t count;
    } k_sets[LB_KERNEL_ISA_COUNT] = {
        [LB_KERNEL_AVX2] = {k_twins_avx2, sizeof k_twins_avx2 / sizeof k_twins_avx2[0]},
        [LB_KERNEL_AVX512] = {k_twins_avx512, sizeof k_twins_avx512 / sizeof k_twins_avx512[0]},
    };
    for (int isa = LB_KERNEL_REF + 1; isa < LB_KERNEL_ISA_COUNT; isa++) {
        memcpy(g_dot[isa], g_dot[isa - 1], sizeof g_dot[isa]);
        for (size_t i = 0; i < k_sets[isa].count; i++) g_dot[isa][k_sets[isa].twins[i].t].vec_dot = k_sets[isa].twins[i].vec_dot;
    }
    const char *force = getenv("LOWBIT_FORCE_REF");
    g_best = LB_KERNEL_REF;
    if (!(force && strcmp(force, "1") == 0))
        for (int isa = LB_KERNEL_ISA_COUNT - 1; isa > LB_KERNEL_REF; isa--)
            if (cpu_has((lb_kernel_isa)isa)) {
                g_best = (lb_kernel_isa)isa;
                break;
            }
}

bool lb_kernel_isa_supported(lb_kernel_isa isa)
{
    pthread_once(&g_once, init_tables); /* __builtin_cpu_init before the first query */
    return cpu_has(isa);
}

lb_kernel_isa lb_kernel_isa_best(void)
{
    pthread_once(&g_once, init_tables);
    return g_best;
}

const char *lb_kernel_isa_name(lb_kernel_isa isa)
{
    static const char *const k_names[LB_KERNEL_ISA_COUNT] = {"ref", "avx2", "avx512"};
    return (int)isa >= 0 && isa < LB_KERNEL_ISA_COUNT ? k_names[isa] : "?";
}

const lb_dot_traits *lb_dot_traits_isa_of(lb_type t, lb_kernel_isa isa)
{
    if ((int)t < 0 || t >= LB_TYPE_COUNT || (int)isa < 0 || isa >= LB_KERNEL_ISA_COUNT) return NULL;
    pthread_once(&g_once, init_tables);
    return g_dot[isa][t].vec_dot ? &g_dot[isa][t] : NULL;
}

const lb_dot_traits *lb_dot_traits_ref_of(lb_type t) { return lb_dot_traits_isa_of(t, LB_KERNEL_REF); }

const lb_dot_traits *lb_dot_traits_of(lb_type t)
{
    pthread_once(&g_once, init_tables);
    return lb_dot_traits_isa_of(t, g_best);
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
/* Cache tiles of the loop nest: weight rows of one tile stay in L1 while every activation row
 * of a tile (kept in L2) passes them, so each weight byte comes from memory n_rows / R times
 * and each activation byte from L2 n_out / O times, instead of the weights streaming once per
 * activation row. */
#define TILE_W_BYTES (16 * 1024)
#define TILE_A_BYTES (512 * 1024)

// ---- prompt batches: dequantized weight tiles into sgemm ----

void lb_matmul_act_to_f32(lb_type t, const void *src, float *dst, int64_t n)
{
    if (t == LB_TYPE_Q8_1) {
        const lb_block_q8_1 *b = src;
        for (int64_t i = 0; i < n / 32; i++) {
            float d = lb_f16_to_f32(b[i].d);
            for (int j = 0; j < 32; j++) dst[i * 32 + j] = d * (float)b[i].qs[j];
        }
    } else if (t == LB_TYPE_Q8_K) {
        const lb_block_q8_k *b = src;
        for (int64_t i = 0; i < n / 256; i++)
            for (int j = 0; j < 256; j++) dst[i * 256 + j] = b[i].d * (float)b[i].qs[j];
    } else {
        lb_type_traits_of(t)->to_f32(src, dst, n);
    }
}

/* Output rows per sgemm tile: fixed, so the tiles (and the bits) do not depend on the thread
 * count; 64 rows of 4096 f32 are 1 MiB, L2-sized. */
#define SGEMM_TILE_ROWS 64

static lb_status matmul_sgemm(const lb_dot_traits *dt, lb_type wtype, const uint8_t *w, uint64_t w_row, int64_t n_out,
                              int64_t n_in, const uint8_t *a, uint64_t a_row, int64_t n_rows, float *y, int nt)
{
    const lb_to_f32_fn w_to_f32 = lb_type_traits_of(wtype)->to_f32;
    float *xd = lb_malloc((size_t)(n_rows * n_in) * sizeof(float), "matmul activations");
    float *tiles = lb_malloc((size_t)nt * SGEMM_TILE_ROWS * (size_t)n_in * sizeof(float), "matmul weight tiles");
    if (!xd || !tiles) {
        free(xd);
        free(tiles);
        return LB_ERR_NOMEM;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < n_rows; r++) lb_matmul_act_to_f32(dt->vec_dot_type, a + (uint64_t)r * a_row, xd + r * n_in, n_in);
    const int64_t n_tiles = (n_out + SGEMM_TILE_ROWS - 1) / SGEMM_TILE_ROWS;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t t = 0; t < n_tiles; t++) {
        float *wt = tiles + (size_t)omp_get_thread_num() * SGEMM_TILE_ROWS * (size_t)n_in;
        int64_t o0 = t * SGEMM_TILE_ROWS, no = n_out - o0 < SGEMM_TILE_ROWS ? n_out - o0 : SGEMM_TILE_ROWS;
        for (int64_t o = 0; o < no; o++) w_to_f32(w + (uint64_t)(o0 + o) * w_row, wt + o * n_in, n_in);
        /* inside the parallel region OpenBLAS (OpenMP build) runs on this thread alone */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_rows, (int)no, (int)n_in, 1.0f, xd, (int)n_in, wt,
                    (int)n_in, 0.0f, y + o0, (int)n_out);
    }
    free(xd);
    free(tiles);
    return LB_OK;
}

int64_t lb_matmul_sgemm_min_rows(lb_type wtype)
{
    return wtype == LB_TYPE_Q6_K || wtype == LB_TYPE_IQ4_XS || wtype == LB_TYPE_IQ4_NL ? 64 : 32;
}

lb_matmul_path lb_matmul_path_of(lb_type wtype, int64_t n_rows)
{
    static int forced = -1; /* LOWBIT_MATMUL=dot|sgemm (benchmarks and tests) */
    if (forced < 0) {
        const char *e = getenv("LOWBIT_MATMUL");
        forced = e && !strcmp(e, "dot") ? LB_MATMUL_DOT : e && !strcmp(e, "sgemm") ? LB_MATMUL_SGEMM : 2;
    }
    if (forced != 2) return (lb_matmul_path)forced;
    const lb_type_traits *tt = lb_type_traits_of(wtype);
    return n_rows >= lb_matmul_sgemm_min_rows(wtype) && tt && tt->to_f32 ? LB_MATMUL_SGEMM : LB_MATMUL_DOT;
}

lb_status lb_matmul_q_with(const lb_dot_traits *dt, lb_type wtype, const void *W, int64_t n_out, int64_t n_in,
                           const float *x, int64_t n_rows, float *y, void *act, int n_threads)
{
    return lb_matmul_q_path(dt, wtype, W, n_out, n_in, x, n_rows, y, act, n_threads,
                            lb_matmul_path_of(wtype, n_rows));
}

lb_status lb_matmul_q_path(const lb_dot_traits *dt, lb_type wtype, const void *W, int64_t n_out, int64_t n_in,
                           const float *x, int64_t n_rows, float *y, void *act, int n_threads, lb_matmul_path path)
{
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
    const int64_t tile_o = w_row >= TILE_W_BYTES ? 1 : (int64_t)(TILE_W_BYTES / w_row);
    const int64_t tile_r = a_row >= TILE_A_BYTES ? 1 : (int64_t)(TILE_A_BYTES / a_row);

    /* activations: one quantized row per input row, each written by one thread */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && n_rows > 1)
    for (int64_t r = 0; r < n_rows; r++) dt->quantize_act(x + r * n_in, a + (uint64_t)r * a_row, n_in);
    if (path == LB_MATMUL_SGEMM && lb_type_traits_of(wtype)->to_f32)
        return matmul_sgemm(dt, wtype, w, w_row, n_out, n_in, a, a_row, n_rows, y, n_threads);

    /* each thread one contiguous range of output rows, tiled (see TILE_*) */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int64_t n_thr = omp_get_num_threads(), ith = omp_get_thread_num();
        const int64_t o_begin = n_out * ith / n_thr, o_end = n_out * (ith + 1) / n_thr;
        for (int64_t r0 = 0; r0 < n_rows; r0 += tile_r) {
            const int64_t r1 = r0 + tile_r < n_rows ? r0 + tile_r : n_rows;
            for (int64_t o0 = o_begin; o0 < o_end; o0 += tile_o) {
                const int64_t o1 = o0 + tile_o < o_end ? o0 + tile_o : o_end;
                for (int64_t r = r0; r < r1; r++) {
                    const uint8_t *ar = a + (uint64_t)r * a_row;
                    float *yr = y + r * n_out;
                    for (int64_t o = o0; o < o1; o++) dt->vec_dot(n_in, &yr[o], w + (uint64_t)o * w_row, ar);
                }
            }
        }
    }
    return LB_OK;
}

lb_status lb_matmul_q(lb_type wtype, const void *W, int64_t n_out, int64_t n_in, const float *x, int64_t n_rows,
                      float *y, void *act, int n_threads)
{
    return lb_matmul_q_with(lb_dot_traits_of(wtype), wtype, W, n_out, n_in, x, n_rows, y, act, n_threads);
}
