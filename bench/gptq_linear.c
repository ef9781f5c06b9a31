/* GPTQ speed on one linear layer, split into its three costs, in GFLOP/s next to this machine's
 * OpenBLAS dgemm/sgemm peak measured by the same run on the same thread count:
 *
 *   hessian     lb_hessian_accumulate over `tokens` synthetic activation rows (f64 dsyrk)
 *   hinv        lb_gptq_hinv (Cholesky, inverse, Cholesky of the inverse) on a copy of H
 *   loop        lb_gptq_quantize minus hinv: the column walk (rounding, in-block updates,
 *               the lazy-batch sgemm, group fits) plus O(cols^2) setup
 *
 * Default shapes (rows x cols = out x in): 4096x4096 (a q/o projection, H 4096^2 = 134 MB) and
 * 4096x14336 (a Llama-3-8B down_proj, H 14336^2 f64 = 1.64 GB), 65536 calibration tokens, Q4_K.
 * The activations X [tokens][cols] are never held whole (65536 x 14336 f32 is 3.7 GB): they are
 * generated --chunk rows at a time and accumulated into H chunk by chunk; only the
 * lb_hessian_accumulate calls are timed. X is gaussian times a per-channel scale (log-normal,
 * sigma 0.3) with cols/512 outlier channels (at least 1) scaled x20-x50, as real post-norm LLM
 * inputs have; W is gaussian (sigma 0.02). Every row has its own seeded stream, so the data do
 * not depend on --threads or --chunk. The speed of dsyrk, the Cholesky chain (as long as it takes
 * its first step) and the walk does not depend on the values; the type's group fits do a little.
 *
 * FLOP conventions (a multiply-add = 2 FLOPs; leading terms, as LAPACK Working Note 41 counts):
 *   hessian  tokens * cols * (cols + 1): dsyrk forms the n (n + 1) / 2 entries of the upper
 *            triangle (diagonal included), each a k-term dot product, k = tokens, n = cols.
 *   hinv     2/3 cols^3: dpotrf n^3/3 + dtrtri n^3/3 (src/algo/hinv.c: the factor of the reversed matrix).
 *            Only meaningful when the chain stopped at its first step (printed as "cholesky").
 *   loop     rows * cols * (cols - 1): GPTQ pushes column j's scaled error into every later
 *            column t > j of the same row (w_t -= e_j U_jt, U upper triangular), one
 *            multiply-add per (row, j, t) pair: 2 * rows * cols (cols - 1) / 2. The pairs
 *            inside a lazy block (bs (bs - 1) / 2 per block and row) are the scalar in-block
 *            updates, all others the per-block sgemm; rounding and group fits are not counted.
 *            (The often quoted "2 rows cols^2" counts the full square, not the triangle.)
 * Peaks: cblas_dgemm / cblas_sgemm on --peak-n square matrices (default 4096), 2 n^3 FLOPs,
 * best of 3. hessian and hinv are f64 BLAS-3/LAPACK work, compared with dgemm; the loop's GEMM is
 * f32, compared with sgemm.
 *
 * Not run by ctest. Usage: build/gptq_linear [--rows R --cols C] [--tokens N] [--type T]
 * [--threads N] [--repeat N] [--act-order] [--block-size N] [--chunk N] [--peak-n N] [--seed S]
 * [--json]. T: a GGUF block type (Q4_K, Q6_K, Q8_0, ...) or INT<b>[-g<group>] (symmetric group-wise
 * INT-N, group 128 by default; g-1 = whole row). */
#include "algo/gptq.h"
#include "calib/hessian.h"
#include "quant/grid.h"
#include "quant/types.h"

#include <cblas.h>
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPEAT 15
#define PEAK_TRIES 3

typedef struct options {
    int64_t rows, cols; /* 0, 0: both default shapes */
    int64_t tokens, chunk, block_size, peak_n;
    int threads, repeat;
    bool act_order, json;
    uint64_t seed;
    char type_name[32];
    lb_grid_spec spec;
} options;

typedef struct shape_result {
    int64_t rows, cols;
    double gen_s;                           /* generating X (not timed in any phase) */
    double hessian_s, symmetrize_s, hinv_s, quantize_s, loop_s; /* medians over the repeats */
    double hessian_gflop, hinv_gflop, loop_gflop;
    lb_gptq_report rep;
} shape_result;

