/* A model source: whatever lowbit was pointed at, opened as one list of tensors plus the
 * metadata that describes it. Weights are never read here, only mapped; lb_model (src/model)
 * interprets names and metadata. Kinds:
 *   HF dir       config.json + model.safetensors or model.safetensors.index.json shards
 *   safetensors  one .safetensors file (config.json beside it is used when present)
 *   GGUF         one .gguf file (metadata through src/io/gguf.h)
 *   llama2.c     legacy (7 x int32 header) or version-1 ("ak42") float32 checkpoints; tensors
 *                are exposed under GGUF names (token_embd.weight, blk.N.attn_q.weight, ...)
 *                because both keep Meta's interleaved RoPE pair layout. */
#ifndef LB_IO_SOURCE_H
#define LB_IO_SOURCE_H

#include "core/core.h"
#include "io/gguf.h"
#include "io/tensor.h"

#include <cjson/cJSON.h>

typedef enum lb_source_kind {
    LB_SOURCE_HF_DIR = 0,
    LB_SOURCE_SAFETENSORS = 1,
    LB_SOURCE_GGUF = 2,
    LB_SOURCE_LLAMA2C = 3,
    LB_SOURCE_KIND_COUNT
} lb_source_kind;

typedef struct lb_llama2c_header {
    int version; /* 0 = legacy header, 1 = "ak42" v1 */
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier;
} lb_llama2c_header;

typedef struct lb_source {
    lb_source_kind kind;
    char *path; /* as given */
    char *dir;  /* directory that holds the model's files (tokenizer lookup) */
    int64_t n_tensors;
    lb_tensor_info *tensors; /* in file order (shard order for sharded checkpoints) */
    cJSON *config;           /* config.json when there is one, else NULL */
    cJSON *st_metadata;      /* safetensors "__metadata__" of the first file, or NULL */
    lb_gguf *gguf;           /* GGUF only */
    lb_llama2c_header l2c;   /* llama2.c only */
    lb_mapping *maps;        /* safetensors files / the llama2.c file */
    int n_maps;
} lb_source;

/* Detects the kind from the path (directory, extension, then magic bytes) and opens it. */
lb_status lb_source_open(const char *path, lb_source **out);
void lb_source_close(lb_source *s);
const char *lb_source_kind_name(lb_source_kind k); /* "hf-dir", "safetensors", "gguf", "llama2c" */
const lb_tensor_info *lb_source_find(const lb_source *s, const char *name);
/* Points every F8_* tensor that has a `<name>_scale` or `<name>_scale_inv` sibling at it
 * (lb_tensor_info.scale / fp8_scaling); a scale whose shape fits no layout is LB_ERR_FORMAT
 * naming file, tensor and offset (io/scale_links.c). lb_source_open calls it. */
lb_status lb_source_link_scales(lb_source *s);
/* Turns every bitsandbytes NF4 weight (U8 `X.weight` beside `X.weight.quant_state.bitsandbytes__nf4`)
 * into type NF4 with its logical [out, in] shape, linked to its absmax, quant_map and nested
 * tensors (io/nf4_links.c); an inconsistent group is LB_ERR_FORMAT naming file, tensor and
 * offset, any other U8 tensor LB_ERR_UNSUPPORTED. lb_source_open calls it. */
lb_status lb_source_link_nf4(lb_source *s);

/* Individual readers (used by lb_source_open; exposed for tests and fuzzing). */

/* Parses one safetensors file that is already mapped, appending its tensors to *tensors
 * (realloc'd, *n updated). Checks: header length within the file, JSON well-formed, every
 * dtype known, shape product * dtype size == end - begin, offsets within the data section,
 * no two tensors overlapping. */
lb_status lb_safetensors_parse(const lb_mapping *map, lb_tensor_info **tensors, int64_t *n, cJSON **metadata);
/* Parses a llama2.c checkpoint that is already mapped. */
lb_status lb_llama2c_parse(const lb_mapping *map, lb_llama2c_header *hdr, lb_tensor_info **tensors, int64_t *n);

#endif
