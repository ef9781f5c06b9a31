/* Activation fake-quantization for the block linears (W8A8 / W4A8 simulation), see
 * lb_act_quant in lowbit.h: symmetric INT8 (round half to even, clamp +-127) or FP8 E4M3
 * (saturating at 448), per token row (dynamic) or with one calibrated scale per
 * (layer, linear input) (static, SmoothQuant's "per-tensor static" activations).
 *
 * This is a simulation: rows are quantized and decoded back to f32 in place, then the linear
 * runs as it would unquantized. It is not an int8 GEMM; the numbers it produces are what an
 * exact int8 x int8 -> int32 GEMM with the same scales computes, up to f32 rounding. */
#ifndef LB_MODEL_ACT_QUANT_H
#define LB_MODEL_ACT_QUANT_H

#include "model/model.h"

#define LB_ACT_INT8_MAX 127.0f

// ---- row kernels (pure: no malloc, no I/O) ----

/* max |x[i]| over n values (0 for n = 0; NaN is skipped, as fmaxf does). */
float lb_act_absmax(const float *x, int64_t n);
/* x[i] <- clamp(round_half_even(x[i] / scale), -127, 127) * scale, in place. scale <= 0 (an
 * all-zero row, or an input that was all zero in calibration) sets the row to 0. */
void lb_act_quant_row_int8_ref(float *x, int64_t n, float scale);
/* x[i] <- e4m3(x[i] / scale, saturating) * scale, in place; scale <= 0 sets the row to 0. */
void lb_act_quant_row_fp8_ref(float *x, int64_t n, float scale);

/* x[n_rows][n] in place with kind q: the dynamic kinds compute each row's scale
 * (absmax / qmax), the static kinds use static_scale for every row. NONE does nothing.
 * Rows are split over n_threads; each row is independent, so results do not depend on it. */
void lb_act_quant_rows(lb_act_quant q, float *x, int64_t n_rows, int64_t n, float static_scale, int n_threads);

// ---- in the model ----

/* The forward pass's hook: quantizes m's linear input x[n_rows][n] of (layer, role) as the model
 * was opened to (no-op for LB_ACT_QUANT_NONE). Called after the observer, so calibration and
 * statistics see the unquantized values. */
void lb_act_quant_input(lb_model *m, int64_t layer, lb_linear_role role, float *x, int64_t n_rows, int64_t n);

/* At open, after the weights: checks the act_* parameters and, for the static kinds, runs the
 * calibration windows through the unquantized model and sets m->act_scale. */
lb_status lb_act_quant_setup(lb_model *m);

#endif
