/* The x86 F16 / BF16 row decoders (src/kernels/x86/dequant_float_x86.c) against their
 * reference loops (lb_dequant_f16_ref / _bf16_ref in src/quant/dequant_float.c). Both
 * conversions are exact, so the twins must give the reference's bits: checked on all 65,536
 * f16 and all 65,536 bf16 codes (finite, subnormal, +-0, +-Inf; a NaN must decode to a NaN),
 * through the vector loop and, one code per call, through the scalar tail; then on random
 * codes (every 8th one a special) at lengths around the 8- and 16-wide steps and their tails,
 * from sources 1, 2 and 3 bytes off alignment, into a destination that is not 32-byte
 * aligned, with a guard after the row that must stay untouched. The dispatchers
 * (lb_dequant_f16 / _bf16, the type table's to_f32) must match too, whichever they picked.
 * Skipped with a note on a CPU without AVX2 + FMA + F16C. */
#include "kernels/x86/dequant_x86.h"
#include "quant/dequant.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void (*dequant_fn)(const void *restrict src, float *restrict dst, int64_t n);

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* got == want bit for bit, except that a NaN only has to meet a NaN; prints the first
 * mismatches with their source codes. */
static bool same_values(const char *what, const uint16_t *codes, const float *got, const float *want, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const bool ok = isnan(want[i]) ? isnan(got[i]) : f32_bits(got[i]) == f32_bits(want[i]);
        if (ok) continue;
        if (bad < 5)
            printf("  %s [%lld] code 0x%04x: got 0x%08x (%.9g), want 0x%08x (%.9g)\n", what, (long long)i, codes[i],
                   f32_bits(got[i]), got[i], f32_bits(want[i]), want[i]);
        bad++;
    }
    return EXPECT(bad == 0, "%s: %lld of %lld elements differ", what, (long long)bad, (long long)n);
}

// ---- all 65,536 codes ----

static void check_all_codes(const char *name, dequant_fn simd, dequant_fn ref, dequant_fn dispatch)
{
    enum { N = 65536 };
    uint16_t *codes = malloc(N * sizeof *codes);
    float *want = malloc(N * sizeof *want), *got = malloc(N * sizeof *got);
    if (!CHECK(codes && want && got)) goto done;
    for (int i = 0; i < N; i++) codes[i] = (uint16_t)i;
    ref(codes, want, N);
    int64_t nan = 0, nan_same_bits = 0;
    char what[64];
    if (simd) {
        simd(codes, got, N);
        snprintf(what, sizeof what, "%s simd, all codes", name);
        same_values(what, codes, got, want, N);
        for (int i = 0; i < N; i++)
            if (isnan(want[i])) nan++, nan_same_bits += f32_bits(got[i]) == f32_bits(want[i]);
        /* N is whole vectors: once more one code at a time, through the scalar tail */
        for (int i = 0; i < N; i++) simd(codes + i, got + i, 1);
        snprintf(what, sizeof what, "%s simd tail, all codes", name);
        same_values(what, codes, got, want, N);
    }
    dispatch(codes, got, N);
    snprintf(what, sizeof what, "%s dispatch, all codes", name);
    same_values(what, codes, got, want, N);
    if (simd)
        printf("%-4s all 65536 codes: simd == ref (NaN codes: %lld, of them bit-identical: %lld)\n", name,
               (long long)nan, (long long)nan_same_bits);
done:
    free(codes);
    free(want);
    free(got);
}

// ---- awkward lengths, unaligned sources ----

#define GUARD 8

static void check_lengths(const char *name, dequant_fn simd, dequant_fn ref, dequant_fn dispatch, uint64_t *rng)
{
    static const int64_t k_ns[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 127, 129, 255, 257, 1003, 1023, 1025};
    static const int k_offs[] = {0, 1, 2, 3};
    static const uint16_t k_special[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x7f80,
                                         0xff80, 0x7fc0, 0x0080, 0x007f, 0x3c00, 0xbf80, 0x7bff, 0x7f7f};
    const int64_t n_max = 1025;
    uint16_t *codes = malloc((size_t)n_max * sizeof *codes);
    uint8_t *src = malloc((size_t)n_max * 2 + 4);
    float *want = malloc((size_t)n_max * sizeof *want);
    float *buf = malloc(((size_t)n_max + GUARD + 1) * sizeof(float));
    if (!CHECK(codes && src && want && buf)) goto done;
    const dequant_fn fns[2] = {simd, dispatch};
    const char *const fn_names[2] = {"simd", "dispatch"};
    int n_cases = 0;
    for (size_t ni = 0; ni < sizeof k_ns / sizeof k_ns[0]; ni++)
        for (size_t oi = 0; oi < sizeof k_offs / sizeof k_offs[0]; oi++) {
            const int64_t n = k_ns[ni];
            for (int64_t i = 0; i < n; i++)
                codes[i] = rng_next(rng) % 8 == 0 ? k_special[rng_next(rng) % 16] : (uint16_t)rng_next(rng);
            memcpy(src + k_offs[oi], codes, (size_t)n * 2);
            ref(src + k_offs[oi], want, n);
            for (int f = 0; f < 2; f++) {
                if (!fns[f]) continue;
                float *dst = buf + 1; /* malloc's 16-byte alignment + 4: never 32-byte aligned */
                for (int64_t i = 0; i < n + GUARD; i++) dst[i] = -1234.5f;
                fns[f](src + k_offs[oi], dst, n);
                char what[96];
                snprintf(what, sizeof what, "%s %s n=%lld src+%d", name, fn_names[f], (long long)n, k_offs[oi]);
                same_values(what, codes, dst, want, n);
                int64_t touched = 0;
                for (int64_t i = n; i < n + GUARD; i++) touched += dst[i] != -1234.5f;
                CHECKF(touched == 0, "%s: wrote %lld floats past the row", what, (long long)touched);
                n_cases++;
            }
        }
    printf("%-4s %d length/offset cases (n up to %lld, source offsets 0..3) match ref\n", name, n_cases,
           (long long)n_max);
done:
    free(codes);
    free(src);
    free(want);
    free(buf);
}

int main(void)
{
    __builtin_cpu_init();
    const bool has_isa =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (!has_isa) printf("skipped: no F16C (AVX2 + FMA + F16C); checking only that the dispatchers give ref\n");
    uint64_t rng = 0x5eed;
    check_all_codes("F16", has_isa ? lb_dequant_f16_f16c : NULL, lb_dequant_f16_ref, lb_dequant_f16);
    check_all_codes("BF16", has_isa ? lb_dequant_bf16_avx2 : NULL, lb_dequant_bf16_ref, lb_dequant_bf16);
    check_lengths("F16", has_isa ? lb_dequant_f16_f16c : NULL, lb_dequant_f16_ref, lb_dequant_f16, &rng);
    check_lengths("BF16", has_isa ? lb_dequant_bf16_avx2 : NULL, lb_dequant_bf16_ref, lb_dequant_bf16, &rng);
    /* the type table hands out the dispatchers, so every to_f32 caller gets the fast path */
    CHECK(lb_type_traits_of(LB_TYPE_F16)->to_f32 == lb_dequant_f16);
    CHECK(lb_type_traits_of(LB_TYPE_BF16)->to_f32 == lb_dequant_bf16);
    return lb_test_finish();
}
