/* Weight lookup and decoding for lb_model (see weights.c). */
#ifndef LB_MODEL_WEIGHTS_H
#define LB_MODEL_WEIGHTS_H

#include "model/model.h"

/* Decodes a whole tensor to a malloc'd f32 array (an FP8 tensor's scale applied); rejects
 * NaN/Inf naming the element. */
lb_status lb_tensor_to_f32(const lb_tensor_info *t, float **out);
/* The tensors a stored weight decodes with besides its own bytes, k < LB_WEIGHT_N_AUX: FP8
 * scale (k = 0); NF4 absmax (0), quant_map (1), nested_absmax (2), nested_quant_map (3). NULL
 * when t has no such part. Layer streaming reads them with the weight. */
#define LB_WEIGHT_N_AUX 4
const lb_tensor_info *lb_weight_aux(const lb_tensor_info *t, int k);
/* The stored view of a 2-D tensor's bytes at data, aux[k] the bytes of lb_weight_aux(t, k)
 * (ignored where that is NULL). */
lb_weight lb_weight_stored(const lb_tensor_info *t, const void *data, const void *const aux[LB_WEIGHT_N_AUX]);
/* Rows r0 .. r0+nr of a stored weight [n_out][n_in] decoded to y[nr][n_in], FP8 scales applied
 * (code value x scale, as lb_fp8_dequantize), NF4 codes through quant_map times their block's
 * absmax (as lb_nf4_dequantize; double-quantized absmax as lb_nf4_dq_dequantize; blocks of 64
 * are counted over the whole tensor, so they may straddle rows): the one decoder behind
 * lb_tensor_to_f32 and the engine's per-product decode, so both give the same bits. */
void lb_weight_decode_rows(const lb_weight *w, int64_t r0, int64_t nr, int64_t n_in, float *y);
/* The tensors of a block, one per role, in lb_weights_find_block's table order. */
typedef enum lb_block_role {
    LB_ROLE_ATTN_NORM = 0, LB_ROLE_Q, LB_ROLE_K, LB_ROLE_V, LB_ROLE_O, LB_ROLE_QB, LB_ROLE_KB, LB_ROLE_VB,
    LB_ROLE_FFN_NORM, LB_ROLE_GATE, LB_ROLE_UP, LB_ROLE_DOWN, LB_ROLE_COUNT
} lb_block_role;

bool lb_block_role_is_linear(lb_block_role r);
/* printf format (one %d: the block index) of a role's tensor name, Hugging Face or GGUF. */
const char *lb_weights_role_name(lb_block_role r, bool gguf);
/* Finds block `layer`'s tensors under either naming convention and checks their shapes against
 * the configuration; optional biases are NULL when the model has none. */
lb_status lb_weights_find_block(const lb_source *src, const lb_llama_config *c, int layer,
                                const lb_tensor_info *t[LB_ROLE_COUNT]);
/* Token embedding, final norm and output head tensors; output == embd when the head is tied. */
lb_status lb_weights_find_globals(const lb_source *src, const lb_llama_config *c, const lb_tensor_info **embd,
                                  const lb_tensor_info **out_norm, const lb_tensor_info **output);
/* Whether a resident linear of stored type t keeps its stored form rather than being decoded to
 * f32 at open: under llamacpp numerics when t has a vec_dot kernel, under exact numerics for
 * F16 and BF16. */
bool lb_weight_keeps_stored(lb_type t, bool llamacpp_numerics);
/* Whether a linear of stored type t is always multiplied as stored (llamacpp numerics and a
 * vec_dot kernel for t); any other stored linear is decoded to f32 for prompt-sized products. */
bool lb_weight_multiplies_stored(lb_type t, bool llamacpp_numerics);
/* f32 bytes of t decoded for a product (0 when it never is, or t is NULL). */
uint64_t lb_weight_decode_bytes(const lb_tensor_info *t, bool llamacpp_numerics);
/* Bytes a resident copy of t takes: stored bytes when it keeps its stored form, else f32. */
uint64_t lb_weight_resident_bytes(const lb_tensor_info *t, bool linear, bool llamacpp_numerics);

/* Final norm, and (when asked) the token embedding decoded and the output head; a tied head
 * decoded shares *tok_embd (output->f32 == *tok_embd). keep_quantized: linears whose stored type
 * has vec_dot kernels stay as stored (llamacpp numerics). */
lb_status lb_weights_load_globals(const lb_source *src, const lb_llama_config *c, bool keep_quantized, bool load_embd,
                                  bool load_output, float **tok_embd, float **out_norm, lb_weight *output);
/* How a block's linears are held once loaded. */
typedef enum lb_linear_load {
    LB_LOAD_EXACT = 0,    /* exact numerics: decoded to f32, except the types lb_weight_keeps_stored
                             keeps stored (F16, BF16, FP8, NF4) */
    LB_LOAD_LLAMACPP = 1, /* llamacpp numerics: types with vec_dot kernels stay stored */
    LB_LOAD_F32 = 2       /* every linear decoded to f32 (the block-wise methods rewrite them) */
} lb_linear_load;
/* One transformer block; on failure nothing stays allocated. */
lb_status lb_weights_load_block(const lb_source *src, const lb_llama_config *c, int layer, lb_linear_load mode,
                                lb_block *b);
void lb_block_free(lb_block *b);

#endif
