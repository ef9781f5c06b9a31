/* Weight lookup and decoding for lb_model (see weights.c). */
#ifndef LB_MODEL_WEIGHTS_H
#define LB_MODEL_WEIGHTS_H

#include "model/model.h"

/* Decodes a whole tensor to a malloc'd f32 array; rejects NaN/Inf naming the element. */
lb_status lb_tensor_to_f32(const lb_tensor_info *t, float **out);
/* Token embedding (decoded), final norm and output head; a tied, decoded head shares
 * *tok_embd (output->f32 == *tok_embd). keep_quantized: linears whose stored type has vec_dot
 * kernels stay as stored (llamacpp numerics). */
lb_status lb_weights_load_globals(const lb_source *src, const lb_llama_config *c, bool keep_quantized, float **tok_embd,
                                  float **out_norm, lb_weight *output);
/* One transformer block; on failure nothing stays allocated. */
lb_status lb_weights_load_block(const lb_source *src, const lb_llama_config *c, int layer, bool keep_quantized,
                                lb_block *b);
void lb_block_free(lb_block *b);

#endif
