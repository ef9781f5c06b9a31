/* Per-position rounders of the GGUF block types (src/quant/grid_blocks.c) against brute force
 * through the decoders. For every type, rows of gaussians (several seeds, with and without an
 * imatrix), zeros, one huge outlier, constants, values whose f16 scales underflow, and
 * sub-blocks of very different magnitudes are quantized by the type's own quantizer; then, on
 * that header, every position is rounded (in a shuffled order) from a perturbed value - noise,
 * exact grid values, exact midpoints between neighbouring codes, far outside the range - and:
 *   (a) what the rounder returns is bit for bit what the type's to_f32 decodes there, both
 *       right after the call and once the whole block is set;
 *   (b) writing each of the quantizer's codes into that position and decoding, none lands
 *       strictly nearer; among equally near codes the rounder took the lowest;
 *   (c) rounding the original values on the quantizer's header is never worse, element by
 *       element, than the quantizer's own codes (see k_rtn_is_nearest for where it is equal),
 *       and an all-zero row comes back byte-identical;
 *   (d) a call changes only its position's code bits: headers and other codes stay untouched.
 * Where each code lives is written out here again from blocks.h's byte offsets, and each
 * brute-force write is checked to change only that position's decoded value. */
#include "quant/blocks.h"
#include "quant/grid_internal.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const lb_type k_types[] = {LB_TYPE_Q4_0, LB_TYPE_Q4_1, LB_TYPE_Q5_0, LB_TYPE_Q5_1,
                                  LB_TYPE_Q8_0, LB_TYPE_IQ4_NL, LB_TYPE_Q2_K, LB_TYPE_Q3_K,
                                  LB_TYPE_Q4_K, LB_TYPE_Q5_K, LB_TYPE_Q6_K, LB_TYPE_IQ4_XS};
#define N_TYPES (sizeof k_types / sizeof k_types[0])
#define N_PER_ROW 256
#define MAX_BLOCK_BYTES 256
#define MAX_PRINTS 8

