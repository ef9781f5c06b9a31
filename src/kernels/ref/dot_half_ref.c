/* Reference dot products of F16 / BF16 weight rows with f32 activations (see dot_half.h):
 * each code widened exactly (src/core/dtype.c), products summed in order. */
#include "core/dtype.h"
#include "kernels/dot_half.h"

#include <string.h>

float lb_dot_f16_f32_ref(const void *restrict w, const float *restrict x, int64_t n)
{
    const uint8_t *p = w;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        sum += lb_f16_to_f32(h) * x[i];
    }
    return sum;
}

float lb_dot_bf16_f32_ref(const void *restrict w, const float *restrict x, int64_t n)
{
    const uint8_t *p = w;
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint16_t b;
        memcpy(&b, p + 2 * i, 2);
        sum += lb_bf16_to_f32(b) * x[i];
    }
    return sum;
}
