/* Where a model written with --online-hadamard keeps its down_proj input rotation R
 * (algo/kron_rotation.h): GGUF metadata, never tensors (llama.cpp refuses tensor counts it
 * does not expect, and loads unknown keys silently, computing wrong results: such a file
 * needs lowbit's engine).
 *   lowbit.ffn_down_rotation.m     u32          R = D (H_(n_ff/m) (x) Q_m)
 *   lowbit.ffn_down_rotation.q     f32 [m * m]  Q_m, row-major
 *   lowbit.ffn_down_rotation.sign  i8  [n_ff]   D's diagonal, +-1 */
#ifndef LB_MODEL_DOWN_ROTATION_H
#define LB_MODEL_DOWN_ROTATION_H

#include "algo/kron_rotation.h"
#include "io/gguf_write.h"
#include "io/source.h"

#define LB_KEY_DOWN_ROT_M "lowbit.ffn_down_rotation.m"
#define LB_KEY_DOWN_ROT_Q "lowbit.ffn_down_rotation.q"
#define LB_KEY_DOWN_ROT_SIGN "lowbit.ffn_down_rotation.sign"

/* Reads R for n_ff from a GGUF source. *present = false (and r zeroed) when the model has none;
 * a malformed or partial record is LB_ERR_FORMAT naming the file and key. */
lb_status lb_down_rotation_read(const lb_source *src, int64_t n_ff, lb_kron_rotation *r, bool *present);
/* Adds the three keys (before lb_gguf_write_header). */
lb_status lb_down_rotation_write(lb_gguf_writer *w, const lb_kron_rotation *r);

#endif
