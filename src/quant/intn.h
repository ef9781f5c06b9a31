/* Group-wise INT-N affine quantization on the GPTQ/AWQ grid, following AutoGPTQ's Quantizer
 * (find_params + quantize): per group, the range [min(xmin, 0), max(xmax, 0)]; symmetric
 * widens it to +-max|x| when xmin < 0 and fixes zero = (maxq + 1) / 2; asymmetric takes
 * scale = (xmax - xmin) / maxq, zero = round(-xmin / scale). q = clamp(round(x / scale) +
 * zero, 0, maxq), x ~= scale * (q - zero). Codes are left one per byte (packing into int32
 * words is a file-format concern). Pure kernels. */
#ifndef LB_QUANT_INTN_H
#define LB_QUANT_INTN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lb_intn_params {
    int bits;           /* 2..8 */
    int64_t group_size; /* divides cols, or -1 for the whole row */
    bool sym;
} lb_intn_params;

/* Groups per row, or -1 when the parameters do not fit cols. */
int64_t lb_intn_n_groups(const lb_intn_params *p, int64_t cols);

/* x[rows][cols] -> q[rows][cols] (0..2^bits-1), scales and zeros [rows][n_groups]. */
void lb_intn_quantize(const lb_intn_params *p, const float *restrict x, int64_t rows, int64_t cols,
                      uint8_t *restrict q, float *restrict scales, uint8_t *restrict zeros);
/* y = scale * (q - zero) per group. */
void lb_intn_dequantize(const lb_intn_params *p, const uint8_t *restrict q, const float *restrict scales,
                        const uint8_t *restrict zeros, int64_t rows, int64_t cols, float *restrict y);

#endif
