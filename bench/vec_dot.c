/* Quantized matmul throughput per kernel set: lb_matmul_q_with on every weight type with a SIMD
 * twin (the default model's Q4_1 and Q8_0, and Q4_0, Q4_K, Q5_K, Q6_K, IQ4_XS), reference vs
 * AVX2 vs AVX-512 kernels, 1 and 2 threads, 1 activation row (decode: one pass over the
 * weights, memory bound) and 512 (prefill: each weight byte reused 512 times, compute bound),
 * on 4096x4096, SmolLM2's 1536x576 (ffn_gate/up; not whole 256-blocks, so no k-quants) and its
 * 576x1536 (ffn_down, the one SmolLM2 shape k-quants fit). Prints GB/s of weight bytes per
 * matmul (weight bytes / seconds) and GMAC/s, next to a measured read bandwidth of this
 * machine; a set that has no kernel of its own for a type prints "(= lower set)". Not run by
 * ctest. Usage: build/vec_dot [--all] (--all also times the reference kernels on 4096x4096 x
 * 512, about a minute each). */
#include "kernels/ref/vec_dot.h"
#include "quant/types.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Random blocks with small positive f16 scales (the speed of these kernels does not depend on
 * the values; random scale bits could be Inf/NaN). */
static uint8_t *make_weights(lb_type t, int64_t n_out, int64_t n_in, uint64_t wrow, uint64_t *rng)
{
    const lb_type_traits *tt = lb_type_traits_of(t);
    const int64_t n_blocks = n_out * n_in / tt->block_size;
    /* byte offsets of the f16 scale fields (blocks.h), -1 for none */
    int off[2] = {0, -1};
    if (t == LB_TYPE_Q4_1 || t == LB_TYPE_Q4_K || t == LB_TYPE_Q5_K) off[1] = 2;
    if (t == LB_TYPE_Q6_K) off[0] = 208;
    uint8_t *w = malloc(wrow * (uint64_t)n_out);
    for (int64_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = w + b * (int64_t)tt->type_size;
        for (size_t j = 0; j < tt->type_size; j++) blk[j] = (uint8_t)rng_next(rng);
        for (int k = 0; k < 2; k++) {
            if (off[k] < 0) continue;
            const uint16_t h = lb_f32_to_f16((float)(rng_next(rng) % 1000 + 1) * 1e-5f);
            memcpy(blk + off[k], &h, 2);
        }
    }
    return w;
}

/* Read bandwidth: 2 threads summing a 512 MiB buffer, best of 3. */
static double mem_bandwidth(void)
{
    const size_t n = (512u << 20) / 8;
    uint64_t *buf = malloc(n * 8);
    for (size_t i = 0; i < n; i++) buf[i] = i;
    double best = 0;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = now();
        uint64_t total = 0;
#pragma omp parallel for num_threads(2) reduction(+ : total) schedule(static)
        for (size_t i = 0; i < n; i += 4) total += buf[i] + buf[i + 1] + buf[i + 2] + buf[i + 3];
        const double dt = now() - t0;
        sink += total;
        if (n * 8 / dt > best) best = (double)n * 8 / dt;
    }
    (void)sink;
    free(buf);
    return best / 1e9;
}

