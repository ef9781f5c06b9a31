/* Scales for AWQ and SmoothQuant, and their folding (see scales.h). */
#include "algo/scales.h"

#include <math.h>

void lb_awq_scales(const float *restrict x_mean, const float *restrict w_mean, int64_t n, double a,
                   float *restrict s)
{
    double mx = 0, mn = INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double v = pow((double)x_mean[j], a) / (pow((double)w_mean[j], 1.0 - a) + 1e-4);
        if (!(v >= 1e-4)) v = 1e-4; /* also catches NaN from a 0^0 corner */
        s[j] = (float)v;
        if (v > mx) mx = v;
        if (v < mn) mn = v;
    }
    /* AutoAWQ: scales / sqrt(max * min), so the scales straddle 1 */
    double norm = sqrt(mx * mn);
    for (int64_t j = 0; j < n; j++) s[j] = (float)((double)s[j] / norm);
}

void lb_awq_w_mean_add(const float *restrict W, int64_t rows, int64_t cols, int64_t group, double *restrict acc)
{
    if (group <= 0 || cols % group != 0) group = cols;
    for (int64_t r = 0; r < rows; r++) {
        const float *w = W + r * cols;
        for (int64_t g0 = 0; g0 < cols; g0 += group) {
            float mx = 0;
            for (int64_t c = g0; c < g0 + group; c++)
                if (fabsf(w[c]) > mx) mx = fabsf(w[c]);
            if (mx == 0) continue;
            for (int64_t c = g0; c < g0 + group; c++) acc[c] += (double)(fabsf(w[c]) / mx);
        }
    }
}

void lb_smooth_scales(const float *restrict x_max, const float *restrict w_max, int64_t n, double a,
                      float *restrict s)
{
    for (int64_t j = 0; j < n; j++) {
        if (!(x_max[j] > 0) || !(w_max[j] > 0)) {
            s[j] = 1.0f;
            continue;
        }
        double v = pow((double)x_max[j], a) / pow((double)w_max[j], 1.0 - a);
        s[j] = (float)(v < 1e-5 ? 1e-5 : v);
    }
}

void lb_scale_cols(float *restrict W, int64_t rows, int64_t cols, const float *restrict s)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) W[r * cols + c] *= s[c];
}

void lb_unscale_rows(float *restrict W, int64_t rows, int64_t cols, const float *restrict s)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) W[r * cols + c] /= s[r];
}
