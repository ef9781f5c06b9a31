/* Quantizers of the 256-element super-block types (Q2_K..Q6_K, IQ4_XS) and the scale searches
 * every lowbit quantizer shares, bit-exact with llama.cpp's ggml-quants.c as
 * ggml_quantize_chunk drives it: without an imatrix each super-block is quantize_row_<type>_ref,
 * with one it is quantize_row_<type>_impl. The ref paths still weigh the error internally
 * (x^2 for Q3_K/Q6_K, |x| for Q2_K, av_x + |x| for Q4_K/Q5_K, av_x the block's RMS); the impl
 * paths use qw[j] * sqrt(sigma2 + x[j]^2) with sigma2 (twice) the super-block's mean square and
 * quantize the block scales themselves with make_qp_quants / make_qx_quants. IQ4_XS always takes
 * the search path (ntry 7, weights x^2 without an imatrix), as ggml_quantize_chunk does.
 *
 * Every search below follows llama.cpp's float operations in its order (see quantize_legacy.c
 * for why no FMA contraction happens on either side). nearest_int is the 1.5 * 2^23 trick
 * (round half to even), not lroundf. */
#include "quant/blocks.h"
#include "quant/quantize_internal.h"
#include "core/dtype.h"

#include <math.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

// ---- scale searches ----

/* The element of largest magnitude (the first on ties) and that magnitude: the group maximum
 * every search below starts from. */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