// ---- data ----

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) /* (0, 1) */
{
    return ((double)(splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* n gaussian values (Box-Muller, both outputs), times scale[i] (or 1 when NULL) and sigma. */
static void gauss_row(float *out, int64_t n, uint64_t state, const float *scale, float sigma)
{
    for (int64_t i = 0; i < n; i += 2) {
        const double r = sqrt(-2.0 * log(unit(&state))), a = 6.283185307179586 * unit(&state);
        out[i] = sigma * (scale ? scale[i] : 1.0f) * (float)(r * cos(a));
        if (i + 1 < n) out[i + 1] = sigma * (scale ? scale[i + 1] : 1.0f) * (float)(r * sin(a));
    }
}

static uint64_t row_seed(uint64_t seed, uint64_t tag, int64_t row)
{
    uint64_t s = seed ^ (tag * 0xD1B54A32D192ED03ull) ^ ((uint64_t)row * 0x9E3779B97F4A7C15ull);
    return splitmix64(&s);
}

/* Per-channel scales of X: log-normal(0, 0.3), and cols/512 (>= 1) outlier channels x20-x50. */
static void channel_scales(float *scale, int64_t cols, uint64_t seed)
{
    uint64_t s = row_seed(seed, 3, 0);
    gauss_row(scale, cols, s, NULL, 0.3f);
    for (int64_t c = 0; c < cols; c++) scale[c] = expf(scale[c]);
    const int64_t n_out = cols / 512 > 0 ? cols / 512 : 1;
    for (int64_t k = 0; k < n_out; k++) {
        const int64_t c = (int64_t)(splitmix64(&s) % (uint64_t)cols);
        scale[c] *= (float)(20.0 + 30.0 * unit(&s));
    }
}

/* X rows [t0, t0 + m) into x[m][cols]. */
static void gen_x(float *x, int64_t t0, int64_t m, int64_t cols, const float *scale, uint64_t seed, int nt)
{
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < m; r++) gauss_row(x + r * cols, cols, row_seed(seed, 1, t0 + r), scale, 1.0f);
}

// ---- timing ----

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xmalloc(size_t n, const char *what)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "gptq_linear: out of memory for %s (%.2f GB)\n", what, (double)n / 1e9);
        exit(1);
    }
    return p;
}

static void check(lb_status st, const char *what)
{
    if (st) {
        fprintf(stderr, "gptq_linear: %s: %s: %s\n", what, lb_status_name(st), lb_errmsg());
        exit(1);
    }
}

/* Best-of-PEAK_TRIES GFLOP/s of C = A B on n x n matrices, f64 or f32. */
static double gemm_peak(int64_t n, bool f64)
{
    const size_t nn = (size_t)n * (size_t)n, es = f64 ? sizeof(double) : sizeof(float);
    void *a = xmalloc(nn * es, "gemm A"), *b = xmalloc(nn * es, "gemm B"), *c = xmalloc(nn * es, "gemm C");
    uint64_t s = 7;
    for (size_t i = 0; i < nn; i++) {
        const double va = unit(&s) - 0.5, vb = unit(&s) - 0.5;
        if (f64)
            ((double *)a)[i] = va, ((double *)b)[i] = vb, ((double *)c)[i] = 0.0;
        else
            ((float *)a)[i] = (float)va, ((float *)b)[i] = (float)vb, ((float *)c)[i] = 0.0f;
    }
    double best = 1e300;
    for (int k = 0; k < PEAK_TRIES; k++) {
        const double t0 = lb_now_s();
        if (f64)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, a, (int)n, b, (int)n,
                        0.0, c, (int)n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n,
                        0.0f, c, (int)n);
        const double dt = lb_now_s() - t0;
        if (dt < best) best = dt;
    }
    free(a), free(b), free(c);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

// ---- one shape ----

