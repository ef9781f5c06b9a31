/* Group-wise INT-N affine quantization (see intn.h). The arithmetic is AutoGPTQ's
 * quantizer.py in float32, including its corners: an all-zero group gets the range [-1, 1];
 * a symmetric group with no negative value keeps xmin = 0, so scale = xmax / maxq while zero
 * stays at the middle of the grid and the upper half of the range clamps (as GPTQ does).
 * round() is round-half-even (torch.round). Not here: GPTQ's error-feedback solver, AWQ's
 * scale search, act-order permutations. */
#include "quant/intn.h"

#include "core/core.h"

#include <math.h>

int64_t lb_intn_n_groups(const lb_intn_params *p, int64_t cols)
{
    if (p->bits < 2 || p->bits > 8 || cols <= 0) return -1;
    if (p->group_size == -1) return 1;
    if (p->group_size <= 0 || cols % p->group_size != 0) return -1;
    return cols / p->group_size;
}

static void find_params(const lb_intn_params *p, const float *x, int64_t n, float *scale, uint8_t *zero)
{
    float maxq = (float)((1 << p->bits) - 1);
    float xmin = 0.0f, xmax = 0.0f;
    for (int64_t i = 0; i < n; i++) xmin = fminf(xmin, x[i]), xmax = fmaxf(xmax, x[i]);
    if (p->sym) {
        xmax = fmaxf(fabsf(xmin), xmax);
        if (xmin < 0.0f) xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) xmin = -1.0f, xmax = 1.0f;
    *scale = (xmax - xmin) / maxq;
    float z = p->sym ? (maxq + 1.0f) / 2.0f : rintf(-xmin / *scale);
    *zero = (uint8_t)z; /* 0 <= -xmin / scale <= maxq since xmin <= 0 <= xmax */
}

void lb_intn_quantize(const lb_intn_params *p, const float *restrict x, int64_t rows, int64_t cols,
                      uint8_t *restrict q, float *restrict scales, uint8_t *restrict zeros)
{
    int64_t ng = lb_intn_n_groups(p, cols);
    LB_ASSERT(ng > 0);
    int64_t gs = cols / ng;
    float maxq = (float)((1 << p->bits) - 1);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t g = 0; g < ng; g++) {
            const float *xg = x + r * cols + g * gs;
            float scale;
            uint8_t zero;
            find_params(p, xg, gs, &scale, &zero);
            scales[r * ng + g] = scale;
            zeros[r * ng + g] = zero;
            for (int64_t i = 0; i < gs; i++) {
                float v = rintf(xg[i] / scale) + (float)zero;
                v = fminf(fmaxf(v, 0.0f), maxq);
                q[r * cols + g * gs + i] = (uint8_t)v;
            }
        }
    }
}

void lb_intn_dequantize(const lb_intn_params *p, const uint8_t *restrict q, const float *restrict scales,
                        const uint8_t *restrict zeros, int64_t rows, int64_t cols, float *restrict y)
{
    int64_t ng = lb_intn_n_groups(p, cols);
    LB_ASSERT(ng > 0);
    int64_t gs = cols / ng;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++) {
            int64_t g = i / gs;
            y[r * cols + i] = scales[r * ng + g] * (float)((int)q[r * cols + i] - (int)zeros[r * ng + g]);
        }
}
