/* Where prompt batches should leave the integer dot products for sgemm: lb_matmul_q_path with
 * LB_MATMUL_DOT and LB_MATMUL_SGEMM on the same weights and activations, for row counts 1 ..
 * 512, prints milliseconds per product and the faster path. lb_matmul_sgemm_min_rows
 * (src/kernels/matmul.c) is set from this table. Not run by ctest.
 * Usage: build/matmul_path [threads] (default 2). */
#include "kernels/ref/vec_dot.h"
#include "quant/quantize.h"
#include "quant/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double best_ms(const lb_dot_traits *dt, lb_type t, const void *W, int64_t n_out, int64_t n_in, const float *x,
                      int64_t rows, float *y, void *act, int thr, lb_matmul_path path)
{
    lb_matmul_q_path(dt, t, W, n_out, n_in, x, rows, y, act, thr, path); /* warm */
    double best = 1e30, spent = 0;
    for (int rep = 0; rep < 50 && (spent < 0.25 || rep < 2); rep++) {
        double t0 = now();
        lb_matmul_q_path(dt, t, W, n_out, n_in, x, rows, y, act, thr, path);
        double d = now() - t0;
        spent += d;
        if (d < best) best = d;
    }
    return best * 1e3;
}

int main(int argc, char **argv)
{
    const int thr = argc > 1 ? atoi(argv[1]) : 2;
    const lb_type types[] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q8_0, LB_TYPE_Q4_K, LB_TYPE_Q6_K, LB_TYPE_IQ4_XS};
    const int64_t shapes[][2] = {{4096, 4096}, {1536, 576}};
    const int64_t rows_list[] = {1, 2, 4, 8, 16, 32, 64, 128, 512};
    printf("ms per product, %d threads\n", thr);
    printf("%-7s %-10s", "type", "shape");
    for (size_t r = 0; r < sizeof rows_list / sizeof rows_list[0]; r++) printf(" %13lld", (long long)rows_list[r]);
    printf("\n");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n_out = shapes[si][0], n_in = shapes[si][1];
        float *wf = malloc(sizeof(float) * (size_t)(n_out * n_in));
        for (int64_t i = 0; i < n_out * n_in; i++) wf[i] = (float)((i * 2654435761u) % 2001) * 1e-3f - 1.0f;
        const int64_t max_rows = 512;
        float *x = malloc(sizeof(float) * (size_t)(max_rows * n_in)), *y = malloc(sizeof(float) * (size_t)(max_rows * n_out));
        for (int64_t i = 0; i < max_rows * n_in; i++) x[i] = (float)((i * 40503u) % 997) * 1e-3f - 0.5f;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const lb_type t = types[ti];
            uint64_t wrow;
            if (!lb_type_nbytes(t, (uint64_t)n_in, &wrow)) continue;
            void *W = malloc(wrow * (uint64_t)n_out);
            if (lb_quantize_rows(t, wf, W, n_out, n_in, NULL, "bench")) return 1;
            void *act = malloc(lb_matmul_act_bytes(t, max_rows, n_in));
            const lb_dot_traits *dt = lb_dot_traits_of(t);
            char shape[24];
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)n_out, (long long)n_in);
            printf("%-7s %-10s", lb_type_traits_of(t)->name, shape);
            printf(" (sgemm from %lld rows)", (long long)lb_matmul_sgemm_min_rows(t));
            for (size_t r = 0; r < sizeof rows_list / sizeof rows_list[0]; r++) {
                double d = best_ms(dt, t, W, n_out, n_in, x, rows_list[r], y, act, thr, LB_MATMUL_DOT);
                double s = best_ms(dt, t, W, n_out, n_in, x, rows_list[r], y, act, thr, LB_MATMUL_SGEMM);
                printf(" %5.2f/%5.2f%c", d, s, s < d ? 'S' : 'D');
            }
            printf("\n");
            fflush(stdout);
            free(W);
            free(act);
        }
        free(wf);
        free(x);
        free(y);
    }
    printf("(dot ms / sgemm ms, then the faster: D = integer dots, S = sgemm)\n");
    return 0;
}