int main(int argc, char **argv)
{
    const bool all = argc > 1 && strcmp(argv[1], "--all") == 0;
    /* the kernels are timed: every row count on the integer dot path, never lb_matmul_q's
     * sgemm path for prompt batches (LOWBIT_MATMUL is read at first use) */
    setenv("LOWBIT_MATMUL", "dot", 1);
    const lb_type types[] = {LB_TYPE_Q4_1, LB_TYPE_Q8_0, LB_TYPE_Q4_0, LB_TYPE_Q4_K,
                             LB_TYPE_Q5_K, LB_TYPE_Q6_K, LB_TYPE_IQ4_XS};
    const int64_t shapes[][2] = {{4096, 4096}, {1536, 576}, {576, 1536}}; /* n_out, n_in */
    const int64_t rows_list[] = {1, 512};
    uint64_t rng = 42;

    printf("memory read bandwidth (2 threads, 512 MiB): %.1f GB/s\n", mem_bandwidth());
    printf("kernel sets on this CPU:");
    for (int isa = 0; isa < LB_KERNEL_ISA_COUNT; isa++)
        printf(" %s%s", lb_kernel_isa_name((lb_kernel_isa)isa), lb_kernel_isa_supported((lb_kernel_isa)isa) ? "" : "(no)");
    printf("\nGB/s = weight bytes / seconds per matmul; GMAC = n_out*n_in*rows / seconds / 1e9\n\n");
    printf("%-5s %-10s %4s %3s | %-22s | %-22s | %-22s\n", "type", "shape", "rows", "thr", "ref GB/s  GMAC/s",
           "avx2 GB/s  GMAC/s", "avx512 GB/s  GMAC/s");

    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n_out = shapes[si][0], n_in = shapes[si][1];
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const lb_type t = types[ti];
            uint64_t wrow = 0;
            if (!lb_type_nbytes(t, (uint64_t)n_in, &wrow)) continue;
            uint8_t *W = make_weights(t, n_out, n_in, wrow, &rng);
            const double wbytes = (double)wrow * (double)n_out;
            for (size_t ri = 0; ri < 2; ri++) {
                const int64_t n_rows = rows_list[ri];
                float *x = malloc(sizeof(float) * (size_t)(n_rows * n_in));
                float *y = malloc(sizeof(float) * (size_t)(n_rows * n_out));
                for (int64_t i = 0; i < n_rows * n_in; i++) x[i] = (float)((int64_t)rng_next(&rng) % 2001 - 1000) * 1e-3f;
                void *act = malloc(lb_matmul_act_bytes(t, n_rows, n_in));
                for (int thr = 1; thr <= 2; thr++) {
                    char shape[16];
                    snprintf(shape, sizeof shape, "%lldx%lld", (long long)n_out, (long long)n_in);
                    printf("%-5s %-10s %4lld %3d |", lb_type_traits_of(t)->name, shape, (long long)n_rows, thr);
                    for (int isa = 0; isa < LB_KERNEL_ISA_COUNT; isa++) {
                        const lb_dot_traits *dt = lb_dot_traits_isa_of(t, (lb_kernel_isa)isa);
                        const double macs = (double)n_out * (double)n_in * (double)n_rows;
                        const bool too_slow = isa == LB_KERNEL_REF && macs > 1e9 && !all;
                        /* a set without its own kernel for t hands out the lower set's: not timed twice */
                        if (!dt || !lb_kernel_isa_supported((lb_kernel_isa)isa) || too_slow ||
                            (isa > 0 && dt->vec_dot == lb_dot_traits_isa_of(t, (lb_kernel_isa)(isa - 1))->vec_dot)) {
                            printf(" %-22s |", too_slow ? "(skipped, --all)" : isa > 0 && dt ? "(= lower set)" : "-");
                            continue;
                        }
                        /* warm up once, then repeat to >= 0.3 s and keep the best run */
                        lb_matmul_q_with(dt, t, W, n_out, n_in, x, n_rows, y, act, thr);
                        double best = 1e30, spent = 0;
                        for (int rep = 0; rep < 200 && (spent < 0.3 || rep < 2); rep++) {
                            const double t0 = now();
                            lb_matmul_q_with(dt, t, W, n_out, n_in, x, n_rows, y, act, thr);
                            const double dtime = now() - t0;
                            spent += dtime;
                            if (dtime < best) best = dtime;
                        }
                        printf(" %8.3f  %9.2f    |", wbytes / best / 1e9, macs / best / 1e9);
                    }
                    printf("\n");
                    fflush(stdout);
                }
                free(x);
                free(y);
                free(act);
            }
            free(W);
        }
    }
    return 0;
}
