/* NF4 (4-bit NormalFloat) blockwise quantization as in bitsandbytes' quantize_4bit
 * (Dettmers et al. 2023, "QLoRA"): blocks of 64, absmax scaling, the 16-value NF4 table,
 * two codes per byte (first element in the high nibble), and the optional double
 * quantization of the absmax values (QLoRA's "nested" statistics: subtract their mean, then
 * 8-bit blockwise quantization with bitsandbytes' dynamic map in blocks of 256). Pure kernels. */
#ifndef LB_QUANT_NF4_H
#define LB_QUANT_NF4_H

#include <stdint.h>

#define LB_NF4_BLOCK 64
#define LB_NF4_DQ_BLOCK 256

/* The NF4 values, code 0..15 (bitsandbytes' get_4bit_type("nf4")). */
extern const float lb_nf4_table[16];
/* bitsandbytes' create_dynamic_map(signed=True): 256 sorted values in [-1, 1], code 127 = 0. */
extern const float lb_nf4_dynamic_map[256];

/* Code of a value already divided by its block's absmax, by bitsandbytes' midpoint tree. */
uint8_t lb_nf4_encode(float x);

/* x[n] -> packed[(n + 1) / 2] bytes and absmax[ceil(n / 64)]. code = nf4(x * (1 / absmax)),
 * as bitsandbytes multiplies by the reciprocal; an all-zero block gets absmax 0 and the zero
 * code 7. An odd n pads the last low nibble with 0. */
void lb_nf4_quantize(const float *restrict x, int64_t n, uint8_t *restrict packed, float *restrict absmax);
/* y[i] = lb_nf4_table[code i] * absmax[i / 64]. */
void lb_nf4_dequantize(const uint8_t *restrict packed, const float *restrict absmax, int64_t n, float *restrict y);

/* Double quantization of absmax[n_blocks]: *offset = mean(absmax); codes[i] = nearest value of
 * lb_nf4_dynamic_map to (absmax[i] - offset) / absmax2[i / 256]; absmax2[ceil(n_blocks/256)]
 * holds max |absmax - offset| per block of 256 (1 when that is 0). */
void lb_nf4_dq_quantize(const float *restrict absmax, int64_t n_blocks, uint8_t *restrict codes,
                        float *restrict absmax2, float *restrict offset);
/* absmax[i] = lb_nf4_dynamic_map[codes[i]] * absmax2[i / 256] + offset. */
void lb_nf4_dq_dequantize(const uint8_t *restrict codes, const float *restrict absmax2, float offset,
                          int64_t n_blocks, float *restrict absmax);

#endif