// ---- random numbers (splitmix64, Box-Muller) ----

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static float rng_gauss(rng *r)
{
    const double u = rng_unif(r) + 1e-300, v = rng_unif(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

// ---- where each position's code lives (blocks.h byte offsets) ----

/* Absolute bit indices (8*byte + bit) of one position's code, least significant first. */
typedef struct code_loc {
    int n;
    int bit[8];
} code_loc;

static void add_bits(code_loc *cl, int byte, int first, int count)
{
    for (int i = 0; i < count; i++) cl->bit[cl->n++] = 8 * byte + first + i;
}

static void code_loc_of(lb_type t, int pos, code_loc *cl)
{
    cl->n = 0;
    const int h = pos / 128, r = pos % 128;
    switch (t) {
    case LB_TYPE_Q4_0: /* d[2] qs[16] */
    case LB_TYPE_IQ4_NL: add_bits(cl, 2 + pos % 16, 4 * (pos / 16), 4); break;
    case LB_TYPE_Q4_1: /* d[2] m[2] qs[16] */ add_bits(cl, 4 + pos % 16, 4 * (pos / 16), 4); break;
    case LB_TYPE_Q5_0: /* d[2] qh[4] qs[16] */
        add_bits(cl, 6 + pos % 16, 4 * (pos / 16), 4);
        add_bits(cl, 2 + pos / 8, pos % 8, 1);
        break;
    case LB_TYPE_Q5_1: /* d[2] m[2] qh[4] qs[16] */
        add_bits(cl, 8 + pos % 16, 4 * (pos / 16), 4);
        add_bits(cl, 4 + pos / 8, pos % 8, 1);
        break;
    case LB_TYPE_Q8_0: /* d[2] qs[32] */ add_bits(cl, 2 + pos, 0, 8); break;
    case LB_TYPE_Q2_K: /* scales[16] qs[64] d[2] dmin[2] */ add_bits(cl, 16 + 32 * h + r % 32, 2 * (r / 32), 2); break;
    case LB_TYPE_Q3_K: /* hmask[32] qs[64] scales[12] d[2] */
        add_bits(cl, 32 + 32 * h + r % 32, 2 * (r / 32), 2);
        add_bits(cl, pos % 32, pos / 32, 1);
        break;
    case LB_TYPE_Q4_K: /* d[2] dmin[2] scales[12] qs[128] */
        add_bits(cl, 16 + 32 * (pos / 64) + pos % 32, 4 * (pos % 64 / 32), 4);
        break;
    case LB_TYPE_Q5_K: /* d[2] dmin[2] scales[12] qh[32] qs[128] */
        add_bits(cl, 48 + 32 * (pos / 64) + pos % 32, 4 * (pos % 64 / 32), 4);
        add_bits(cl, 16 + pos % 32, pos / 32, 1);
        break;
    case LB_TYPE_Q6_K: /* ql[128] qh[64] scales[16] d[2] */
        add_bits(cl, 64 * h + r % 32 + 32 * (r / 32 % 2), 4 * (r / 64), 4);
        add_bits(cl, 128 + 32 * h + r % 32, 2 * (r / 32), 2);
        break;
    case LB_TYPE_IQ4_XS: /* d[2] scales_h[2] scales_l[4] qs[128] */
        add_bits(cl, 8 + 16 * (pos / 32) + pos % 16, 4 * (pos % 32 / 16), 4);
        break;
    default: cl->n = 0;
    }
}

static unsigned code_get(const uint8_t *b, const code_loc *cl)
{
    unsigned v = 0;
    for (int i = 0; i < cl->n; i++) v |= (unsigned)((b[cl->bit[i] / 8] >> (cl->bit[i] % 8)) & 1) << i;
    return v;
}

static void code_set(uint8_t *b, const code_loc *cl, unsigned v)
{
    for (int i = 0; i < cl->n; i++) {
        uint8_t *p = &b[cl->bit[i] / 8];
        *p = (uint8_t)((*p & ~(1u << (cl->bit[i] % 8))) | (((v >> i) & 1u) << (cl->bit[i] % 8)));
    }
}

static void code_mask(const code_loc *cl, uint8_t *mask)
{
    for (int i = 0; i < cl->n; i++) mask[cl->bit[i] / 8] |= (uint8_t)(1u << (cl->bit[i] % 8));
}

/* The quantizer's codes in "lower code" order: every bit pattern, except Q8_0, whose codes
 * are the signed bytes -127..127 (its quantizer never writes -128). */
static int n_codes(lb_type t, const code_loc *cl) { return t == LB_TYPE_Q8_0 ? 255 : 1 << cl->n; }
static unsigned cand_raw(lb_type t, int i)
{
    return t == LB_TYPE_Q8_0 ? (unsigned)(uint8_t)(int8_t)(i - 127) : (unsigned)i;
}
static int cand_index(lb_type t, unsigned raw)
{
    return t == LB_TYPE_Q8_0 ? (int)(int8_t)(uint8_t)raw + 127 : (int)raw;
}

/* Types whose quantizer's last step is nearest_int on the stored f16 scales and 6-bit codes,
 * so that its error equals ours (Q2_K..Q6_K). The others round with the unrounded float scale
 * (Q8_0, IQ4_NL, IQ4_XS's d*l), by +0.5 truncation (Q4_0/Q5_0's +8.5/+16.5, Q4_1/Q5_1's
 * (x - min)*id + 0.5), or keep search levels (imatrix paths): ours is only never worse. */
static bool k_rtn_is_nearest(lb_type t)
{
    return t == LB_TYPE_Q2_K || t == LB_TYPE_Q3_K || t == LB_TYPE_Q4_K || t == LB_TYPE_Q5_K || t == LB_TYPE_Q6_K;
}

static double dist(float w, float y) { return fabs((double)w - (double)y); }

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

// ---- one row ----

typedef struct type_stats {
    double err_q, err_r;     /* squared error of the quantizer's codes / of ours, on the original values */
    int64_t n_calls, n_diff; /* rounder calls; positions where our code differs from the quantizer's (c) */
    int64_t n_ties;          /* brute-force ties between two distinct values (midpoint cases) */
    int64_t n_plateaus;      /* calls where several codes decode to the nearest value (scale not 0) */
    int n_bad;               /* failures printed so far */
} type_stats;

typedef struct row_case {
    const char *label;
    const float *x;
    const float *imatrix;
    bool all_zero;
} row_case;

/* (c): the original values on the quantizer's own header. */
static void check_original(lb_type t, const row_case *rc, int ib, const uint8_t *b0, type_stats *st)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    const lb_block_round_fn rnd = lb_block_rounder_of(t);
    const int bs = (int)tr->block_size;
    const float *x = rc->x + (int64_t)ib * bs;
    uint8_t work[MAX_BLOCK_BYTES];
    float ret[LB_QK_K], yq[LB_QK_K], yr[LB_QK_K];
    memcpy(work, b0, tr->type_size);
    tr->to_f32(b0, yq, bs);
    for (int pos = 0; pos < bs; pos++) ret[pos] = rnd(work, pos, x[pos]);
    tr->to_f32(work, yr, bs);
    CHECKF(lb_test_bits_equal("rounded original values vs decoder", ret, yr, bs), "%s %s block %d: (a) on originals",
           tr->name, rc->label, ib);
    double eq = 0, er = 0;
    int worse = -1, n_diff = 0;
    for (int pos = 0; pos < bs; pos++) {
        const double dq = dist(x[pos], yq[pos]), dr = dist(x[pos], ret[pos]);
        eq += dq * dq;
        er += dr * dr;
        if (dr > dq && worse < 0) worse = pos;
        n_diff += !same_bits(yq[pos], ret[pos]);
    }
    st->err_q += eq;
    st->err_r += er;
    st->n_diff += n_diff;
    if (!EXPECT(worse < 0, "%s %s block %d: (c) position %d: x %.9g, quantizer's %.9g nearer than ours %.9g", tr->name,
                rc->label, ib, worse, worse < 0 ? 0.0 : x[worse], worse < 0 ? 0.0 : yq[worse],
                worse < 0 ? 0.0 : ret[worse]))
        return;
    if (k_rtn_is_nearest(t))
        CHECKF(er == eq, "%s %s block %d: (c) quantizer rounds to nearest on its header, error %.9g vs ours %.9g",
               tr->name, rc->label, ib, eq, er);
    /* A zero block comes back as the quantizer wrote it, except for one llama.cpp quirk: on the
     * imatrix path Q4_0/Q5_0's make_qx_quants leaves a zero block's levels at 0 (q = -8, -16),
     * not at the zero point the ref path (and the rounder) takes; both decode to zeros. */
    const bool quirk = rc->imatrix && (t == LB_TYPE_Q4_0 || t == LB_TYPE_Q5_0);
    if (rc->all_zero && !quirk) {
        bool same = memcmp(work, b0, tr->type_size) == 0;
        CHECKF(same, "%s %s block %d: (c) rounding an all-zero block must give the quantizer's bytes", tr->name,
               rc->label, ib);
    }
}

/* One call of the rounder at pos on work, checked against brute force. Returns the value. */
static float check_one(lb_type t, const row_case *rc, int ib, uint8_t *work, int pos, rng *r, float scale,
                       const float *x, type_stats *st)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    const int bs = (int)tr->block_size;
    code_loc cl;
    code_loc_of(t, pos, &cl);
    const int nc = n_codes(t, &cl);

    /* every candidate's decoded value at pos, by writing it and decoding */
    float base[LB_QK_K], yy[LB_QK_K], val[256];
    uint8_t tmp[MAX_BLOCK_BYTES];
    tr->to_f32(work, base, bs);
    bool layout_ok = true;
    for (int i = 0; i < nc; i++) {
        memcpy(tmp, work, tr->type_size);
        code_set(tmp, &cl, cand_raw(t, i));
        tr->to_f32(tmp, yy, bs);
        val[i] = yy[pos];
        for (int j = 0; j < bs; j++)
            if (j != pos && !same_bits(yy[j], base[j])) layout_ok = false;
    }
    CHECKF(layout_ok, "%s: test layout: writing position %d's code changed other positions", tr->name, pos);

    /* the value to round */
    float w;
    const uint64_t kind = rng_next(r) % 10;
    if (kind < 5) {
        w = x[pos] + scale * 0.2f * rng_gauss(r);
    } else if (kind < 7) { /* midpoint of two neighbouring codes, when a float holds it exactly */
        const int i = (int)(rng_next(r) % (uint64_t)(nc - 1));
        const double mid = 0.5 * ((double)val[i] + (double)val[i + 1]);
        w = (float)mid == mid ? (float)mid : val[i];
    } else if (kind < 8) { /* exactly a grid value */
        w = val[rng_next(r) % (uint64_t)nc];
    } else if (kind < 9) { /* far outside the block's range */
        w = (rng_next(r) & 1 ? 1.0f : -1.0f) * (10.0f * scale + 1.0f);
    } else {
        w = x[pos] + scale * 2.0f * rng_gauss(r);
    }

    uint8_t before[MAX_BLOCK_BYTES], mask[MAX_BLOCK_BYTES] = {0};
    memcpy(before, work, tr->type_size);
    const float y = lb_block_rounder_of(t)(work, pos, w);
    st->n_calls++;

    /* (d) only this position's code bits may change */
    code_mask(&cl, mask);
    int stray = -1;
    for (size_t k = 0; k < tr->type_size; k++)
        if ((work[k] ^ before[k]) & ~mask[k]) stray = (int)k;

    const int gi = cand_index(t, code_get(work, &cl));
    double best = INFINITY;
    int lowest = -1;
    bool all_equal = true;
    for (int i = 0; i < nc; i++) {
        const double di = dist(w, val[i]);
        if (di < best) {
            best = di;
            lowest = i;
        }
        if (val[i] != val[0]) all_equal = false;
    }
    int n_best_values = 0, n_best_codes = 0;
    for (int i = 0; i < nc; i++) {
        if (dist(w, val[i]) != best) continue;
        n_best_codes++;
        n_best_values += i == lowest || val[i] != val[lowest];
    }
    st->n_ties += n_best_values > 1;
    st->n_plateaus += !all_equal && n_best_codes > n_best_values;

    tr->to_f32(work, yy, bs);
    const bool valid = gi >= 0 && gi < nc;
    const bool ok_d = stray < 0;
    const bool ok_a = valid && same_bits(y, yy[pos]) && same_bits(y, val[gi]);
    const bool ok_b = dist(w, y) == best && (all_equal || gi == lowest);
    if (!(ok_a && ok_b && ok_d) && st->n_bad++ < MAX_PRINTS) {
        fprintf(stderr,
                "  %s %s block %d pos %d: w %.9g -> returned %.9g (code %d, decodes to %.9g), brute force: "
                "nearest %.9g (code %d), byte %d changed outside the code\n",
                tr->name, rc->label, ib, pos, w, y, gi, yy[pos], lowest >= 0 ? val[lowest] : NAN, lowest, stray);
    }
    CHECKF(ok_a, "%s %s block %d pos %d: (a) returned value is the decoder's", tr->name, rc->label, ib, pos);
    CHECKF(ok_b, "%s %s block %d pos %d: (b) nearest code, ties to the lowest", tr->name, rc->label, ib, pos);
    CHECKF(ok_d, "%s %s block %d pos %d: (d) only the code bits change", tr->name, rc->label, ib, pos);
    return y;
}

