/* Internals of lb_export_hf shared by its files: export_hf.c (plan, tensors, the directory),
 * export_config.c (config.json), export_policy.c (per-layer formats). Not public. */
#ifndef LB_PIPELINE_EXPORT_HF_H
#define LB_PIPELINE_EXPORT_HF_H

#include "model/model.h"
#include "pipeline/export_policy.h"
#include "quant/fp8.h"

#include <cjson/cJSON.h>

/* What the config needs to know about the written checkpoint. */
typedef struct lb_export_summary {
    lb_export_kind kinds_used[LB_EXPORT_KIND_COUNT]; /* nonzero: some linear got this kind */
    lb_fp8_scaling scaling;
    bool act_dynamic;
    bool nf4_double_quant;
    bool tied;               /* no lm_head written: tie_word_embeddings */
    const char *torch_dtype; /* of the 16-bit tensors: "bfloat16", "float16", "float32" */
    /* module names (HF name without ".weight") of every block linear, by kind */
    char **modules[LB_EXPORT_KIND_COUNT];
    int64_t n_modules[LB_EXPORT_KIND_COUNT];
} lb_export_summary;

/* config.json for the checkpoint: the source's config.json (quantization_config replaced) or,
 * for GGUF / llama2.c sources, one made from the configuration; NULL on out of memory. */
cJSON *lb_export_config(const lb_source *src, const lb_llama_config *c, const lb_export_summary *s);

#endif
