/* Per-layer choice of format for lb_export_hf: which block linears become FP8 E4M3, FP8 E5M2
 * or NF4 and which stay 16-bit ("keep": listed in the checkpoint's "ignore"). Grammar (items
 * separated by commas or newlines; in an @FILE, '#' starts a comment; later items win):
 *   attn=T       q/k/v/o projections           mlp=T        gate/up/down projections
 *   keep=GLOB    tensors matching GLOB stay 16-bit
 *   GLOB=T       tensors matching GLOB get T
 * T is E4M3, E5M2 (or FP8_E4M3, FP8_E5M2), NF4 or keep (case-insensitive). GLOB is an
 * fnmatch(3) pattern tried on the Hugging Face name (model.layers.0.mlp.down_proj.weight), the
 * same name without ".weight" (the module: lm_head), and the GGUF name (blk.0.ffn_down.weight).
 * Embeddings, norms and the output head always stay 16-bit. Not here: writing (export_hf.c). */
#ifndef LB_PIPELINE_EXPORT_POLICY_H
#define LB_PIPELINE_EXPORT_POLICY_H

#include "core/core.h"

typedef enum lb_export_kind {
    LB_EXPORT_KEEP = 0,
    LB_EXPORT_E4M3 = 1,
    LB_EXPORT_E5M2 = 2,
    LB_EXPORT_NF4 = 3,
    LB_EXPORT_KIND_COUNT
} lb_export_kind;

typedef enum lb_export_scope { LB_SCOPE_GLOB = 0, LB_SCOPE_ATTN = 1, LB_SCOPE_MLP = 2 } lb_export_scope;

typedef struct lb_export_rule {
    lb_export_scope scope;
    char *glob; /* LB_SCOPE_GLOB only */
    lb_export_kind kind;
} lb_export_rule;

typedef struct lb_export_policy {
    lb_export_rule *rules;
    int n_rules;
} lb_export_policy;

/* "E4M3", "FP8_E5M2", "nf4", "keep", ... -> kind; false when unknown. */
bool lb_export_kind_parse(const char *s, size_t len, lb_export_kind *out);
const char *lb_export_kind_name(lb_export_kind k); /* "keep", "FP8_E4M3", "FP8_E5M2", "NF4" */
/* spec NULL or "" -> no rules; "@FILE" reads the rules from FILE. LB_ERR_ARG naming the item. */
lb_status lb_export_policy_parse(const char *spec, lb_export_policy *out);
void lb_export_policy_free(lb_export_policy *p);
/* The kind of a block linear: dflt unless a rule says otherwise (the last matching rule). */
lb_export_kind lb_export_policy_kind(const lb_export_policy *p, lb_export_kind dflt, bool attn, bool mlp, const char *hf,
                                     const char *gguf);

#endif
