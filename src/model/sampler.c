/* Sampling of the next token from logits: greedy, top-k, temperature softmax, top-p, seeded
 * draw. See sampler.h for the order of the filters and the tie rules. Nothing here allocates
 * after lb_sampler_init. */
#include "model/sampler.h"

#include <math.h>
#include <string.h>

// ---- random numbers ----

/* splitmix64 (Steele, Lea & Flood 2014; Vigna's public-domain reference), used only to expand
 * a 64-bit seed into the 256-bit xoshiro state. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lb_rng_seed(lb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* all-zero is a fixed point */
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** 1.0 (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018). */
uint64_t lb_rng_next(lb_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double lb_rng_uniform(lb_rng *r) { return (double)(lb_rng_next(r) >> 11) * 0x1.0p-53; }

// ---- setup ----

lb_status lb_sampler_init(lb_sampler *s, const lb_sample_params *p, int64_t n_vocab)
{
    memset(s, 0, sizeof *s);
    if (!p) return lb_fail(LB_ERR_ARG, "sampler: no parameters");
    if (!(p->temp >= 0) || isinf(p->temp))
        return lb_fail(LB_ERR_ARG, "sampler: temperature must be a finite number >= 0 (got %g)", (double)p->temp);
    if (p->top_k < 0) return lb_fail(LB_ERR_ARG, "sampler: top_k must be >= 0 (got %d)", p->top_k);
    if (!(p->top_p >= 0)) return lb_fail(LB_ERR_ARG, "sampler: top_p must be >= 0 (got %g)", (double)p->top_p);
    if (n_vocab <= 0 || n_vocab > INT32_MAX)
        return lb_fail(LB_ERR_ARG, "sampler: bad vocabulary size %lld", (long long)n_vocab);
    lb_sample_cand *cand = lb_malloc((size_t)n_vocab * sizeof *cand, "sampler candidates");
    if (!cand) return LB_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = cand;
    lb_rng_seed(&s->rng, p->seed);
    return LB_OK;
}

void lb_sampler_free(lb_sampler *s)
{
    if (!s) return;
    free(s->cand);
    memset(s, 0, sizeof *s);
}

// ---- ordering: larger logit first, lower id first on equal logits (a strict total order) ----

static inline bool before(const lb_sample_cand *a, const lb_sample_cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static inline void swap(lb_sample_cand *a, lb_sample_cand *b)
{
    lb_sample_cand t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect (Hoare's FIND with a median-of-three pivot and Lomuto partition): afterwards
 * c[0..k) holds the k first candidates in the order above, in no particular order. Expected
 * O(n); deterministic because the pivot choice is. 0 < k < n. */
static void select_first(lb_sample_cand *c, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (before(&c[hi], &c[lo])) swap(&c[hi], &c[lo]);
        if (before(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);
        if (before(&c[hi], &c[mid])) swap(&c[hi], &c[mid]);
        swap(&c[mid], &c[hi]); /* median as pivot, parked at hi */
        int64_t store = lo;
        for (int64_t i = lo; i < hi; i++)
            if (before(&c[i], &c[hi])) swap(&c[i], &c[store++]);
        swap(&c[store], &c[hi]);
        if (store == k || store == k - 1) return;
        if (store < k) lo = store + 1;
        else hi = store - 1;
    }
}

/* Weighted quickselect: rearranges c[0..m) so that c[0..keep) is the smallest prefix, in the
 * order above, whose probabilities sum to >= target, and returns keep (>= 1). Partitions like
 * select_first and descends into the side holding the boundary, so it costs expected O(m)
 * instead of a full sort. Invariant: c[0..lo) precede c[lo..hi) in the order, their mass has been
 * taken off need, and the last token of the prefix lies in c[lo..hi). */
static int64_t nucleus(lb_sample_cand *c, int64_t m, double target)
{
    int64_t lo = 0, hi = m;
    double need = target;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (before(&c[last], &c[lo])) swap(&c[last], &c[lo]);
        if (before(&c[mid], &c[lo])) swap(&c[mid], &c[lo]);
        if (before(&c[last], &c[mid])) swap(&c[last], &c[mid]);
        swap(&c[mid], &c[last]);
        int64_t store = lo;
        double left = 0;
        for (int64_t i = lo; i < last; i++)
            if (before(&c[i], &c[last])) {
                left += c[i].p;
                swap(&c[i], &c[store++]);
            }
        swap(&c[store], &c[last]);
        if (left >= need) {
            if (store == lo) return lo + 1; /* need <= 0: top_p == 0 keeps the first token */
            hi = store;
        } else if (left + c[store].p >= need) {
            return store + 1;
        } else {
            need -= left + c[store].p;
            lo = store + 1;
        }
    }
    if (lo < hi) return lo + 1;
    return lo > 0 ? lo : 1; /* rounding left need above the remaining mass: keep what was taken */
}

// ---- sampling ----

int32_t lb_argmax(const float *logits, int64_t n)
{
    if (n <= 0) return -1;
    int64_t best = 0;
    for (int64_t i = 0; i < n; i++) {
        float l = logits[i];
        if (isnan(l) || l == INFINITY) return -1;
        if (l > logits[best]) best = i;
    }
    return (int32_t)best;
}

int32_t lb_sample(lb_sampler *s, const float *logits)
{
    const int64_t n = s->n_vocab;
    const lb_sample_params *p = &s->p;
    if (p->temp == 0 || p->top_k == 1) return lb_argmax(logits, n);

    lb_sample_cand *c = s->cand;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(logits[i]) || logits[i] == INFINITY) return -1;
        c[i] = (lb_sample_cand){.logit = logits[i], .p = 0, .id = (int32_t)i};
    }

    // 1. top-k
    int64_t m = n;
    if (p->top_k > 0 && p->top_k < n) {
        select_first(c, n, p->top_k);
        m = p->top_k;
    }

    // 2. softmax with temperature, unnormalized: p_i = exp((l_i - max) / temp), z = sum p_i
    float mx = -INFINITY;
    for (int64_t i = 0; i < m; i++) mx = c[i].logit > mx ? c[i].logit : mx;
    if (mx == -INFINITY) return lb_argmax(logits, n); /* everything masked: lowest id */
    double z = 0;
    for (int64_t i = 0; i < m; i++) {
        c[i].p = expf((c[i].logit - mx) / p->temp);
        z += c[i].p;
    }

    // 3. top-p: the smallest prefix (in the order above) with sum p_i >= top_p * z
    double mass = z;
    if (p->top_p < 1) {
        int64_t keep = nucleus(c, m, (double)p->top_p * z);
        mass = 0;
        for (int64_t i = 0; i < keep; i++) mass += c[i].p;
        m = keep;
    }

    // 4. draw from the kept tokens, renormalized by their total mass
    double u = lb_rng_uniform(&s->rng) * mass, acc = 0;
    for (int64_t i = 0; i < m; i++) {
        acc += c[i].p;
        if (u < acc) return c[i].id;
    }
    return c[m - 1].id; /* u landed in the rounding gap at the very top */
}
