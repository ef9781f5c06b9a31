/* Rotary position embedding (Su et al. 2021) with the frequency scalings Llama uses.
 *
 * inv_freq[i] = theta^(-2i/head_dim), i < head_dim/2, then
 *   linear:  inv_freq / factor                          (position interpolation)
 *   llama3:  per-wavelength blend (transformers _compute_llama3_parameters): wavelengths longer
 *            than orig_ctx/low_freq_factor are divided by factor, shorter than
 *            orig_ctx/high_freq_factor kept, and the band between interpolated smoothly.
 *            A GGUF carries the same thing as a rope_freqs tensor of divisors.
 * Pair layout: HF checkpoints rotate (x[i], x[i + d/2]) ("rotate_half", NEOX); GGUF llama and
 * llama2.c rotate (x[2i], x[2i+1]) (Meta's original). */
#include "model/rope.h"
#include "model/weights.h"

#include <math.h>
#include <string.h>

lb_status lb_rope_init(lb_rope *r, const lb_llama_config *c, const lb_source *src)
{
    memset(r, 0, sizeof *r);
    int64_t half = c->head_dim / 2;
    r->head_dim = c->head_dim;
    r->interleaved = c->rope_interleaved;
    r->inv_freq = lb_malloc((size_t)half * sizeof(float), "rope frequencies");
    if (!r->inv_freq) return LB_ERR_NOMEM;
    float *divisors = NULL;
    const lb_tensor_info *rf = src ? lb_source_find(src, "rope_freqs.weight") : NULL;
    if (rf) {
        if (rf->n_dims != 1 || rf->shape[0] != half) {
            free(r->inv_freq);
            return lb_fail(LB_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' at offset %llu has %lld elements, expected %lld",
                           rf->file, (unsigned long long)rf->offset, (long long)rf->n_elements, (long long)half);
        }
        lb_status st = lb_tensor_to_f32(rf, &divisors);
        if (st) {
            free(r->inv_freq);
            return st;
        }
    }
    for (int64_t i = 0; i < half; i++) {
        double f = pow((double)c->rope_theta, -2.0 * (double)i / (double)c->head_dim);
        if (divisors) {
            f /= divisors[i];
        } else if (c->rope_scaling == LB_ROPE_SCALING_LINEAR) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == LB_ROPE_SCALING_LLAMA3) {
            double lo_wl = (double)c->rope_orig_ctx / c->rope_low_freq_factor;
            double hi_wl = (double)c->rope_orig_ctx / c->rope_high_freq_factor;
            double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f /= c->rope_factor;
            } else if (wl >= hi_wl) {
                double s = ((double)c->rope_orig_ctx / wl - c->rope_low_freq_factor) /
                           (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1 - s) * f / c->rope_factor + s * f;
            }
        }
        r->inv_freq[i] = (float)f;
    }
    free(divisors);
    return LB_OK;
}

void lb_rope_free(lb_rope *r)
{
    free(r->inv_freq);
    memset(r, 0, sizeof *r);
}

void lb_rope_apply(const lb_rope *r, float *restrict x, int64_t n_heads, int64_t pos)
{
    int64_t d = r->head_dim, half = d / 2;
    for (int64_t i = 0; i < half; i++) {
        /* angle in f32 like transformers (position * inv_freq computed in float32) */
        float ang = (float)pos * r->inv_freq[i];
        float cs = cosf(ang), sn = sinf(ang);
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + h * d;
            int64_t a = r->interleaved ? 2 * i : i, b = r->interleaved ? 2 * i + 1 : i + half;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs - x1 * sn;
            v[b] = x0 * sn + x1 * cs;
        }
    }
}
