/* The conversion machinery of convert.c, shared with the quantize driver (quantize_model.c):
 * a job says which type each 2-D weight gets (a recipe), which importance weights its rows are
 * quantized with, the file type recorded, and is told about every tensor written. Everything
 * else (names, q/k permutation, vocabulary, hyper-parameters, one tensor in memory at a time,
 * the temp-name writer) is convert.c's. Not public: lb_convert and lb_quantize_model are. */
#ifndef LB_MODEL_CONVERT_H
#define LB_MODEL_CONVERT_H

#include "core/core.h"
#include "core/dtype.h"

/* What a recipe knows about the model and about one 2-D weight. */
typedef struct lb_convert_model_info {
    int64_t n_layer, n_head, n_head_kv, n_embd;
    bool has_output; /* an output.weight is written (not tied to token_embd) */
} lb_convert_model_info;

typedef struct lb_convert_tensor {
    const char *name;  /* GGUF name */
    int64_t n_rows, n_per_row;
    lb_type src_type;  /* as stored in the source (F32 for computed tensors) */
    int64_t permute_heads; /* > 0: rows are permuted from the source's (lb_convert_permute_rows) */
} lb_convert_tensor;

typedef struct lb_gguf_writer lb_gguf_writer;

typedef struct lb_convert_job {
    const char *name;   /* general.name; NULL = from the source */
    uint32_t file_type; /* general.file_type (LLAMA_FTYPE) */
    bool quantization_version; /* write general.quantization_version = 2 */
    bool copy_same_type;       /* a source tensor already of the chosen type (and not permuted)
                                  is copied byte for byte, as llama-quantize does */
    int n_threads;             /* rows of one tensor are quantized in parallel; 0 = all cores */
    /* Type of every 2-D weight, called in file order once the plan is complete. */
    lb_status (*type_of)(void *user, const lb_convert_model_info *m, const lb_convert_tensor *t, lb_type *out);
    /* Per-column importance of a weight quantized to `type` ([n_per_row], borrowed until the
     * next call), or NULL; may fail (bad imatrix entry). NULL callback = none. */
    lb_status (*weights_of)(void *user, const lb_convert_tensor *t, lb_type type, const float **out);
    /* After each tensor is written: index (from 0), count, name, type, elements, bytes. */
    void (*tensor_done)(void *user, int64_t i, int64_t n, const char *name, lb_type type, int64_t n_elements,
                        uint64_t nbytes);
    /* Optional (block-wise methods such as GPTQ): supplies a 2-D weight's bytes itself, called in
     * file order before the tensor is read; q has nbytes of room (rows in the file's layout:
     * permuted when t->permute_heads > 0). *done = false: quantized by convert as usual. */
    lb_status (*produce)(void *user, const lb_convert_tensor *t, lb_type type, void *q, uint64_t nbytes, bool *done);
    /* Optional: changes a tensor's values (decoded, in the file's layout) before it is encoded:
     * simulated quantization of 2-D weights, scaled norms (AWQ, SmoothQuant). */
    lb_status (*transform)(void *user, const lb_convert_tensor *t, float *x);
    /* Optional residual rotation (algo/rotate.h): norms folded into the linears after them,
     * weights rotated, the output head written untied. */
    int rotate; /* lb_rotation_kind; 0 = none */
    uint64_t rotate_seed;
    /* Optional online down_proj rotation (model/down_rotation.h): ffn_down.weight <- W R and R
     * recorded in the metadata. A source that already has R keeps it (its record is copied). */
    bool online_hadamard;
    /* Optional: after tensor i is written, with the writer (checkpoints sync it). */
    lb_status (*written)(void *user, int64_t i, const char *name, lb_gguf_writer *w);
    /* Optional resumable output: the temporary file's path (kept on failure); resume: continue
     * an earlier run's file whose first resume_tensors tensors end at byte resume_offset. */
    const char *partial_path;
    bool resume;
    int64_t resume_tensors;
    uint64_t resume_offset;
    void *user;
} lb_convert_job;

/* convert_hf_to_gguf's LlamaModel.permute on rows of row_bytes bytes (f32 or quantized rows):
 * HF rotate-half q/k rows to GGUF's interleaved pairs. */
lb_status lb_convert_permute_rows(void *rows, int64_t n_rows, size_t row_bytes, int64_t n_head, const char *name);

lb_status lb_convert_run(const char *model_path, const char *out_path, const lb_convert_job *job);

/* lb_convert_params.rotate as an lb_rotation_kind (0 for NULL); LB_ERR_ARG naming the bad value. */
lb_status lb_convert_rotation_kind(const char *rotate, int *kind);

#endif
