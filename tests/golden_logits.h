/* Golden logits from Hugging Face transformers (PyTorch, float64) and the checks the forward pass
 * must pass against them, shared by tests/model/test_logits.c (the real models, golden from
 * tests/golden/make_logits_golden.py) and tests/model/test_synthetic_logits.c (the synthetic
 * fixtures, golden from tests/golden/make_synthetic_models.py). Not a test of its own.
 *
 * Criterion, per position t (one row of n_vocab logits):
 *     |got[t][v] - want[t][v]| <= 1e-4 * max_v' |want[t][v']|
 * i.e. 1e-4 relative to the row's largest magnitude, checked on every logit of the rows stored
 * in full, on the golden top-20 of every row, and on each row's logsumexp (which moves by at most
 * the largest logit error). The argmax must agree wherever the golden top-1/top-2 margin exceeds
 * twice the tolerance. Also: the golden's n_predict greedy tokens from lb_generate (temp 0, KV
 * cache) equal the golden greedy continuation (a full forward pass per step in transformers),
 * and the logits of a 7-token prefix equal the first rows of the full prompt (causality). */
#ifndef LB_GOLDEN_LOGITS_H
#define LB_GOLDEN_LOGITS_H

#include "lowbit.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define LB_GOLDEN_MAX_TOKENS 128
#define LB_GOLDEN_MAX_SOURCES 4

typedef struct lb_golden_row {
    int32_t argmax, top_id[32];
    double top_logit[32], logsumexp, absmax;
    int n_top;
} lb_golden_row;

typedef struct lb_golden {
    char name[64];
    char model_path[4096];                       /* "model_path", resolved; "" with sources */
    cJSON *doc;                                  /* the parsed JSON: owns the sources */
    const cJSON *sources[LB_GOLDEN_MAX_SOURCES]; /* {"path", "expect"} */
    int n_sources;
    int32_t ids[LB_GOLDEN_MAX_TOKENS];
    int64_t n_tokens, n_vocab, full_first;
    float *full; /* [n_tokens - full_first][n_vocab] */
    lb_golden_row rows[LB_GOLDEN_MAX_TOKENS];
    int32_t greedy[64];
    double margins[64];
    int64_t n_greedy, n_predict;
} lb_golden;

/* Reads <dir>/<name>.json and the full rows it names (relative to the repository root). With
 * with_sources the JSON must list 1..LB_GOLDEN_MAX_SOURCES "sources" {path, expect}; without, it
 * names one "model_path" ("shared:..." or "source:..."). Records a failed check and returns false
 * (g freed) when a file is missing or malformed. */
bool lb_golden_load(lb_golden *g, const char *dir, const char *name, bool with_sources);
void lb_golden_free(lb_golden *g);

/* Every check of the header comment on an open model m (d: its lb_model_describe), for the
 * prompt of g; `what` names the model in messages. */
void lb_golden_check_model(const lb_golden *g, const char *what, lb_model *m, const lb_model_desc *d);

#endif
