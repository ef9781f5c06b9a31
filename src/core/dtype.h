/* Element and block types. Values equal ggml's type ids (they are serialized in GGUF);
 * the safetensors-only float8 types sit above ggml's range. Scalar conversions between
 * f32 and f16 / bf16 / fp8 live here; block codecs live in src/quant. */
#ifndef LB_DTYPE_H
#define LB_DTYPE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lb_type {
    LB_TYPE_F32 = 0,
    LB_TYPE_F16 = 1,
    LB_TYPE_Q4_0 = 2,
    LB_TYPE_Q4_1 = 3,
    LB_TYPE_Q5_0 = 6,
    LB_TYPE_Q5_1 = 7,
    LB_TYPE_Q8_0 = 8,
    LB_TYPE_Q8_1 = 9,
    LB_TYPE_Q2_K = 10,
    LB_TYPE_Q3_K = 11,
    LB_TYPE_Q4_K = 12,
    LB_TYPE_Q5_K = 13,
    LB_TYPE_Q6_K = 14,
    LB_TYPE_Q8_K = 15,
    LB_TYPE_IQ4_NL = 20,
    LB_TYPE_IQ4_XS = 23,
    LB_TYPE_I8 = 24,
    LB_TYPE_I16 = 25,
    LB_TYPE_I32 = 26,
    LB_TYPE_I64 = 27,
    LB_TYPE_F64 = 28,
    LB_TYPE_BF16 = 30,
    LB_TYPE_F8_E4M3 = 64, /* safetensors F8_E4M3 (OCP e4m3fn: no inf, one NaN pair) */
    LB_TYPE_F8_E5M2 = 65, /* safetensors F8_E5M2 (IEEE-like, has inf) */
    LB_TYPE_U8 = 66,      /* safetensors U8: read only as part of a bitsandbytes NF4 weight */
    LB_TYPE_NF4 = 67,     /* bitsandbytes NF4 weight: packed codes; absmax etc. are linked tensors */
    LB_TYPE_COUNT = 68
} lb_type;

/* IEEE half <-> single. f32->f16 rounds to nearest even, overflow gives inf, NaN stays NaN. */
float lb_f16_to_f32(uint16_t h);
uint16_t lb_f32_to_f16(float f);
/* bfloat16: widening is exact; narrowing rounds to nearest even, NaN stays NaN (quiet). */
float lb_bf16_to_f32(uint16_t b);
uint16_t lb_f32_to_bf16(float f);
/* float8 decoders (all 256 codes). */
float lb_fp8_e4m3_to_f32(uint8_t v);
float lb_fp8_e5m2_to_f32(uint8_t v);

#endif
