/* Scalar float conversions (src/core/dtype.c), exhaustively where the domain is small:
 * every f16 and bf16 code is decoded and compared with an independent ldexp formula and
 * round-tripped through f32; every rounding boundary between adjacent codes is probed at
 * the exact midpoint (must tie to even) and one f32 ulp either side; every fp8 code of both
 * OCP formats is compared with the published formula. Hand-picked values pin the corners. */
#include "core/dtype.h"
#include "test_util.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

// ---- helpers ----

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Counts mismatches of one exhaustive sweep and prints the first few, so one CHECK per
 * sweep carries the evidence instead of 65,536 lines. */
typedef struct sweep {
    const char *what;
    long n, bad;
} sweep;

static void sweep_fail(sweep *s, const char *fmt_detail)
{
    if (s->bad++ < 5) fprintf(stderr, "  %s: %s\n", s->what, fmt_detail);
}

static void sweep_end(sweep *s)
{
    CHECKF(s->bad == 0, "%s: %ld of %ld wrong", s->what, s->bad, s->n);
}

/* Same value, or both NaN with the same sign. */
static bool same_value(float got, double want)
{
    if (isnan(want)) return isnan(got) && (signbit(got) != 0) == (signbit(want) != 0);
    return (double)got == want && (signbit(got) != 0) == (signbit(want) != 0);
}

// ---- independent formulas (IEEE 754 / OCP OFP8 definitions, in double) ----

static double f16_formula(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -24);          /* subnormal: m * 2^(1-15-10) */
    else v = ldexp(1024 + m, e - 15 - 10);      /* (1 + m/2^10) * 2^(e-15) */
    return s ? -v : v;
}

static double bf16_formula(uint16_t b)
{
    int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
    double v;
    if (e == 255) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, -126 - 7);
    else v = ldexp(128 + m, e - 127 - 7);
    return s ? -v : v;
}

static double e4m3_formula(uint8_t c)
{
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    double v;
    if (e == 15 && m == 7) v = NAN;
    else if (e == 0) v = ldexp(m, 1 - 7 - 3);
    else v = ldexp(8 + m, e - 7 - 3);
    return s ? -v : v;
}

static double e5m2_formula(uint8_t c)
{
    int s = c >> 7, e = (c >> 2) & 31, m = c & 3;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp(m, 1 - 15 - 2);
    else v = ldexp(4 + m, e - 15 - 2);
    return s ? -v : v;
}

// ---- f16 ----

static void test_f16_exhaustive(void)
{
    sweep dec = {"f16 decode vs formula", 0, 0}, rt = {"f16 -> f32 -> f16 round trip", 0, 0};
    char msg[256];
    for (uint32_t c = 0; c < 65536; c++) {
        uint16_t h = (uint16_t)c;
        float f = lb_f16_to_f32(h);
        double want = f16_formula(h);
        dec.n++;
        if (!same_value(f, want)) {
            snprintf(msg, sizeof msg, "0x%04x -> %.9g (0x%08x), want %.9g", h, f, bits(f), want);
            sweep_fail(&dec, msg);
        }
        /* a NaN comes out quiet and keeps its payload in the top f32 mantissa bits */
        if (isnan(want) && (((bits(f) >> 13) & 0x1ff) != (h & 0x1ffu) || !(bits(f) & 0x400000u))) {
            snprintf(msg, sizeof msg, "NaN 0x%04x payload lost: 0x%08x", h, bits(f));
            sweep_fail(&dec, msg);
        }
        rt.n++;
        uint16_t back = lb_f32_to_f16(f);
        /* finite and inf codes come back identical; NaN comes back quiet with its payload */
        uint16_t want_back = isnan(want) ? (uint16_t)(h | 0x200) : h;
        if (back != want_back) {
            snprintf(msg, sizeof msg, "0x%04x -> %.9g -> 0x%04x", h, f, back);
            sweep_fail(&rt, msg);
        }
    }
    sweep_end(&dec);
    sweep_end(&rt);
}