static shape_result run_shape(const options *o, int64_t rows, int64_t cols)
{
    shape_result res = {.rows = rows, .cols = cols};
    const int64_t chunk = o->chunk < o->tokens ? o->chunk : o->tokens;
    const size_t hn = (size_t)cols * (size_t)cols, wn = (size_t)rows * (size_t)cols;
    double *H = xmalloc(hn * sizeof(double), "Hessian");
    double *Hw = xmalloc(hn * sizeof(double), "Hessian copy");
    double *scratch = xmalloc((size_t)LB_HESSIAN_CHUNK * (size_t)cols * sizeof(double), "Hessian scratch");
    float *x = xmalloc((size_t)chunk * (size_t)cols * sizeof(float), "activation chunk");
    float *scale = xmalloc((size_t)cols * sizeof(float), "channel scales");
    float *W0 = xmalloc(wn * sizeof(float), "weights"), *W = xmalloc(wn * sizeof(float), "weights copy");
    channel_scales(scale, cols, o->seed);
#pragma omp parallel for num_threads(o->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) gauss_row(W0 + r * cols, cols, row_seed(o->seed, 2, r), NULL, 0.02f);

    const lb_gptq_params gp = {.block_size = o->block_size, .act_order = o->act_order,
                               .static_groups = o->act_order, .importance = true}; /* as the pipeline */
    double t_hess[MAX_REPEAT], t_sym[MAX_REPEAT], t_hinv[MAX_REPEAT], t_quant[MAX_REPEAT], t_loop[MAX_REPEAT];
    for (int rep = 0; rep < o->repeat; rep++) {
        memset(H, 0, hn * sizeof(double));
        double th = 0.0, tg = 0.0;
        for (int64_t t0 = 0; t0 < o->tokens; t0 += chunk) {
            const int64_t m = o->tokens - t0 < chunk ? o->tokens - t0 : chunk;
            double t = lb_now_s();
            gen_x(x, t0, m, cols, scale, o->seed, o->threads);
            tg += lb_now_s() - t;
            t = lb_now_s();
            check(lb_hessian_accumulate(H, x, m, cols, scratch), "hessian");
            th += lb_now_s() - t;
        }
        res.gen_s = tg;
        t_hess[rep] = th;
        double t = lb_now_s();
        lb_hessian_symmetrize(H, cols);
        t_sym[rep] = lb_now_s() - t;

        memcpy(Hw, H, hn * sizeof(double)); /* also faults the pages in before the clock starts */
        lb_gptq_report hr = {0};
        t = lb_now_s();
        check(lb_gptq_hinv(Hw, cols, &gp, "bench", &hr), "hinv");
        t_hinv[rep] = lb_now_s() - t;

        memcpy(Hw, H, hn * sizeof(double));
        memcpy(W, W0, wn * sizeof(float));
        lb_grid *grid = NULL;
        check(lb_grid_create(&o->spec, rows, cols, &grid), "grid");
        t = lb_now_s();
        check(lb_gptq_quantize("bench", W, rows, cols, Hw, grid, &gp, o->threads, &res.rep), "gptq");
        t_quant[rep] = lb_now_s() - t;
        lb_grid_free(grid);
        t_loop[rep] = t_quant[rep] - t_hinv[rep];
        if (!o->json)
            fprintf(stderr, "  %lldx%lld repeat %d: gen %.2f s, hessian %.2f s, hinv %.2f s, quantize %.2f s\n",
                    (long long)rows, (long long)cols, rep + 1, tg, th, t_hinv[rep], t_quant[rep]);
    }
    res.hessian_s = median(t_hess, o->repeat);
    res.symmetrize_s = median(t_sym, o->repeat);
    res.hinv_s = median(t_hinv, o->repeat);
    res.quantize_s = median(t_quant, o->repeat);
    res.loop_s = median(t_loop, o->repeat);
    const double n = (double)cols;
    res.hessian_gflop = (double)o->tokens * n * (n + 1.0) / 1e9;
    res.hinv_gflop = 2.0 / 3.0 * n * n * n / 1e9;
    res.loop_gflop = (double)rows * n * (n - 1.0) / 1e9;
    free(H), free(Hw), free(scratch), free(x), free(scale), free(W0), free(W);
    return res;
}

// ---- output ----

static const char *HINV_NAMES[] = {"cholesky", "damped", "ldlt", "eigen"};