/* (a), (b), (d): perturbed values, positions in a shuffled order. */
static void check_perturbed(lb_type t, const row_case *rc, int ib, const uint8_t *b0, rng *r, type_stats *st)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    const int bs = (int)tr->block_size;
    const float *x = rc->x + (int64_t)ib * bs;
    float amax = 0;
    for (int j = 0; j < bs; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float scale = amax > 0 ? amax : 1e-3f;

    int order[LB_QK_K];
    for (int j = 0; j < bs; j++) order[j] = j;
    for (int j = bs - 1; j > 0; j--) {
        const int k = (int)(rng_next(r) % (uint64_t)(j + 1)), s = order[j];
        order[j] = order[k];
        order[k] = s;
    }
    uint8_t work[MAX_BLOCK_BYTES];
    float ret[LB_QK_K], y[LB_QK_K];
    memcpy(work, b0, tr->type_size);
    for (int j = 0; j < bs; j++) ret[order[j]] = check_one(t, rc, ib, work, order[j], r, scale, x, st);

    tr->to_f32(work, y, bs);
    CHECKF(lb_test_bits_equal("returned values vs decoded block", ret, y, bs), "%s %s block %d: (a) whole block",
           tr->name, rc->label, ib);
    uint8_t mask[MAX_BLOCK_BYTES] = {0};
    for (int pos = 0; pos < bs; pos++) {
        code_loc cl;
        code_loc_of(t, pos, &cl);
        code_mask(&cl, mask);
    }
    int stray = -1;
    for (size_t k = 0; k < tr->type_size; k++)
        if ((work[k] ^ b0[k]) & ~mask[k]) stray = (int)k;
    CHECKF(stray < 0, "%s %s block %d: (d) byte %d outside the codes changed", tr->name, rc->label, ib, stray);
}

