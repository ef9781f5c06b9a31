/* Shared pieces of the quantizers (quantize_legacy.c, quantize_kquants.c): the per-type row
 * functions the table in quantize.c points at, and the scale searches both files use. Not a
 * public interface: src/quant only. */
#ifndef LB_QUANT_QUANTIZE_INTERNAL_H
#define LB_QUANT_QUANTIZE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

// ---- row quantizers (lb_quantize_row_fn) ----

void lb_quantize_row_q4_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q4_1(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q5_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q5_1(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q8_0(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_iq4_nl(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q2_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q3_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q4_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q5_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_q6_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);
void lb_quantize_row_iq4_xs(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw);

// ---- scale searches shared with the legacy types (quantize_kquants.c) ----

/* llama.cpp's nearest_int: round half to even through the 1.5 * 2^23 float trick. */
static inline int lb_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    __builtin_memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* make_qx_quants with rmse_type 1: symmetric levels L[i] in [0, 2*nmax) (offset by nmax) and
 * the scale that minimizes sum w*(x - scale*(L - nmax))^2, w = qw or x^2 when qw is NULL. */
float lb_make_qx_quants(int n, int nmax, const float *restrict x, int8_t *restrict L, const float *restrict qw);
/* make_qkx2_quants (= make_qkx3_quants when weights are given): affine levels in [0, nmax]
 * with a non-positive minimum, searched over nstep+1 trial scales. Returns the scale, stores
 * -min in *the_min. */
float lb_make_qkx_quants(int n, int nmax, const float *restrict x, const float *restrict weights,
                         uint8_t *restrict L, float *restrict the_min, uint8_t *restrict Laux, float rmin,
                         float rdelta, int nstep, bool use_mad);
/* quantize_row_iq4_nl_impl: super_block_size elements in blocks of block_size on the
 * kvalues_iq4nl grid; writes the f16 super-scale *dh, the nibbles q4 and (when there is more
 * than one block) the 6-bit block scales. ntry > 0 searches 2*ntry+1 trial scales. */
void lb_quantize_iq4_impl(int super_block_size, int block_size, const float *restrict x, uint16_t *restrict dh,
                          uint8_t *restrict q4, uint16_t *restrict scales_h, uint8_t *restrict scales_l,
                          float *restrict scales, float *restrict weight, uint8_t *restrict L,
                          const float *restrict quant_weights, int ntry);

#endif
