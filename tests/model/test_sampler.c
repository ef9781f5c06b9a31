/* Sampler tests: the RNG against published/independent values, greedy and top_k=1 as argmax
 * with the lowest index on ties, reproducibility per seed, empirical frequencies against the
 * softmax computed here in double (chi-square and per-token 5-sigma bounds), and top-k/top-p
 * keeping exactly the sets computed by hand (and, on a 49152-token vocabulary, by a full sort). */
#include "model/sampler.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

// ---- helpers ----

/* Draws n tokens and counts them per id; returns false if any draw is out of range. */
static bool histogram(lb_sampler *s, const float *logits, int64_t n_vocab, int n, int64_t *count)
{
    memset(count, 0, (size_t)n_vocab * sizeof *count);
    for (int i = 0; i < n; i++) {
        int32_t t = lb_sample(s, logits);
        if (t < 0 || t >= n_vocab) return false;
        count[t]++;
    }
    return true;
}

/* Softmax of logits / temp over the ids where keep[i], in double. */
static void softmax_ref(const float *logits, const bool *keep, int64_t n, double temp, double *p)
{
    double mx = -INFINITY, z = 0;
    for (int64_t i = 0; i < n; i++)
        if (keep[i] && logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < n; i++) z += p[i] = keep[i] ? exp((logits[i] - mx) / temp) : 0;
    for (int64_t i = 0; i < n; i++) p[i] /= z;
}

/* Checks observed counts against probabilities: ids with p == 0 never drawn, every other id
 * within 5 standard deviations, and Pearson's chi-square below the 0.1% critical value. */
static void check_freq(const char *what, const int64_t *count, const double *p, int64_t n_vocab, int n)
{
    double chi2 = 0;
    int df = -1;
    for (int64_t i = 0; i < n_vocab; i++) {
        if (p[i] == 0) {
            CHECKF(count[i] == 0, "%s: id %lld has p=0 but was drawn %lld times", what, (long long)i,
                   (long long)count[i]);
            continue;
        }
        double e = p[i] * n, sd = sqrt(n * p[i] * (1 - p[i]));
        CHECKF(fabs(count[i] - e) <= 5 * sd + 1e-9, "%s: id %lld drawn %lld times, expected %.1f +/- %.1f", what,
               (long long)i, (long long)count[i], e, sd);
        chi2 += (count[i] - e) * (count[i] - e) / e;
        df++;
    }
    /* chi-square 0.999 quantiles for df = 1..6 */
    static const double crit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46};
    if (df >= 1 && df <= 6) CHECKF(chi2 < crit[df], "%s: chi2 = %.2f with %d dof (critical %.2f)", what, chi2, df, crit[df]);
    printf("  %s: chi2 = %.2f, %d dof\n", what, chi2, df);
}

// ---- random numbers ----

static void test_rng(void)
{
    /* splitmix64 from state 0: the reference values of Vigna's splitmix64.c, which fill the
     * xoshiro state for seed 0. */
    lb_rng r;
    lb_rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafull);
    CHECK(r.s[1] == 0x6e789e6aa1b965f4ull);
    CHECK(r.s[2] == 0x06c45d188009454full);
    CHECK(r.s[3] == 0xf88bb8a8724c81ecull);
    /* xoshiro256** outputs from that state (computed with an independent Python transcription of
     * the reference C code with arbitrary-precision integers masked to 64 bits). */
    static const uint64_t want[4] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull, 0x1a5f849d4933e6e0ull,
                                     0x6aa594f1262d2d2cull};
    for (int i = 0; i < 4; i++) {
        uint64_t got = lb_rng_next(&r);
        CHECKF(got == want[i], "xoshiro output %d: got %016llx want %016llx", i, (unsigned long long)got,
               (unsigned long long)want[i]);
    }
    lb_rng_seed(&r, 12345);
    double lo = 1, hi = 0, sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = lb_rng_uniform(&r);
        lo = u < lo ? u : lo, hi = u > hi ? u : hi, sum += u;
    }
    CHECKF(lo >= 0 && hi < 1, "uniform range [%g, %g]", lo, hi);
    /* mean of 1e5 uniforms: sd = sqrt(1/12/1e5) = 9.1e-4 */
    CHECKF(fabs(sum / 100000 - 0.5) < 5 * 9.1e-4, "uniform mean %g", sum / 100000);
}

