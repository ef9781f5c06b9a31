/* Picks the F16 / BF16 row dot kernels (kernels/dot_half.h) once: the AVX2 twins when cpuid
 * reports AVX2, FMA and F16C and LOWBIT_FORCE_REF=1 is not set, else the reference. */
#include "kernels/dot_half.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Written once under pthread_once, read-only afterwards. */
static lb_dot_half_fn g_f16 = lb_dot_f16_f32_ref, g_bf16 = lb_dot_bf16_f32_ref;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void pick(void)
{
    const char *force = getenv("LOWBIT_FORCE_REF");
    if (force && strcmp(force, "1") == 0) return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        g_f16 = lb_dot_f16_f32_avx2;
        g_bf16 = lb_dot_bf16_f32_avx2;
    }
}

lb_dot_half_fn lb_dot_half_of(lb_type t)
{
    pthread_once(&g_once, pick);
    return t == LB_TYPE_F16 ? g_f16 : t == LB_TYPE_BF16 ? g_bf16 : NULL;
}