static void check_row(lb_type t, const row_case *rc, rng *r, type_stats *st)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    const int64_t nb = N_PER_ROW / tr->block_size;
    uint8_t *q = malloc((size_t)nb * tr->type_size);
    lb_quantizer_of(t)(rc->x, q, N_PER_ROW, rc->imatrix);
    for (int ib = 0; ib < nb; ib++) {
        const uint8_t *b0 = q + (size_t)ib * tr->type_size;
        check_original(t, rc, ib, b0, st);
        check_perturbed(t, rc, ib, b0, r, st);
    }
    free(q);
}

// ---- rows ----

enum { N_KINDS = 11 };

/* Row kind k: 0-3 gaussians (seeds), 4 zeros, 5 one huge outlier, 6-7 constants, 8 values
 * so small that f16 scales underflow, 9 sub-blocks of magnitudes 1e-3..10 with one all zero,
 * 10 a tiny spread around -1000: the affine types' steps fall below the float spacing near
 * their minimum, so several codes decode to one value (the rounder must take the lowest). */
static const char *make_row(int kind, float *x, rng *r)
{
    switch (kind) {
    case 4:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = 0;
        return "zeros";
    case 5:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = rng_gauss(r);
        x[rng_next(r) % N_PER_ROW] = rng_next(r) & 1 ? 80.0f : -80.0f;
        return "outlier";
    case 6:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = 0.37f;
        return "constant 0.37";
    case 7:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = -1.5f;
        return "constant -1.5";
    case 8:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = 3e-8f * rng_gauss(r);
        return "tiny";
    case 9:
        for (int j = 0; j < N_PER_ROW; j++) {
            const int sb = j / 16;
            x[j] = sb == 3 ? 0.0f : powf(10.0f, (float)(sb % 5) - 3.0f) * rng_gauss(r);
        }
        return "mixed magnitudes";
    case 10:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = -1000.0f + 2e-5f * rng_gauss(r);
        return "plateaus";
    default:
        for (int j = 0; j < N_PER_ROW; j++) x[j] = 0.02f * rng_gauss(r);
        return "gaussian";
    }
}