// ---- parameters ----

static void test_params(void)
{
    lb_sampler s;
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = -1, .top_p = 1}, 10) == LB_ERR_ARG);
    CHECK(strstr(lb_errmsg(), "temperature") != NULL);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = NAN, .top_p = 1}, 10) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = INFINITY, .top_p = 1}, 10) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_k = -1, .top_p = 1}, 10) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = -0.1f}, 10) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = NAN}, 10) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = 1}, 0) == LB_ERR_ARG);
    CHECK(lb_sampler_init(&s, NULL, 10) == LB_ERR_ARG);
    lb_sampler_free(&s); /* zeroed after a failed init: safe */
    lb_sampler_free(NULL);
}

// ---- greedy ----

static void test_greedy(void)
{
    const float logits[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9999998f, -INFINITY};
    CHECK(lb_argmax(logits, 6) == 1); /* tie between ids 1 and 3: lowest index */
    const float nan_logits[3] = {0, NAN, 1};
    CHECK(lb_argmax(nan_logits, 3) == -1);

    lb_sampler s;
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 0, .top_p = 1, .seed = 1}, 6) == LB_OK);
    int ok = 0;
    for (int i = 0; i < 100; i++) ok += lb_sample(&s, logits) == 1;
    CHECKF(ok == 100, "greedy: %d of 100 draws were the argmax", ok);
    lb_sampler_free(&s);

    /* top_k = 1 is greedy at any temperature and with any top_p */
    const float temps[3] = {0.5f, 1.0f, 5.0f};
    for (int t = 0; t < 3; t++) {
        CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = temps[t], .top_k = 1, .top_p = 0.5f, .seed = 7 + t}, 6) ==
              LB_OK);
        ok = 0;
        for (int i = 0; i < 200; i++) ok += lb_sample(&s, logits) == 1;
        CHECKF(ok == 200, "top_k=1 temp %g: %d of 200 draws were the argmax", temps[t], ok);
        const float bad[6] = {0, 1, NAN, 2, 0, 0};
        CHECK(lb_sample(&s, bad) == -1); /* NaN is reported, not sampled around */
        lb_sampler_free(&s);
    }

    /* top_p = 0 keeps only the most likely token */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = 0, .seed = 3}, 6) == LB_OK);
    ok = 0;
    for (int i = 0; i < 200; i++) ok += lb_sample(&s, logits) == 1;
    CHECKF(ok == 200, "top_p=0: %d of 200 draws were the argmax", ok);
    lb_sampler_free(&s);
}

// ---- reproducibility ----

static void test_seed(void)
{
    enum { N = 64, DRAWS = 2000 };
    float logits[N];
    lb_rng r;
    lb_rng_seed(&r, 99);
    for (int i = 0; i < N; i++) logits[i] = (float)(4 * lb_rng_uniform(&r));
    lb_sample_params p = {.temp = 0.9f, .top_k = 20, .top_p = 0.95f, .seed = 42};
    lb_sampler a, b, c;
    CHECK(lb_sampler_init(&a, &p, N) == LB_OK);
    CHECK(lb_sampler_init(&b, &p, N) == LB_OK);
    p.seed = 43;
    CHECK(lb_sampler_init(&c, &p, N) == LB_OK);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < DRAWS; i++) {
        int32_t ta = lb_sample(&a, logits), tb = lb_sample(&b, logits), tc = lb_sample(&c, logits);
        same_ab += ta == tb;
        same_ac += ta == tc;
    }
    CHECKF(same_ab == DRAWS, "same seed: %d of %d draws equal", same_ab, DRAWS);
    CHECKF(same_ac < DRAWS / 2, "different seeds: %d of %d draws equal", same_ac, DRAWS);
    lb_sampler_free(&a);
    lb_sampler_free(&b);
    lb_sampler_free(&c);
}

