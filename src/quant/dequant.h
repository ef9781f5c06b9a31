/* Row decoders for every readable type, bit-exact with llama.cpp's dequantize_row_*
 * (ggml-quants.c). n is a multiple of the type's block size. Pure: no allocation, no I/O. */
#ifndef LB_QUANT_DEQUANT_H
#define LB_QUANT_DEQUANT_H

#include <stdint.h>

void lb_dequant_f32(const void *restrict src, float *restrict dst, int64_t n);
/* F16 / BF16: the x86 twin when cpuid allows (picked once; LOWBIT_FORCE_REF=1 pins _ref), else
 * _ref, the spec. Both give the same bits. */
void lb_dequant_f16(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_bf16(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_f16_ref(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_bf16_ref(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_f64(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_f8_e4m3(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_f8_e5m2(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q4_0(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q4_1(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q5_0(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q5_1(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q8_0(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q2_k(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q3_k(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q4_k(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q5_k(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_q6_k(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_iq4_nl(const void *restrict src, float *restrict dst, int64_t n);
void lb_dequant_iq4_xs(const void *restrict src, float *restrict dst, int64_t n);

#endif
