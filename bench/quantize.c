/* Quantize throughput: lb_quantize_rows (the finite-value check plus the llama.cpp-exact row
 * quantizer, as `lowbit quantize` runs it) for every type lb_quantizer_of supports, without and
 * with an imatrix (per-column weights), 1 and 2 threads (rows split evenly across OpenMP
 * threads, one lb_quantize_rows call per thread), on a 4096x4096 gaussian matrix (fixed seed).
 * Prints MB/s of f32 input (rows * 4096 * 4 bytes / seconds, MB = 1e6 bytes), median of 3.
 * Types whose 1-thread pass over all 4096 rows would take more than ~0.4 s (estimated from a
 * 64-row probe) are timed on fewer rows (the "rows" column), so the whole run stays well
 * under two minutes. Not run by ctest. Usage: build/quantize [--full] (--full: always 4096 rows). */
#include "quant/quantize.h"
#include "quant/types.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ROWS 4096
#define N_COLS 4096
#define REPEAT 3
#define ROW_BUDGET_S 0.4 /* target seconds for one 1-thread pass when not --full */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 11;
}

static double rng_unit(uint64_t *s) /* (0, 1) */
{
    return ((double)rng_next(s) + 0.5) / 9007199254740992.0;
}

static float gauss(uint64_t *s) /* Box-Muller */
{
    return (float)(sqrt(-2.0 * log(rng_unit(s))) * cos(6.283185307179586 * rng_unit(s)));
}

/* Seconds to quantize n_rows rows with n_threads threads (each thread one contiguous chunk). */
static double time_once(lb_type t, const float *src, uint8_t *dst, size_t row_size, int64_t n_rows,
                        const float *imatrix, int n_threads)
{
    int failed = 0;
    const double t0 = now();
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        const int nt = omp_get_num_threads(), it = omp_get_thread_num();
        const int64_t r0 = n_rows * it / nt, r1 = n_rows * (it + 1) / nt;
        if (lb_quantize_rows(t, src + r0 * N_COLS, dst + (size_t)r0 * row_size, r1 - r0, N_COLS, imatrix, "bench"))
            failed = 1;
    }
    const double dt = now() - t0;
    if (failed) {
        fprintf(stderr, "quantize: lb_quantize_rows failed for %s\n", lb_type_traits_of(t)->name);
        exit(1);
    }
    return dt;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const bool full = argc > 1 && strcmp(argv[1], "--full") == 0;
    const lb_type types[] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q5_0, LB_TYPE_Q5_1, LB_TYPE_Q8_0, LB_TYPE_Q2_K,
                             LB_TYPE_Q3_K, LB_TYPE_Q4_K, LB_TYPE_Q5_K, LB_TYPE_Q6_K, LB_TYPE_IQ4_NL, LB_TYPE_IQ4_XS};
    uint64_t rng = 42;
    float *src = malloc(sizeof(float) * (size_t)N_ROWS * N_COLS);
    float *imatrix = malloc(sizeof(float) * N_COLS);
    for (size_t i = 0; i < (size_t)N_ROWS * N_COLS; i++) src[i] = gauss(&rng);
    /* an imatrix entry is a mean square of activations: positive, spread over a few decades */
    for (int c = 0; c < N_COLS; c++) imatrix[c] = (float)exp(2.0 * gauss(&rng));
    uint8_t *dst = malloc((size_t)N_ROWS * N_COLS * 2); /* more than any quantized type needs */
    const double t_start = now();

    printf("quantize throughput, %dx%d gaussian f32 (seed 42), MB/s of f32 input, median of %d\n", N_ROWS, N_COLS,
           REPEAT);
    printf("%-7s %5s | %10s %10s %6s | %10s %10s %6s\n", "type", "rows", "plain 1t", "plain 2t", "2t/1t", "imat 1t",
           "imat 2t", "2t/1t");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const lb_type t = types[ti];
        if (!lb_quantizer_of(t)) {
            printf("%-7s (no quantizer)\n", lb_type_traits_of(t)->name);
            continue;
        }
        uint64_t rs = 0;
        lb_type_nbytes(t, N_COLS, &rs);
        const size_t row_size = (size_t)rs;

        /* probe on 64 rows, the slower of plain/imatrix, to pick the row count */
        int64_t n_rows = N_ROWS;
        if (!full) {
            const double p0 = time_once(t, src, dst, row_size, 64, NULL, 1);
            const double p1 = time_once(t, src, dst, row_size, 64, imatrix, 1);
            const double per_row = (p0 > p1 ? p0 : p1) / 64;
            while (n_rows > 256 && per_row * (double)n_rows > ROW_BUDGET_S) n_rows /= 2;
        }
        double mbs[2][2];
        for (int im = 0; im < 2; im++) {
            for (int thr = 1; thr <= 2; thr++) {
                double ts[REPEAT];
                for (int rep = 0; rep < REPEAT; rep++)
                    ts[rep] = time_once(t, src, dst, row_size, n_rows, im ? imatrix : NULL, thr);
                qsort(ts, REPEAT, sizeof ts[0], cmp_double);
                mbs[im][thr - 1] = (double)n_rows * N_COLS * sizeof(float) / ts[REPEAT / 2] / 1e6;
            }
        }
        printf("%-7s %5lld | %10.1f %10.1f %6.2f | %10.1f %10.1f %6.2f\n", lb_type_traits_of(t)->name,
               (long long)n_rows, mbs[0][0], mbs[0][1], mbs[0][1] / mbs[0][0], mbs[1][0], mbs[1][1],
               mbs[1][1] / mbs[1][0]);
        fflush(stdout);
    }
    printf("total %.1f s\n", now() - t_start);
    free(src);
    free(imatrix);
    free(dst);
    return 0;
}
