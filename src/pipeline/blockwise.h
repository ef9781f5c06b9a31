/* Block-wise GPTQ quantization (see ../shared/DESIGN.md, "Data flow"): one transformer block in
 * memory at a time.
 *
 *   X_0 = embeddings of the calibration windows               (file in the checkpoint directory)
 *   for block i:
 *     load block i (f32)
 *     pass A: X_i through the block; Hessians of the q/k/v, o and gate/up inputs (f64, syrk)
 *     GPTQ q, k, v, o, gate, up on their GGUF types (the recipe's), weights replaced by the result
 *     pass B: X_i through the half-quantized block; the Hessian of the down input; GPTQ down
 *     pass C: X_{i+1} = quantized block (X_i)                 (errors propagate: "sequential")
 *     the block's tensors are written; checkpoint (fsync output and X_{i+1}, then the manifest)
 *   --no-sequential: one pass with the float block gives all four Hessians and X_{i+1}.
 *
 * Activations never sit in memory whole: X_i and X_{i+1} are two files in the checkpoint
 * directory, read and written a chunk of sequences at a time. Token embedding and output head
 * are quantized by the ordinary recipe (round to nearest), as GPTQ implementations do.
 *
 * With a scaling method (AWQ, SmoothQuant: block_scale.h) each block is first scaled in place,
 * then GPTQ'd as above ("awq+gptq") or left to convert's round to nearest ("awq"); the norms
 * that absorbed 1/s and the scaled float linears reach convert through its transform hook.
 *
 * It plugs into the GGUF conversion (model/convert.h) as the job's producer of block weights;
 * quantize_model.c wires it. Not public. */
#ifndef LB_PIPELINE_BLOCKWISE_H
#define LB_PIPELINE_BLOCKWISE_H

#include "lowbit.h"
#include "model/convert.h"
#include "pipeline/block_scale.h"

typedef struct lb_blockwise lb_blockwise;

/* Opens the model (configuration, tokenizer; no weights), tokenizes the calibration text, sets
 * up (or, with p->resume, checks and reopens) the checkpoint directory "<out_path>.lowbit-ckpt",
 * prints the memory plan through p->on_log and refuses when it exceeds p->mem_limit. */
lb_status lb_blockwise_open(const char *model_path, const char *out_path, const lb_quantize_params *p,
                            lb_blockwise **out);
/* The recipe's type of each tensor, told before the first produce. */
void lb_blockwise_set_type(lb_blockwise *bw, const char *name, lb_type type);
/* Where the conversion resumes: the partial output file, and (resume) how many tensors it holds
 * and where they end. */
void lb_blockwise_output(const lb_blockwise *bw, const char **partial_path, bool *resume, int64_t *n_tensors,
                         uint64_t *offset);
/* lb_convert_job.produce / .written */
lb_status lb_blockwise_produce(void *bw, const lb_convert_tensor *t, lb_type type, void *q, uint64_t nbytes,
                               bool *done);
lb_status lb_blockwise_written(void *bw, int64_t i, const char *name, lb_gguf_writer *w);
/* lb_convert_job.transform: a scaled block's norms, v bias and float linears. */
lb_status lb_blockwise_transform(void *bw, const lb_convert_tensor *t, float *x);
/* lb_quantize_params.method -> whether GPTQ runs and which scaling precedes it; "rtn" and NULL
 * are not block-wise (LB_ERR_ARG, as any unknown name). */
lb_status lb_blockwise_method(const char *method, bool *gptq, lb_scale_method *scale);
/* GPTQ facts of a tensor written by this run (false when it was not GPTQ'd here). */
bool lb_blockwise_tensor_report(const lb_blockwise *bw, const char *name, lb_quantize_tensor_report *r);
/* A block linear's GGUF name ("blk.N.attn_q.weight", ...: what GPTQ quantizes). */
bool lb_blockwise_is_linear(const char *name);
/* success: the checkpoint directory is removed; otherwise it stays for --resume. */
void lb_blockwise_close(lb_blockwise *bw, bool success);

#endif