/* For each pair of adjacent finite halves (lo, hi), the f32 exactly at their midpoint must
 * round to the one with an even code, and the f32 one ulp inside either side to the nearer.
 * The pair (0x7bff, inf) uses 65536 as the next value: IEEE overflow rounding. */
static void test_f16_rounding_boundaries(void)
{
    sweep s = {"f16 rounding at every midpoint", 0, 0};
    char msg[256];
    for (uint32_t c = 0; c < 0x7c00; c++) {
        for (int neg = 0; neg < 2; neg++) {
            uint16_t sign = neg ? 0x8000 : 0;
            uint16_t lo = (uint16_t)(c | sign), hi = (uint16_t)((c + 1) | sign);
            double vlo = f16_formula(lo);
            double vhi = c + 1 == 0x7c00 ? (neg ? -65536.0 : 65536.0) : f16_formula(hi);
            float mid = (float)((vlo + vhi) / 2); /* 12 significant bits: exact in f32 */
            uint16_t even = (c & 1) ? hi : lo;
            float below = nextafterf(mid, (float)vlo), above = nextafterf(mid, (float)vhi);
            uint16_t g_mid = lb_f32_to_f16(mid), g_below = lb_f32_to_f16(below), g_above = lb_f32_to_f16(above);
            s.n += 3;
            if (g_mid != even || g_below != lo || g_above != hi) {
                snprintf(msg, sizeof msg, "between 0x%04x and 0x%04x: mid %.9g -> 0x%04x (want 0x%04x), below -> 0x%04x, above -> 0x%04x",
                         lo, hi, mid, g_mid, even, g_below, g_above);
                sweep_fail(&s, msg);
            }
        }
    }
    sweep_end(&s);
}