// ---- distributions ----

static void test_frequencies(void)
{
    enum { V = 6, N = 20000 };
    const float logits[V] = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
    int64_t count[V];
    double p[V];
    bool all[V] = {1, 1, 1, 1, 1, 1};
    lb_sampler s;

    /* plain softmax at temperature 0.7 */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 0.7f, .top_p = 1, .seed = 2024}, V) == LB_OK);
    CHECK(histogram(&s, logits, V, N, count));
    softmax_ref(logits, all, V, 0.7, p);
    check_freq("softmax temp 0.7", count, p, V, N);
    lb_sampler_free(&s);

    /* top-k 3 at temperature 1.3: the three largest, renormalized */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1.3f, .top_k = 3, .top_p = 1, .seed = 5}, V) == LB_OK);
    CHECK(histogram(&s, logits, V, N, count));
    bool k3[V] = {1, 1, 1, 0, 0, 0};
    softmax_ref(logits, k3, V, 1.3, p);
    check_freq("top-k 3 temp 1.3", count, p, V, N);
    lb_sampler_free(&s);

    /* top-k over tied logits keeps the lowest ids */
    const float flat[5] = {1, 1, 1, 1, 1};
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_k = 2, .top_p = 1, .seed = 6}, 5) == LB_OK);
    CHECK(histogram(&s, flat, 5, 4000, count));
    CHECKF(count[0] > 0 && count[1] > 0 && count[2] + count[3] + count[4] == 0,
           "top-k 2 over ties: counts %lld %lld %lld %lld %lld", (long long)count[0], (long long)count[1],
           (long long)count[2], (long long)count[3], (long long)count[4]);
    lb_sampler_free(&s);
}

static void test_top_p(void)
{
    enum { V = 5, N = 20000 };
    /* probabilities 1/2, 1/4, 1/8, 1/16, 1/16 at temperature 1 */
    const float logits[V] = {logf(0.5f), logf(0.25f), logf(0.125f), logf(0.0625f), logf(0.0625f)};
    int64_t count[V];
    double p[V];
    lb_sampler s;

    /* cumulative 0.5, 0.75, 0.875: top_p 0.8 keeps {0, 1, 2}, drawn as 4/7, 2/7, 1/7 */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = 0.8f, .seed = 11}, V) == LB_OK);
    CHECK(histogram(&s, logits, V, N, count));
    const double want08[V] = {4.0 / 7, 2.0 / 7, 1.0 / 7, 0, 0};
    check_freq("top-p 0.8", count, want08, V, N);
    lb_sampler_free(&s);

    /* top_p 0.7 keeps {0, 1}: 2/3, 1/3 */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 1, .top_p = 0.7f, .seed = 12}, V) == LB_OK);
    CHECK(histogram(&s, logits, V, N, count));
    const double want07[V] = {2.0 / 3, 1.0 / 3, 0, 0, 0};
    check_freq("top-p 0.7", count, want07, V, N);
    lb_sampler_free(&s);

    /* temperature comes before top-p: at temp 2, p ~ sqrt(1/2, 1/4, 1/8, 1/16, 1/16), i.e.
     * 0.3431, 0.2426, 0.1716, 0.1213, 0.1213, cumulative 0.3431, 0.5858, 0.7574, 0.8787: top_p 0.8
     * keeps {0, 1, 2, 3}; id 4 ties with id 3 and is cut because the lower id goes first. */
    CHECK(lb_sampler_init(&s, &(lb_sample_params){.temp = 2, .top_p = 0.8f, .seed = 13}, V) == LB_OK);
    CHECK(histogram(&s, logits, V, N, count));
    bool keep[V] = {1, 1, 1, 1, 0};
    softmax_ref(logits, keep, V, 2.0, p);
    check_freq("temp 2 then top-p 0.8", count, p, V, N);
    lb_sampler_free(&s);
}

