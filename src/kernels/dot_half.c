/* Picks the F16 / BF16 row dot kernels (kernels/dot_half.h): the AVX2 twins when the kernel
 * set chosen at start (lb_kernel_isa_best: cpuid, LOWBIT_FORCE_REF) includes AVX2, else the
 * reference. */
#include "kernels/dot_half.h"
#include "kernels/ref/vec_dot.h"

lb_dot_half_fn lb_dot_half_of(lb_type t)
{
    /* the AVX2 set is AVX2 + FMA + F16C, every ISA dot_half_avx2.c is compiled for */
    bool avx2 = lb_kernel_isa_best() >= LB_KERNEL_AVX2;
    if (t == LB_TYPE_F16) return avx2 ? lb_dot_f16_f32_avx2 : lb_dot_f16_f32_ref;
    if (t == LB_TYPE_BF16) return avx2 ? lb_dot_bf16_f32_avx2 : lb_dot_bf16_f32_ref;
    return NULL;
}