static void test_f16_hand_values(void)
{
    const struct {
        float in;
        uint16_t want;
    } cases[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {65504.0f, 0x7bff},               /* largest half */
        {65519.996f, 0x7bff},             /* just under the overflow midpoint */
        {65520.0f, 0x7c00},               /* midpoint to 2^16: ties to even = overflow */
        {1e10f, 0x7c00},
        {-3.4028235e38f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {1.0f + 0x1p-11f, 0x3c00},        /* tie between 0x3c00 and 0x3c01 -> even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},    /* tie between 0x3c01 and 0x3c02 -> even */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01},
        {0x1p-14f, 0x0400},               /* smallest normal */
        {0x1p-14f - 0x1p-26f, 0x0400},    /* rounds up across the subnormal/normal border */
        {0x1p-24f, 0x0001},               /* smallest subnormal */
        {0x1p-25f, 0x0000},               /* tie between 0 and 0x0001 -> 0 */
        {0x1p-25f * 1.0000001f, 0x0001},
        {3 * 0x1p-25f, 0x0002},           /* tie between 0x0001 and 0x0002 -> even */
        {-5 * 0x1p-25f, 0x8002},          /* tie between 0x8002 and 0x8003 -> even */
        {0x1p-30f, 0x0000},
        {-0x1p-30f, 0x8000},
        {0.1f, 0x2e66},
        {3.14159274f, 0x4248},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = lb_f32_to_f16(cases[i].in);
        CHECKF(got == cases[i].want, "f32->f16(%a) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].want);
    }
    /* NaN stays NaN (quiet, sign kept), including a signaling NaN whose payload would
     * truncate to zero and a negative NaN. */
    uint16_t qnan = lb_f32_to_f16(NAN);
    uint16_t snan = lb_f32_to_f16(from_bits(0x7f800001u));
    uint16_t nnan = lb_f32_to_f16(from_bits(0xffc00000u));
    CHECKF((qnan & 0x7c00) == 0x7c00 && (qnan & 0x3ff) && !(qnan & 0x8000), "NaN -> 0x%04x", qnan);
    CHECKF((snan & 0x7e00) == 0x7e00 && !(snan & 0x8000), "sNaN 0x7f800001 -> 0x%04x (must be a quiet NaN)", snan);
    CHECKF((nnan & 0xfe00) == 0xfe00, "-NaN -> 0x%04x", nnan);
    CHECK(lb_f16_to_f32(0x3c00) == 1.0f);
    CHECK(lb_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(lb_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(lb_f16_to_f32(0x03ff) == 0x1p-14f - 0x1p-24f);
    CHECK(isinf(lb_f16_to_f32(0xfc00)) && lb_f16_to_f32(0xfc00) < 0);
    CHECK(signbit(lb_f16_to_f32(0x8000)) && lb_f16_to_f32(0x8000) == 0.0f);
}

// ---- bf16 ----

static void test_bf16_exhaustive(void)
{
    sweep dec = {"bf16 decode vs formula", 0, 0}, rt = {"bf16 -> f32 -> bf16 round trip", 0, 0};
    char msg[256];
    for (uint32_t c = 0; c < 65536; c++) {
        uint16_t b = (uint16_t)c;
        float f = lb_bf16_to_f32(b);
        double want = bf16_formula(b);
        dec.n++;
        if (!same_value(f, want) || bits(f) != (uint32_t)b << 16) {
            snprintf(msg, sizeof msg, "0x%04x -> %.9g (0x%08x), want %.9g", b, f, bits(f), want);
            sweep_fail(&dec, msg);
        }
        rt.n++;
        uint16_t back = lb_f32_to_bf16(f);
        uint16_t want_back = isnan(want) ? (uint16_t)(b | 0x40) : b;
        if (back != want_back) {
            snprintf(msg, sizeof msg, "0x%04x -> %.9g -> 0x%04x", b, f, back);
            sweep_fail(&rt, msg);
        }
    }
    sweep_end(&dec);
    sweep_end(&rt);
}

/* In bf16 every midpoint between adjacent codes b, b+1 is the f32 with bits (b << 16) | 0x8000,
 * also across a binade and at the overflow border (b = 0x7f7f, next = inf). */
static void test_bf16_rounding_boundaries(void)
{
    sweep s = {"bf16 rounding at every midpoint", 0, 0};
    char msg[256];
    for (uint32_t c = 0; c < 0x7f80; c++) {
        for (uint32_t sign = 0; sign <= 0x8000; sign += 0x8000) {
            uint16_t lo = (uint16_t)(c | sign), hi = (uint16_t)((c + 1) | sign);
            uint32_t mid = ((uint32_t)lo << 16) | 0x8000u;
            uint16_t even = (c & 1) ? hi : lo;
            uint16_t g_mid = lb_f32_to_bf16(from_bits(mid));
            uint16_t g_below = lb_f32_to_bf16(from_bits(mid - 1));
            uint16_t g_above = lb_f32_to_bf16(from_bits(mid + 1));
            s.n += 3;
            if (g_mid != even || g_below != lo || g_above != hi) {
                snprintf(msg, sizeof msg, "between 0x%04x and 0x%04x: mid -> 0x%04x (want 0x%04x), below -> 0x%04x, above -> 0x%04x",
                         lo, hi, g_mid, even, g_below, g_above);
                sweep_fail(&s, msg);
            }
        }
    }
    sweep_end(&s);
}

static void test_bf16_hand_values(void)
{
    CHECK(lb_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(lb_f32_to_bf16(-2.0f) == 0xc000);
    CHECK(lb_f32_to_bf16(from_bits(0x3f808000u)) == 0x3f80); /* tie -> even (down) */
    CHECK(lb_f32_to_bf16(from_bits(0x3f818000u)) == 0x3f82); /* tie -> even (up) */
    CHECK(lb_f32_to_bf16(from_bits(0x3f808001u)) == 0x3f81);
    CHECK(lb_f32_to_bf16(3.4028235e38f) == 0x7f80);          /* FLT_MAX rounds to inf */
    CHECK(lb_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(lb_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(lb_f32_to_bf16(0x1p-149f) == 0x0000);              /* smallest f32 subnormal */
    CHECK(lb_f32_to_bf16(0x1p-133f) == 0x0001);              /* smallest bf16 subnormal */
    uint16_t snan = lb_f32_to_bf16(from_bits(0x7f800001u));
    uint16_t nnan = lb_f32_to_bf16(from_bits(0xff800001u));
    CHECKF(snan == 0x7fc0, "sNaN 0x7f800001 -> 0x%04x, want quiet 0x7fc0", snan);
    CHECKF(nnan == 0xffc0, "-sNaN 0xff800001 -> 0x%04x, want quiet 0xffc0", nnan);
    CHECK(lb_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(lb_bf16_to_f32(0x7f7f) == 3.38953139e38f);
}

// ---- fp8 ----

static void test_fp8_exhaustive(void)
{
    sweep e4 = {"fp8 e4m3 decode vs formula", 0, 0}, e5 = {"fp8 e5m2 decode vs formula", 0, 0};
    char msg[256];
    for (int c = 0; c < 256; c++) {
        float g4 = lb_fp8_e4m3_to_f32((uint8_t)c), g5 = lb_fp8_e5m2_to_f32((uint8_t)c);
        double w4 = e4m3_formula((uint8_t)c), w5 = e5m2_formula((uint8_t)c);
        e4.n++;
        e5.n++;
        if (!same_value(g4, w4)) {
            snprintf(msg, sizeof msg, "0x%02x -> %.9g, want %.9g", c, g4, w4);
            sweep_fail(&e4, msg);
        }
        if (!same_value(g5, w5)) {
            snprintf(msg, sizeof msg, "0x%02x -> %.9g, want %.9g", c, g5, w5);
            sweep_fail(&e5, msg);
        }
    }
    sweep_end(&e4);
    sweep_end(&e5);
}

static void test_fp8_hand_values(void)
{
    /* e4m3fn: no inf; only S.1111.111 is NaN */
    CHECK(lb_fp8_e4m3_to_f32(0x7e) == 448.0f);
    CHECK(lb_fp8_e4m3_to_f32(0xfe) == -448.0f);
    CHECK(isnan(lb_fp8_e4m3_to_f32(0x7f)));
    CHECK(isnan(lb_fp8_e4m3_to_f32(0xff)));
    CHECK(lb_fp8_e4m3_to_f32(0x78) == 256.0f); /* S.1111.000 is a number, not inf */
    CHECK(lb_fp8_e4m3_to_f32(0x08) == 0x1p-6f);
    CHECK(lb_fp8_e4m3_to_f32(0x01) == 0x1p-9f);
    CHECK(lb_fp8_e4m3_to_f32(0x07) == 7 * 0x1p-9f);
    CHECK(lb_fp8_e4m3_to_f32(0x38) == 1.0f);
    CHECK(lb_fp8_e4m3_to_f32(0x00) == 0.0f && !signbit(lb_fp8_e4m3_to_f32(0x00)));
    CHECK(lb_fp8_e4m3_to_f32(0x80) == 0.0f && signbit(lb_fp8_e4m3_to_f32(0x80)));
    /* e5m2: IEEE-like */
    CHECK(isinf(lb_fp8_e5m2_to_f32(0x7c)) && lb_fp8_e5m2_to_f32(0x7c) > 0);
    CHECK(isinf(lb_fp8_e5m2_to_f32(0xfc)) && lb_fp8_e5m2_to_f32(0xfc) < 0);
    CHECK(isnan(lb_fp8_e5m2_to_f32(0x7d)) && isnan(lb_fp8_e5m2_to_f32(0x7f)) && isnan(lb_fp8_e5m2_to_f32(0xfe)));
    CHECK(lb_fp8_e5m2_to_f32(0x7b) == 57344.0f);
    CHECK(lb_fp8_e5m2_to_f32(0x01) == 0x1p-16f);
    CHECK(lb_fp8_e5m2_to_f32(0x04) == 0x1p-14f);
    CHECK(lb_fp8_e5m2_to_f32(0x3c) == 1.0f);
    CHECK(lb_fp8_e5m2_to_f32(0xc0) == -2.0f);
}

int main(void)
{
    test_f16_exhaustive();
    test_f16_rounding_boundaries();
    test_f16_hand_values();
    test_bf16_exhaustive();
    test_bf16_rounding_boundaries();
    test_bf16_hand_values();
    test_fp8_exhaustive();
    test_fp8_hand_values();
    return lb_test_finish();
}