float lb_make_qx_quants(int n, int nmax, const float *restrict x, int8_t *restrict L, const float *restrict qw)
{
    float amax;
    float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = lb_nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    /* trial inverse scales (nmax + 0.1 is) / max, is = -9..9: keep the best sumlx^2 / suml2 */
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = lb_nearest_int(iscale * x[i]);
            l = MAX(-nmax, MIN(nmax - 1, l));
            float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = lb_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* make_q3_quants with do_rmse: weights x^2, then up to 5 sweeps that move single levels while
 * that raises sumlx^2 / suml2. Levels come back offset by nmax. */
static float make_q3_quants(int n, int nmax, const float *restrict x, int8_t *restrict L)
{
    float amax;
    float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = lb_nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = lb_nearest_int(x[i] * sl2 / slx);
                new_l = MAX(-nmax, MIN(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float lb_make_qkx_quants(int n, int nmax, const float *restrict x, const float *restrict weights,
                         uint8_t *restrict L, float *restrict the_min, uint8_t *restrict Laux, float rmin,
                         float rdelta, int nstep, bool use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = lb_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAX(0, MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    /* trial inverse scales, each refined by the weighted least-squares (scale, min) fit */
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = lb_nearest_int(iscale * (x[i] - min));
            l = MAX(0, MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* make_qp_quants: non-negative x (block scales or mins) on levels [0, nmax], weighted by qw:
 * 9 trial scales by weighted MSE, then up to 5 single-level refinement sweeps. */
static float make_qp_quants(int n, int nmax, const float *restrict x, uint8_t *restrict L,
                            const float *restrict qw)
{
    float max = 0;
    for (int i = 0; i < n; ++i) max = MAX(max, x[i]);
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)lb_nearest_int(iscale * x[i]);
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        float diff = x[i] - scale * L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        float iscale_is = (0.1f * is + nmax) / max;
        float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            int l = lb_nearest_int(iscale_is * x[i]);
            l = MIN(nmax, l);
            float diff = x[i] - scale_is * l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = lb_nearest_int(iscale * x[i]);
        l = MIN(nmax, l);
        L[i] = (uint8_t)l;
        float w = qw[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = qw[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = lb_nearest_int(x[i] * sl2 / slx);
                new_l = MIN(nmax, new_l);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* best_index_int8: the nearest grid value (ties to the upper one) by bisection. */
static inline int best_index_int8(int n, const int8_t *val, float x)
{
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

void lb_quantize_iq4_impl(int super_block_size, int block_size, const float *restrict x, uint16_t *restrict dh,
                          uint8_t *restrict q4, uint16_t *restrict scales_h, uint8_t *restrict scales_l,
                          float *restrict scales, float *restrict weight, uint8_t *restrict L,
                          const float *restrict quant_weights, int ntry)
{
    const int8_t *values = lb_kvalues_iq4nl;
    float sigma2 = 0;
    for (int j = 0; j < super_block_size; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / super_block_size;

    memset(q4, 0, (size_t)super_block_size / 2);
    dh[0] = lb_f32_to_f16(0.f);

    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super_block_size / block_size; ++ib) {
        const float *xb = x + ib * block_size;
        uint8_t *Lb = L + ib * block_size;
        if (quant_weights) {
            const float *qw = quant_weights + ib * block_size;
            for (int j = 0; j < block_size; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < block_size; ++j) weight[j] = xb[j] * xb[j];
        }
        float amax;
        float max = signed_absmax(xb, block_size, &amax);
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / values[0] : max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < block_size; ++j) {
            int l = best_index_int8(16, values, id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = values[l];
            float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        /* a block whose weights are all zero gets scale 0 (older llama.cpp stored 0/0 = NaN) */
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < block_size; ++j) {
                int l = best_index_int8(16, values, id * xb[j]);
                float q = values[l];
                float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if (super_block_size / block_size > 1) {
        int nb = super_block_size / block_size;
        memset(scales_h, 0, (size_t)((nb + 7) / 8) * sizeof(uint16_t));
        float d = -max_scale / 32;
        dh[0] = lb_f32_to_f16(d);
        float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < nb; ++ib) {
            int l = lb_nearest_int(id * scales[ib]);
            l = MAX(-32, MIN(31, l));
            float dl = d * l;
            float idl = dl ? 1 / dl : 0.f;
            uint8_t *Lb = L + ib * block_size;
            const float *xb = x + ib * block_size;
            for (int j = 0; j < block_size; ++j) Lb[j] = (uint8_t)best_index_int8(16, values, idl * xb[j]);
            l += 32;
            uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0) scales_l[ib / 2] = l_l;
            else scales_l[ib / 2] |= (uint8_t)(l_l << 4);
            scales_h[ib / 8] |= (uint16_t)(l_h << 2 * (ib % 8));
        }
    } else {
        dh[0] = lb_f32_to_f16(scales[0]);
        if (ntry > 0) {
            float id = scales[0] ? 1 / scales[0] : 0;
            for (int j = 0; j < super_block_size; ++j) L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
        }
    }

    for (int i = 0; i < super_block_size / 32; ++i)
        for (int j = 0; j < 16; ++j) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

// ---- packing helpers ----

/* 256 2-bit levels: byte l of each 32-byte group holds elements l, l+32, l+64, l+96. */
static void pack2(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < LB_QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q4_K/Q5_K: 8 6-bit scales and mins into 12 bytes (the inverse of get_scale_min_k4). */
static void pack_scales_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *s)
{
    for (int j = 0; j < LB_QK_K / 32; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j - 0] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* Q4_K/Q5_K: levels again from the stored (f16, 6-bit) scales and mins. */
static void requantize_k4(const float *x, const uint8_t *scales, uint16_t d16, uint16_t dmin16, int nmax, uint8_t *L)
{
    for (int j = 0; j < LB_QK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales, &sc, &m);
        const float d = lb_f16_to_f32(d16) * sc;
        if (!d) continue;
        const float dm = lb_f16_to_f32(dmin16) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = lb_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

/* Q3_K: 16 6-bit scales (offset by 32) into 12 bytes. */
static void pack_scales_q3(const int *l6, uint8_t *s)
{
    memset(s, 0, 12);
    for (int j = 0; j < 16; ++j) {
        int l = l6[j];
        if (j < 8) s[j] = (uint8_t)(l & 0xF);
        else s[j - 8] |= (uint8_t)((l & 0xF) << 4);
        l >>= 4;
        s[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
    }
}

/* Q3_K: levels from the stored scales, then the high bits into hmask and the rest into qs. */
static void finish_q3_k(const float *x, lb_block_q3_k *y, int8_t *L)
{
    for (int j = 0; j < 16; ++j) {
        int8_t sc = (int8_t)(j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4);
        sc = (int8_t)((sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        float d = lb_f16_to_f32(y->d) * sc;
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            int l = lb_nearest_int(x[16 * j + ii] / d);
            l = MAX(-4, MIN(3, l));
            L[16 * j + ii] = (int8_t)(l + 4);
        }
    }
    memset(y->hmask, 0, sizeof y->hmask);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < LB_QK_K; ++j) {
        if (L[j] > 3) {
            y->hmask[m] |= hm;
            L[j] -= 4;
        }
        if (++m == LB_QK_K / 8) {
            m = 0;
            hm <<= 1;
        }
    }
    pack2((const uint8_t *)L, y->qs);
}

// ---- Q2_K: 16 blocks of 16, 2-bit levels, 4-bit scale and min per block ----

void lb_quantize_row_q2_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K, out += sizeof(lb_block_q2_k)) {
        lb_block_q2_k y;
        uint8_t L[LB_QK_K], Laux[16];
        float weights[16], mins[16], scales[16];
        if (!qw) { /* quantize_row_q2_K_ref: weights |x|, MAD error, scales over their max */
            const float q4scale = 15.f;
            float max_scale = 0, max_min = 0;
            for (int j = 0; j < 16; ++j) {
                for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
                scales[j] = lb_make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f,
                                               15, true);
                if (scales[j] > max_scale) max_scale = scales[j];
                if (mins[j] > max_min) max_min = mins[j];
            }
            if (max_scale > 0) {
                float iscale = q4scale / max_scale;
                for (int j = 0; j < 16; ++j) y.scales[j] = (uint8_t)lb_nearest_int(iscale * scales[j]);
                y.d = lb_f32_to_f16(max_scale / q4scale);
            } else {
                memset(y.scales, 0, sizeof y.scales);
                y.d = lb_f32_to_f16(0.f);
            }
            if (max_min > 0) {
                float iscale = q4scale / max_min;
                for (int j = 0; j < 16; ++j) y.scales[j] |= (uint8_t)(lb_nearest_int(iscale * mins[j]) << 4);
                y.dmin = lb_f32_to_f16(max_min / q4scale);
            } else {
                y.dmin = lb_f32_to_f16(0.f);
            }
        } else { /* quantize_row_q2_K_impl */
            const float *qwb = qw + LB_QK_K * i;
            float sw[16] = {0};
            uint8_t Ls[16], Lm[16];
            float sumx2 = 0;
            for (int j = 0; j < LB_QK_K; ++j) sumx2 += x[j] * x[j];
            float sigma2 = sumx2 / LB_QK_K;
            for (int j = 0; j < 16; ++j) {
                for (int l = 0; l < 16; ++l)
                    weights[l] = qwb[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                for (int l = 0; l < 16; ++l) sw[j] += weights[l];
                scales[j] = lb_make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f,
                                               36, false);
            }
            float dm = make_qp_quants(16, 15, scales, Ls, sw);
            float mm = make_qp_quants(16, 15, mins, Lm, sw);
            y.d = lb_f32_to_f16(dm);
            y.dmin = lb_f32_to_f16(mm);
            for (int j = 0; j < 16; ++j) y.scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        }
        /* both paths: levels again from the stored scales and mins */
        const float dm = lb_f16_to_f32(y.d), mm = lb_f16_to_f32(y.dmin);
        for (int j = 0; j < 16; ++j) {
            const float d = dm * (y.scales[j] & 0xF);
            if (!d) continue;
            const float m = mm * (y.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = lb_nearest_int((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
            }
        }
        pack2(L, y.qs);
        memcpy(out, &y, sizeof y);
    }
}

// ---- Q3_K: 16 blocks of 16, 3-bit symmetric levels, 6-bit signed scales ----

void lb_quantize_row_q3_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K, out += sizeof(lb_block_q3_k)) {
        lb_block_q3_k y;
        int8_t L[LB_QK_K];
        float scales[16];
        int l6[16];
        if (!qw) { /* quantize_row_q3_K_ref */
            float max_scale = 0, amax = 0;
            for (int j = 0; j < 16; ++j) {
                scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
                float scale = fabsf(scales[j]);
                if (scale > amax) {
                    amax = scale;
                    max_scale = scales[j];
                }
            }
            if (max_scale) {
                float iscale = -32.f / max_scale;
                for (int j = 0; j < 16; ++j) {
                    int8_t l = (int8_t)lb_nearest_int(iscale * scales[j]);
                    l6[j] = MAX(-32, MIN(31, l)) + 32;
                }
                pack_scales_q3(l6, y.scales);
                y.d = lb_f32_to_f16(1 / iscale);
            } else {
                memset(y.scales, 0, sizeof y.scales);
                y.d = lb_f32_to_f16(0.f);
            }
        } else { /* quantize_row_q3_K_impl */
            const float *qwb = qw + LB_QK_K * i;
            float weight[16], sw[16];
            int8_t Ls[16];
            float sumx2 = 0;
            for (int j = 0; j < LB_QK_K; ++j) sumx2 += x[j] * x[j];
            float sigma2 = 2 * sumx2 / LB_QK_K;
            for (int j = 0; j < 16; ++j) {
                for (int l = 0; l < 16; ++l)
                    weight[l] = qwb[16 * j + l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                float sumw = 0;
                for (int l = 0; l < 16; ++l) sumw += weight[l];
                sw[j] = sumw;
                scales[j] = lb_make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
            }
            float d_block = lb_make_qx_quants(16, 32, scales, Ls, sw);
            for (int j = 0; j < 16; ++j) l6[j] = Ls[j];
            pack_scales_q3(l6, y.scales);
            y.d = lb_f32_to_f16(d_block);
        }
        finish_q3_k(x, &y, L);
        memcpy(out, &y, sizeof y);
    }
}

// ---- Q4_K / Q5_K: 8 blocks of 32, affine levels, 6-bit scales and mins ----

/* Block scales and mins of one super-block, the ref or the impl way, packed into y's fields. */
static void scales_k4(const float *x, const float *qwb, int nmax, uint8_t *L, uint16_t *d16, uint16_t *dmin16,
                      uint8_t *packed)
{
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[8], scales[8];
    if (!qwb) { /* quantize_row_q4_K_ref / q5_K_ref: weights av_x + |x|, av_x the block RMS */
        const float rmin = nmax == 15 ? -1.f : -0.5f;
        const int nstep = nmax == 15 ? 20 : 15;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = lb_make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f,
                                           nstep, false);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; ++j) {
            ls[j] = (uint8_t)lb_nearest_int(inv_scale * scales[j]);
            lm[j] = (uint8_t)lb_nearest_int(inv_min * mins[j]);
            ls[j] = MIN(63, ls[j]);
            lm[j] = MIN(63, lm[j]);
        }
        *d16 = lb_f32_to_f16(max_scale / 63.f);
        *dmin16 = lb_f32_to_f16(max_min / 63.f);
    } else { /* quantize_row_q4_K_impl / q5_K_impl */
        float sw[8];
        float sum_x2 = 0;
        for (int l = 0; l < LB_QK_K; ++l) sum_x2 += x[l] * x[l];
        float sigma2 = 2 * sum_x2 / LB_QK_K;
        for (int j = 0; j < 8; ++j) {
            for (int l = 0; l < 32; ++l) weights[l] = qwb[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 32; ++l) sumw += weights[l];
            sw[j] = sumw;
            scales[j] = lb_make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f,
                                           36, false);
        }
        float d_block = make_qp_quants(8, 63, scales, ls, sw);
        float m_block = make_qp_quants(8, 63, mins, lm, sw);
        *d16 = lb_f32_to_f16(d_block);
        *dmin16 = lb_f32_to_f16(m_block);
    }
    memset(packed, 0, LB_K_SCALE_SIZE);
    pack_scales_k4(ls, lm, packed);
}

void lb_quantize_row_q4_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K, out += sizeof(lb_block_q4_k)) {
        lb_block_q4_k y;
        uint8_t L[LB_QK_K];
        scales_k4(x, qw ? qw + LB_QK_K * i : NULL, 15, L, &y.d, &y.dmin, y.scales);
        requantize_k4(x, y.scales, y.d, y.dmin, 15, L);
        uint8_t *q = y.qs;
        for (int j = 0; j < LB_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        memcpy(out, &y, sizeof y);
    }
}

void lb_quantize_row_q5_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K, out += sizeof(lb_block_q5_k)) {
        lb_block_q5_k y;
        uint8_t L[LB_QK_K];
        scales_k4(x, qw ? qw + LB_QK_K * i : NULL, 31, L, &y.d, &y.dmin, y.scales);
        requantize_k4(x, y.scales, y.d, y.dmin, 31, L);
        memset(y.qh, 0, sizeof y.qh);
        uint8_t *ql = y.qs;
        uint8_t m1 = 1, m2 = 2;
        for (int n0 = 0; n0 < LB_QK_K; n0 += 64) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n0 + j], l2 = L[n0 + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y.qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y.qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
            ql += 32;
        }
        memcpy(out, &y, sizeof y);
    }
}

// ---- Q6_K: 16 blocks of 16, 6-bit symmetric levels, 8-bit signed scales ----

void lb_quantize_row_q6_k(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t i = 0; i < n / LB_QK_K; i++, x += LB_QK_K, out += sizeof(lb_block_q6_k)) {
        lb_block_q6_k y;
        int8_t L[LB_QK_K];
        float scales[16];
        float max_scale = 0, max_abs_scale = 0;
        /* the ref path weighs by x^2, the impl path by the imatrix alone (no sigma2 term) */
        for (int ib = 0; ib < 16; ++ib) {
            const float *qwb = qw ? qw + LB_QK_K * i + 16 * ib : NULL;
            const float scale = lb_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qwb);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y, 0, sizeof y);
            y.d = lb_f32_to_f16(0.f);
            memcpy(out, &y, sizeof y);
            continue;
        }
        float iscale = -128.f / max_scale;
        y.d = lb_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < 16; ++ib) y.scales[ib] = (int8_t)MIN(127, lb_nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; ++j) {
            float d = lb_f16_to_f32(y.d) * y.scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = lb_nearest_int(x[16 * j + ii] / d);
                l = MAX(-32, MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y.ql, *qh = y.qh;
        for (int j = 0; j < LB_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
        memcpy(out, &y, sizeof y);
    }
}

// ---- IQ4_XS: 8 blocks of 32 on the IQ4_NL grid, 6-bit block scales ----

void lb_quantize_row_iq4_xs(const float *restrict x, void *restrict dst, int64_t n, const float *restrict qw)
{
    uint8_t *out = dst;
    for (int64_t ibl = 0; ibl < n / LB_QK_K; ibl++, out += sizeof(lb_block_iq4_xs)) {
        lb_block_iq4_xs y;
        uint8_t L[LB_QK_K];
        float weight[32], scales[LB_QK_K / 32];
        lb_quantize_iq4_impl(LB_QK_K, 32, x + LB_QK_K * ibl, &y.d, y.qs, &y.scales_h, y.scales_l, scales, weight, L,
                             qw ? qw + LB_QK_K * ibl : NULL, 7);
        memcpy(out, &y, sizeof y);
    }
}