/* Large vocabulary: the kept set equals the one from sorting the whole vocabulary here. */
static int cmp_desc(const void *a, const void *b)
{
    const double *x = a, *y = b; /* {logit, id} pairs */
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : 1;
}

static void test_large_vocab(void)
{
    enum { V = 49152, DRAWS = 400 };
    float *logits = malloc(V * sizeof *logits);
    double(*order)[2] = malloc(V * sizeof *order);
    int64_t *count = malloc(V * sizeof *count);
    bool *allowed = malloc(V);
    lb_rng r;
    struct {
        float temp;
        int top_k;
        float top_p;
        bool peaked;
    } cases[] = {{1.0f, 0, 0.9f, false}, {0.8f, 40, 0.9f, false}, {1.5f, 0, 0.5f, false},
                 {1.0f, 100, 1.0f, false}, {1.0f, 0, 0.9f, true}, {1.0f, 8, 0.9f, true}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* flat: roughly normal logits (sum of 4 uniforms) with scale 3, every 1000th at 8.0 (ties);
         * peaked: ten tokens at 12.0, 11.6, ..., 8.4 over a low tail, so that the nucleus is small
         * and every token in it is drawn: the drawn set must then equal the reference exactly. */
        lb_rng_seed(&r, 77);
        for (int i = 0; i < V; i++) {
            double g = lb_rng_uniform(&r) + lb_rng_uniform(&r) + lb_rng_uniform(&r) + lb_rng_uniform(&r) - 2;
            if (cases[c].peaked) logits[i] = i % 5000 == 0 ? 12.0f - 0.4f * (float)(i / 5000) : (float)(g - 4);
            else logits[i] = i % 1000 == 0 ? 8.0f : (float)(3 * g);
        }
        /* reference: sort all, cut to top_k, softmax at temp in double, cut to top_p */
        for (int i = 0; i < V; i++) order[i][0] = logits[i], order[i][1] = i;
        qsort(order, V, sizeof *order, cmp_desc);
        int m = cases[c].top_k > 0 ? cases[c].top_k : V;
        double z = 0, cum = 0;
        for (int i = 0; i < m; i++) z += exp((order[i][0] - order[0][0]) / cases[c].temp);
        int keep = m;
        if (cases[c].top_p < 1)
            for (int i = 0; i < m; i++) {
                cum += exp((order[i][0] - order[0][0]) / cases[c].temp) / z;
                if (cum >= cases[c].top_p) {
                    keep = i + 1;
                    break;
                }
            }
        memset(allowed, 0, V);
        for (int i = 0; i < keep; i++) allowed[(int)order[i][1]] = true;

        lb_sampler s;
        lb_sample_params p = {.temp = cases[c].temp, .top_k = cases[c].top_k, .top_p = cases[c].top_p, .seed = c};
        int draws = cases[c].peaked ? 2000 : DRAWS;
        CHECK(lb_sampler_init(&s, &p, V) == LB_OK);
        CHECK(histogram(&s, logits, V, draws, count));
        int64_t outside = 0, distinct = 0;
        for (int i = 0; i < V; i++) {
            if (count[i] && !allowed[i]) outside += count[i];
            distinct += count[i] > 0;
        }
        CHECKF(outside == 0, "case %zu: %lld draws outside the %d-token reference set", c, (long long)outside, keep);
        if (cases[c].peaked) CHECKF(distinct == keep, "case %zu: %lld distinct tokens drawn, nucleus has %d", c, (long long)distinct, keep);
        printf("  large vocab case %zu (temp %g, top_k %d, top_p %g%s): kept %d, %lld distinct drawn\n", c,
               (double)cases[c].temp, cases[c].top_k, (double)cases[c].top_p, cases[c].peaked ? ", peaked" : "", keep,
               (long long)distinct);
        lb_sampler_free(&s);
    }
    free(logits);
    free(order);
    free(count);
    free(allowed);
}

int main(void)
{
    test_rng();
    test_params();
    test_greedy();
    test_seed();
    test_frequencies();
    test_top_p();
    test_large_vocab();
    return lb_test_finish();
}