int main(void)
{
    for (int t = 0; t < LB_TYPE_COUNT; t++) {
        bool want = false;
        for (size_t i = 0; i < N_TYPES; i++) want |= k_types[i] == (lb_type)t;
        CHECKF((lb_block_rounder_of((lb_type)t) != NULL) == want, "type %d: rounder exists iff supported", t);
    }
    CHECK(lb_block_rounder_of((lb_type)-1) == NULL);
    CHECK(lb_block_rounder_of(LB_TYPE_COUNT) == NULL);

    float x[N_PER_ROW], imatrix[N_PER_ROW];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const lb_type t = k_types[ti];
        const lb_type_traits *tr = lb_type_traits_of(t);
        if (!EXPECT(lb_quantizer_of(t) && lb_block_rounder_of(t), "%s: quantizer and rounder", tr->name)) continue;
        type_stats st = {0};
        rng r = {0x6772696400000000ull + (uint64_t)t};
        for (int kind = 0; kind < N_KINDS; kind++) {
            for (int with_imatrix = 0; with_imatrix < 2; with_imatrix++) {
                char label[96];
                const char *name = make_row(kind, x, &r);
                for (int j = 0; j < N_PER_ROW; j++) imatrix[j] = rng_next(&r) % 10 ? (float)(2.0 * rng_unif(&r)) : 0.0f;
                snprintf(label, sizeof label, "%s #%d%s", name, kind, with_imatrix ? " (imatrix)" : "");
                const row_case rc = {label, x, with_imatrix ? imatrix : NULL, kind == 4};
                check_row(t, &rc, &r, &st);
            }
        }
        printf("%-7s %6lld calls, %4lld ties, %4lld plateaus; originals: error %.6g vs quantizer's %.6g "
               "(%lld of %d decoded values differ, signed zeros included)\n",
               tr->name, (long long)st.n_calls, (long long)st.n_ties, (long long)st.n_plateaus, st.err_r, st.err_q,
               (long long)st.n_diff, N_KINDS * 2 * N_PER_ROW);
    }
    return lb_test_finish();
}