static void print_table(const options *o, const shape_result *r, int n_shapes, double dpeak, double speak)
{
    printf("gptq_linear: %s, %d threads, %lld tokens, block %lld, act_order %s, %s of %d\n", o->type_name,
           o->threads, (long long)o->tokens, (long long)o->block_size, o->act_order ? "on" : "off",
           o->repeat > 1 ? "median" : "one run", o->repeat);
    printf("%s\n", openblas_get_config());
    if (o->peak_n > 0)
        printf("peak (%lld^3, best of %d): dgemm %.1f GFLOP/s, sgemm %.1f GFLOP/s\n", (long long)o->peak_n, PEAK_TRIES,
               dpeak, speak);
    for (int i = 0; i < n_shapes; i++) {
        const shape_result *s = &r[i];
        printf("\n%lld x %lld (rows x cols = out x in), H %.2f GB; hinv %s, damp %.3g; GPTQ loss %.4g\n",
               (long long)s->rows, (long long)s->cols, (double)s->cols * (double)s->cols * 8.0 / 1e9,
               HINV_NAMES[s->rep.method], s->rep.damp, s->rep.loss);
        printf("%-12s %9s %9s %9s %8s\n", "phase", "seconds", "GFLOP", "GFLOP/s", "of peak");
        const struct { const char *name; double sec, gflop, peak; const char *pk; } rows[] = {
            {"hessian", s->hessian_s, s->hessian_gflop, dpeak, "dgemm"},
            {"hinv", s->hinv_s, s->hinv_gflop, dpeak, "dgemm"},
            {"loop", s->loop_s, s->loop_gflop, speak, "sgemm"},
        };
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
            const double gfs = rows[k].sec > 0 ? rows[k].gflop / rows[k].sec : 0.0;
            printf("%-12s %9.3f %9.1f %9.1f", rows[k].name, rows[k].sec, rows[k].gflop, gfs);
            if (rows[k].peak > 0) printf("  %4.0f%% %s", 100.0 * gfs / rows[k].peak, rows[k].pk);
            printf("\n");
        }
        printf("%-12s %9.3f   (symmetrize, not in hessian)\n", "symmetrize", s->symmetrize_s);
        printf("%-12s %9.3f   (lb_gptq_quantize = hinv + loop)\n", "gptq total", s->quantize_s);
        printf("%-12s %9.3f   (hessian + symmetrize + gptq total)\n", "linear", s->hessian_s + s->symmetrize_s +
               s->quantize_s);
    }
}

static void print_json(const options *o, const shape_result *r, int n_shapes, double dpeak, double speak)
{
    printf("{\"bench\": \"gptq_linear\", \"type\": \"%s\", \"threads\": %d, \"tokens\": %lld, \"block_size\": %lld, "
           "\"act_order\": %s, \"repeat\": %d,\n",
           o->type_name, o->threads, (long long)o->tokens, (long long)o->block_size, o->act_order ? "true" : "false",
           o->repeat);
    printf(" \"blas\": \"%s\", \"peak_n\": %lld, \"dgemm_gflops\": %.2f, \"sgemm_gflops\": %.2f,\n",
           openblas_get_config(), (long long)o->peak_n, dpeak, speak);
    printf(" \"flops\": {\"hessian\": \"tokens*cols*(cols+1)\", \"hinv\": \"2/3*cols^3\", "
           "\"loop\": \"rows*cols*(cols-1)\"},\n \"shapes\": [");
    for (int i = 0; i < n_shapes; i++) {
        const shape_result *s = &r[i];
        printf("%s\n  {\"rows\": %lld, \"cols\": %lld, \"hessian_s\": %.4f, \"hessian_gflop\": %.2f, "
               "\"hessian_gflops\": %.2f, \"symmetrize_s\": %.4f, \"hinv_s\": %.4f, \"hinv_gflop\": %.2f, "
               "\"hinv_gflops\": %.2f, \"quantize_s\": %.4f, \"loop_s\": %.4f, \"loop_gflop\": %.2f, "
               "\"loop_gflops\": %.2f, \"hinv_method\": \"%s\", \"damp\": %g, \"loss\": %g, \"gen_s\": %.3f}",
               i ? "," : "", (long long)s->rows, (long long)s->cols, s->hessian_s, s->hessian_gflop,
               s->hessian_s > 0 ? s->hessian_gflop / s->hessian_s : 0.0, s->symmetrize_s, s->hinv_s, s->hinv_gflop,
               s->hinv_s > 0 ? s->hinv_gflop / s->hinv_s : 0.0, s->quantize_s, s->loop_s, s->loop_gflop,
               s->loop_s > 0 ? s->loop_gflop / s->loop_s : 0.0, HINV_NAMES[s->rep.method], s->rep.damp, s->rep.loss,
               s->gen_s);
    }
    printf("\n ]}\n");
}

// ---- options ----

