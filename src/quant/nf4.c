/* NF4 blockwise 4-bit and the nested 8-bit quantization of its scales (see nf4.h). Constants
 * are copied from bitsandbytes (csrc/kernels.cu dQuantizeNF4 / dDequantizeNF4 and
 * functional.py create_dynamic_map); the dynamic map was evaluated with torch float32 exactly
 * as create_dynamic_map does and printed to 9 significant digits. Not here: FP4, the
 * stochastic-rounding variants, bitsandbytes' on-disk quant_state serialization. */
#include "quant/nf4.h"

#include <math.h>

// ---- tables ----

/* Quantiles of N(0,1) normalized to [-1, 1], asymmetric so that 0 is exact (QLoRA eq. 4). */
const float lb_nf4_table[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* Dynamic tree quantization map (Dettmers 2016): for i = 0..6, 2^i linear means in
 * [0.1, 1] times 10^(i-6), both signs, plus 0 and 1, sorted. */
const float lb_nf4_dynamic_map[256] = {
    -0.992968738f, -0.978906274f, -0.96484375f, -0.950781226f, -0.936718762f, -0.922656238f, -0.908593774f, -0.89453125f,
    -0.880468726f, -0.866406262f, -0.852343738f, -0.838281274f, -0.82421875f, -0.810156226f, -0.796093762f, -0.782031238f,
    -0.767968774f, -0.75390625f, -0.739843726f, -0.725781262f, -0.711718798f, -0.697656274f, -0.68359375f, -0.669531226f,
    -0.655468762f, -0.641406298f, -0.627343774f, -0.61328125f, -0.599218726f, -0.585156262f, -0.571093798f, -0.557031274f,
    -0.54296875f, -0.528906226f, -0.514843702f, -0.500781238f, -0.486718714f, -0.47265625f, -0.458593726f, -0.444531262f,
    -0.430468738f, -0.416406244f, -0.40234375f, -0.388281226f, -0.374218762f, -0.360156238f, -0.346093744f, -0.33203125f,
    -0.317968726f, -0.303906262f, -0.289843738f, -0.275781274f, -0.26171875f, -0.247656241f, -0.233593747f, -0.219531253f,
    -0.205468744f, -0.19140625f, -0.177343756f, -0.163281247f, -0.149218753f, -0.135156244f, -0.12109375f, -0.107031256f,
    -0.0985937491f, -0.0957812592f, -0.0929687545f, -0.0901562497f, -0.0873437524f, -0.0845312476f, -0.0817187577f, -0.078906253f,
    -0.0760937482f, -0.0732812509f, -0.0704687461f, -0.0676562563f, -0.0648437515f, -0.0620312504f, -0.0592187531f, -0.0564062484f,
    -0.053593751f, -0.05078125f, -0.047968749f, -0.0451562516f, -0.0423437469f, -0.0395312496f, -0.0367187522f, -0.0339062512f,
    -0.0310937501f, -0.028281251f, -0.0254687499f, -0.0226562507f, -0.0198437516f, -0.0170312505f, -0.0142187504f, -0.0114062503f,
    -0.00971874967f, -0.00915624946f, -0.00859375019f, -0.00803124998f, -0.00746874977f, -0.00690625003f, -0.00634374982f, -0.00578125007f,
    -0.00521875033f, -0.00465624966f, -0.00409374991f, -0.00353124971f, -0.00296874996f, -0.00240624999f, -0.00184375001f, -0.00128124992f,
    -0.000943750085f, -0.000831249985f, -0.00071875006f, -0.000606250076f, -0.000493750034f, -0.000381250022f, -0.000268750038f, -0.000156250011f,
    -8.87499991e-05f, -6.62500024e-05f, -4.37499984e-05f, -2.12499981e-05f, -7.7499999e-06f, -3.25000019e-06f, -5.50000038e-07f, 0.0f,
    5.50000038e-07f, 3.25000019e-06f, 7.7499999e-06f, 2.12499981e-05f, 4.37499984e-05f, 6.62500024e-05f, 8.87499991e-05f, 0.000156250011f,
    0.000268750038f, 0.000381250022f, 0.000493750034f, 0.000606250076f, 0.00071875006f, 0.000831249985f, 0.000943750085f, 0.00128124992f,
    0.00184375001f, 0.00240624999f, 0.00296874996f, 0.00353124971f, 0.00409374991f, 0.00465624966f, 0.00521875033f, 0.00578125007f,
    0.00634374982f, 0.00690625003f, 0.00746874977f, 0.00803124998f, 0.00859375019f, 0.00915624946f, 0.00971874967f, 0.0114062503f,
    0.0142187504f, 0.0170312505f, 0.0198437516f, 0.0226562507f, 0.0254687499f, 0.028281251f, 0.0310937501f, 0.0339062512f,
    0.0367187522f, 0.0395312496f, 0.0423437469f, 0.0451562516f, 0.047968749f, 0.05078125f, 0.053593751f, 0.0564062484f,
    0.0592187531f, 0.0620312504f, 0.0648437515f, 0.0676562563f, 0.0704687461f, 0.0732812509f, 0.0760937482f, 0.078906253f,
    0.0817187577f, 0.0845312476f, 0.0873437524f, 0.0901562497f, 0.0929687545f, 0.0957812592f, 0.0985937491f, 0.107031256f,
    0.12109375f, 0.135156244f, 0.149218753f, 0.163281247f, 0.177343756f, 0.19140625f, 0.205468744f, 0.219531253f,
    0.233593747f, 0.247656241f, 0.26171875f, 0.275781274f, 0.289843738f, 0.303906262f, 0.317968726f, 0.33203125f,
    0.346093744f, 0.360156238f, 0.374218762f, 0.388281226f, 0.40234375f, 0.416406244f, 0.430468738f, 0.444531262f,
    0.458593726f, 0.47265625f, 0.486718714f, 0.500781238f, 0.514843702f, 0.528906226f, 0.54296875f, 0.557031274f,
    0.571093798f, 0.585156262f, 0.599218726f, 0.61328125f, 0.627343774f, 0.641406298f, 0.655468762f, 0.669531226f,
    0.68359375f, 0.697656274f, 0.711718798f, 0.725781262f, 0.739843726f, 0.75390625f, 0.767968774f, 0.782031238f,
    0.796093762f, 0.810156226f, 0.82421875f, 0.838281274f, 0.852343738f, 0.866406262f, 0.880468726f, 0.89453125f,
    0.908593774f, 0.922656238f, 0.936718762f, 0.950781226f, 0.96484375f, 0.978906274f, 0.992968738f, 1.0f,
};

// ---- NF4 ----

/* bitsandbytes' decision tree; the pivots are the midpoints of adjacent table values, and a
 * value equal to a pivot goes to the lower code ("x > pivot"). NaN falls through to 0. */
uint8_t lb_nf4_encode(float x)
{
    if (x > 0.03979014977812767f) {
        if (x > 0.3893125355243683f) {
            if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
            return x > 0.5016634166240692f ? 13 : 12;
        }
        if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
        return x > 0.1202552504837513f ? 9 : 8;
    }
    if (x > -0.33967943489551544f) {
        if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
        return x > -0.23460740596055984f ? 5 : 4;
    }
    if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
    return x > -0.8480964004993439f ? 1 : 0;
}

void lb_nf4_quantize(const float *restrict x, int64_t n, uint8_t *restrict packed, float *restrict absmax)
{
    for (int64_t b0 = 0; b0 < n; b0 += LB_NF4_BLOCK) {
        int64_t b1 = b0 + LB_NF4_BLOCK < n ? b0 + LB_NF4_BLOCK : n;
        float amax = 0.0f;
        for (int64_t i = b0; i < b1; i++) amax = fmaxf(amax, fabsf(x[i]));
        absmax[b0 / LB_NF4_BLOCK] = amax;
        float inv = amax > 0.0f ? 1.0f / amax : 0.0f;
        for (int64_t i = b0; i < b1; i++) {
            uint8_t q = amax > 0.0f ? lb_nf4_encode(x[i] * inv) : 7;
            /* bitsandbytes: qvals[j] = q(vals[2j]) << 4 | q(vals[2j+1]) */
            if ((i & 1) == 0) packed[i / 2] = (uint8_t)(q << 4);
            else packed[i / 2] |= q;
        }
    }
}

void lb_nf4_dequantize(const uint8_t *restrict packed, const float *restrict absmax, int64_t n, float *restrict y)
{
    for (int64_t i = 0; i < n; i++) {
        uint8_t q = (i & 1) ? packed[i / 2] & 0xf : packed[i / 2] >> 4;
        y[i] = lb_nf4_table[q] * absmax[i / LB_NF4_BLOCK];
    }
}

// ---- double quantization of absmax ----

/* Index of the map value nearest to v (the map is sorted; ties go to the lower index). */
static uint8_t dynamic_encode(float v)
{
    int lo = 0, hi = 255;
    while (hi - lo > 1) { /* invariant: map[lo] <= v <= map[hi] once v is inside the range */
        int mid = (lo + hi) / 2;
        if (lb_nf4_dynamic_map[mid] <= v) lo = mid;
        else hi = mid;
    }
    return fabsf(v - lb_nf4_dynamic_map[lo]) <= fabsf(lb_nf4_dynamic_map[hi] - v) ? (uint8_t)lo : (uint8_t)hi;
}

void lb_nf4_dq_quantize(const float *restrict absmax, int64_t n_blocks, uint8_t *restrict codes,
                        float *restrict absmax2, float *restrict offset)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n_blocks; i++) sum += absmax[i];
    float mean = n_blocks > 0 ? (float)(sum / (double)n_blocks) : 0.0f;
    *offset = mean;
    for (int64_t b0 = 0; b0 < n_blocks; b0 += LB_NF4_DQ_BLOCK) {
        int64_t b1 = b0 + LB_NF4_DQ_BLOCK < n_blocks ? b0 + LB_NF4_DQ_BLOCK : n_blocks;
        float amax = 0.0f;
        for (int64_t i = b0; i < b1; i++) amax = fmaxf(amax, fabsf(absmax[i] - mean));
        if (!(amax > 0.0f)) amax = 1.0f;
        absmax2[b0 / LB_NF4_DQ_BLOCK] = amax;
        float inv = 1.0f / amax;
        for (int64_t i = b0; i < b1; i++) codes[i] = dynamic_encode((absmax[i] - mean) * inv);
    }
}

void lb_nf4_dq_dequantize(const uint8_t *restrict codes, const float *restrict absmax2, float offset,
                          int64_t n_blocks, float *restrict absmax)
{
    for (int64_t i = 0; i < n_blocks; i++)
        absmax[i] = lb_nf4_dynamic_map[codes[i]] * absmax2[i / LB_NF4_DQ_BLOCK] + offset;
}
