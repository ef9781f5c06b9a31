/* Packed GGUF block layouts, byte for byte as ggml lays them out (ggml-common.h). These
 * structs are read straight out of mmapped files, so every field is a byte array or a
 * little-endian 16-bit code and every struct has no padding: the static_asserts pin each
 * size to llama.cpp's. Scales stored as IEEE half are kept as raw uint16_t codes
 * (decode with lb_f16_to_f32). Decoders memcpy a block into a local struct rather than cast
 * the file pointer, so a tensor at an odd file offset is no alignment fault. Not here: the codecs themselves (dequant_*.c, quantize). */
#ifndef LB_QUANT_BLOCKS_H
#define LB_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>

/* Legacy blocks hold 32 elements; k-quant super-blocks hold 256. */
#define LB_QK 32
#define LB_QK_K 256
#define LB_K_SCALE_SIZE 12

/* Multi-byte fields are little-endian on disk and read natively. */
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lowbit reads GGUF blocks natively: little-endian hosts only");

/* ---- legacy 32-element blocks ---- */

/* x = (q - 8) * d, q in [0, 15]; element j in the low nibble of qs[j], j+16 in the high. */
typedef struct lb_block_q4_0 {
    uint16_t d;             /* f16 scale */
    uint8_t qs[LB_QK / 2];  /* nibbles */
} lb_block_q4_0;
static_assert(sizeof(lb_block_q4_0) == 18, "block_q4_0 is 18 bytes");

/* x = q * d + m, q in [0, 15]. */
typedef struct lb_block_q4_1 {
    uint16_t d;             /* f16 scale */
    uint16_t m;             /* f16 minimum */
    uint8_t qs[LB_QK / 2];
} lb_block_q4_1;
static_assert(sizeof(lb_block_q4_1) == 20, "block_q4_1 is 20 bytes");

/* x = (q - 16) * d, q = nibble | bit j of qh << 4 (bits 0..15 low half, 16..31 high half). */
typedef struct lb_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];          /* 32 fifth bits, little-endian uint32 */
    uint8_t qs[LB_QK / 2];
} lb_block_q5_0;
static_assert(sizeof(lb_block_q5_0) == 22, "block_q5_0 is 22 bytes");

/* x = q * d + m, q in [0, 31]. */
typedef struct lb_block_q5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[LB_QK / 2];
} lb_block_q5_1;
static_assert(sizeof(lb_block_q5_1) == 24, "block_q5_1 is 24 bytes");

/* x = q * d, q in [-128, 127]. */
typedef struct lb_block_q8_0 {
    uint16_t d;
    int8_t qs[LB_QK];
} lb_block_q8_0;
static_assert(sizeof(lb_block_q8_0) == 34, "block_q8_0 is 34 bytes");

/* Q8_0 plus s = d * sum(qs) (an activation format for dot products; not decoded). */
typedef struct lb_block_q8_1 {
    uint16_t d;
    uint16_t s;
    int8_t qs[LB_QK];
} lb_block_q8_1;
static_assert(sizeof(lb_block_q8_1) == 36, "block_q8_1 is 36 bytes");

/* x = d * kvalues_iq4nl[q]: a non-uniform 4-bit grid. */
typedef struct lb_block_iq4_nl {
    uint16_t d;
    uint8_t qs[LB_QK / 2];
} lb_block_iq4_nl;
static_assert(sizeof(lb_block_iq4_nl) == 18, "block_iq4_nl is 18 bytes");

/* ---- k-quant 256-element super-blocks ---- */

/* 16 sub-blocks of 16: x = d*(sc & 15) * q - dmin*(sc >> 4), q in [0, 3]. */
typedef struct lb_block_q2_k {
    uint8_t scales[LB_QK_K / 16]; /* 4-bit scale (low) and 4-bit min (high) per sub-block */
    uint8_t qs[LB_QK_K / 4];      /* 2-bit quants */
    uint16_t d;                   /* f16 super-scale of the scales */
    uint16_t dmin;                /* f16 super-scale of the mins */
} lb_block_q2_k;
static_assert(sizeof(lb_block_q2_k) == 84, "block_q2_K is 84 bytes");

/* 16 sub-blocks of 16: x = d*(sc - 32) * (q - 4*!hbit), q in [0, 3], sc a 6-bit code. */
typedef struct lb_block_q3_k {
    uint8_t hmask[LB_QK_K / 8];   /* high bit of each quant (set = no -4 offset) */
    uint8_t qs[LB_QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];           /* 16 6-bit scales */
    uint16_t d;
} lb_block_q3_k;
static_assert(sizeof(lb_block_q3_k) == 110, "block_q3_K is 110 bytes");

/* 8 sub-blocks of 32: x = d*sc * q - dmin*m, q in [0, 15], sc and m 6-bit codes. */
typedef struct lb_block_q4_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[LB_K_SCALE_SIZE]; /* 8 scales + 8 mins, 6 bits each (get_scale_min_k4) */
    uint8_t qs[LB_QK_K / 2];
} lb_block_q4_k;
static_assert(sizeof(lb_block_q4_k) == 144, "block_q4_K is 144 bytes");

/* As Q4_K with a fifth bit per quant in qh, q in [0, 31]. */
typedef struct lb_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[LB_K_SCALE_SIZE];
    uint8_t qh[LB_QK_K / 8];
    uint8_t qs[LB_QK_K / 2];
} lb_block_q5_k;
static_assert(sizeof(lb_block_q5_k) == 176, "block_q5_K is 176 bytes");

/* 16 sub-blocks of 16: x = d*sc * (q - 32), q in [0, 63], sc a signed 8-bit scale. */
typedef struct lb_block_q6_k {
    uint8_t ql[LB_QK_K / 2];      /* low 4 bits */
    uint8_t qh[LB_QK_K / 4];      /* high 2 bits */
    int8_t scales[LB_QK_K / 16];
    uint16_t d;
} lb_block_q6_k;
static_assert(sizeof(lb_block_q6_k) == 210, "block_q6_K is 210 bytes");

/* Activation format for k-quant dot products (float scale, not half); not decoded. */
typedef struct lb_block_q8_k {
    float d;
    int8_t qs[LB_QK_K];
    int16_t bsums[LB_QK_K / 16];
} lb_block_q8_k;
static_assert(sizeof(lb_block_q8_k) == 292, "block_q8_K is 292 bytes");

/* 8 sub-blocks of 32: x = d*(ls - 32) * kvalues_iq4nl[q], ls a 6-bit code split over
 * scales_l (low 4 bits, two per byte) and scales_h (high 2 bits, 2 per sub-block). */
typedef struct lb_block_iq4_xs {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[LB_QK_K / 64];
    uint8_t qs[LB_QK_K / 2];
} lb_block_iq4_xs;
static_assert(sizeof(lb_block_iq4_xs) == 136, "block_iq4_xs is 136 bytes");

/* The IQ4_NL / IQ4_XS codebook (kvalues_iq4nl), defined in dequant_legacy.c. */
extern const int8_t lb_kvalues_iq4nl[16];

#endif