static void usage(void)
{
    fprintf(stderr, "usage: gptq_linear [--rows R --cols C] [--tokens N] [--type Q4_K|INT4-g128|...] [--threads N]\n"
                    "                   [--repeat N] [--act-order] [--block-size N] [--chunk N] [--peak-n N]\n"
                    "                   [--seed S] [--json]\n"
                    "default: shapes 4096x4096 and 4096x14336, 65536 tokens, Q4_K, all cores, 1 repeat\n");
    exit(2);
}

static int64_t int_arg(int argc, char **argv, int *i, int64_t lo)
{
    if (*i + 1 >= argc) usage();
    char *end;
    const long long v = strtoll(argv[++*i], &end, 10);
    if (*end || v < lo) {
        fprintf(stderr, "gptq_linear: bad value '%s' for %s\n", argv[*i], argv[*i - 1]);
        exit(2);
    }
    return v;
}

/* GGUF block type name, or INT<bits>[-g<group>] (case-insensitive, symmetric). */
static bool parse_type(const char *s, lb_grid_spec *spec, char *name, size_t name_len)
{
    memset(spec, 0, sizeof *spec);
    if (lb_type_from_name(s, &spec->type)) {
        snprintf(name, name_len, "%s", s);
        return true;
    }
    if (toupper((unsigned char)s[0]) != 'I' || toupper((unsigned char)s[1]) != 'N' ||
        toupper((unsigned char)s[2]) != 'T')
        return false;
    char *end;
    const long bits = strtol(s + 3, &end, 10);
    long group = 128;
    if (*end == '-' && tolower((unsigned char)end[1]) == 'g') group = strtol(end + 2, &end, 10);
    if (*end || bits < 2 || bits > 8 || (group != -1 && group < 1)) return false;
    spec->intn = (lb_intn_params){.bits = (int)bits, .group_size = group, .sym = true};
    snprintf(name, name_len, "INT%ld-g%ld", bits, group);
    return true;
}

int main(int argc, char **argv)
{
    options o = {.tokens = 65536, .chunk = 2048, .block_size = 128, .peak_n = 4096, .threads = lb_n_cores(),
                 .repeat = 1, .seed = 42};
    const char *type = "Q4_K";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--rows")) o.rows = int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--cols")) o.cols = int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--tokens")) o.tokens = int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--chunk")) o.chunk = int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--block-size")) o.block_size = int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--peak-n")) o.peak_n = int_arg(argc, argv, &i, 0);
        else if (!strcmp(a, "--threads")) o.threads = (int)int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--repeat")) o.repeat = (int)int_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)int_arg(argc, argv, &i, 0);
        else if (!strcmp(a, "--act-order")) o.act_order = true;
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--type") && i + 1 < argc) type = argv[++i];
        else usage();
    }
    if (!parse_type(type, &o.spec, o.type_name, sizeof o.type_name)) {
        fprintf(stderr, "gptq_linear: unknown type '%s' (a GGUF block type like Q4_K, or INT4-g128)\n", type);
        return 2;
    }
    if (o.repeat > MAX_REPEAT) o.repeat = MAX_REPEAT;
    if (o.threads > 1024 || o.cols > (1 << 30) || o.rows > (1 << 30) || o.peak_n > (1 << 20)) usage();

    int64_t shapes[2][2] = {{4096, 4096}, {4096, 14336}};
    int n_shapes = 2;
    if (o.rows || o.cols) {
        shapes[0][0] = o.rows ? o.rows : 4096;
        shapes[0][1] = o.cols ? o.cols : 4096;
        n_shapes = 1;
    }

    /* BLAS (hessian, hinv, peaks) and our OpenMP loops (data, GPTQ rows) on the same count */
    omp_set_num_threads(o.threads);
    openblas_set_num_threads(o.threads);
    double dpeak = 0.0, speak = 0.0;
    if (o.peak_n > 0) {
        dpeak = gemm_peak(o.peak_n, true);
        speak = gemm_peak(o.peak_n, false);
        if (!o.json) fprintf(stderr, "  peak: dgemm %.1f, sgemm %.1f GFLOP/s\n", dpeak, speak);
    }
    shape_result res[2];
    for (int i = 0; i < n_shapes; i++) res[i] = run_shape(&o, shapes[i][0], shapes[i][1]);
    if (o.json)
        print_json(&o, res, n_shapes, dpeak, speak);
    else
        print_table(&o, res, n_shapes, dpeak, speak);
    return 0;
}
