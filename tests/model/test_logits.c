/* Golden logits: the forward pass against Hugging Face transformers (PyTorch, float64) on three
 * real models, for a fixed 16-token prompt given as token ids (so this does not depend on our
 * tokenizer). The golden data and how it was made: tests/golden/make_logits_golden.py and
 * tests/golden/logits/<model>.json.
 *
 * The checks and their criterion are tests/golden_logits.h's: per position t,
 *     |got[t][v] - want[t][v]| <= 1e-4 * max_v' |want[t][v']|
 * on every logit of the rows stored in full (all 16 for the tiny models, the last 4 for SmolLM2),
 * on the golden top-20 of every row and on each row's logsumexp; the argmax agrees wherever the
 * golden top-1/top-2 margin exceeds twice the tolerance; 20 greedy tokens from lb_generate (temp 0,
 * KV cache) equal the golden greedy continuation; logits of a prefix equal the first rows of the
 * full prompt (causality). Here also: one thread and two threads give identical bits. */
#include "golden_logits.h"
#include "lowbit.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>

#define GOLDEN_DIR "tests/golden/logits"

// ---- per model ----

static void test_model(const char *name, bool optional)
{
    lb_golden g;
    if (!lb_golden_load(&g, GOLDEN_DIR, name, false)) return;
    if (optional && !lb_test_file_exists(g.model_path)) {
        printf("  SKIP %s: %s not present (scripts/fetch-default-model.sh fetches it)\n", name, g.model_path);
        lb_golden_free(&g);
        return;
    }
    lb_model *m = NULL;
    lb_status st = lb_model_open(g.model_path, &(lb_open_params){.quiet = true}, &m);
    if (!EXPECT(st == LB_OK, "%s: lb_model_open(%s): %s", name, g.model_path, lb_errmsg())) {
        lb_golden_free(&g);
        return;
    }
    lb_model_desc d = {0};
    CHECK(lb_model_describe(m, &d) == LB_OK);
    lb_golden_check_model(&g, name, m, &d);
    lb_model_close(m);
    lb_golden_free(&g);
}

/* Threads split rows, never a reduction: one and two threads give the same bits. */
static void test_threads(void)
{
    lb_golden g;
    if (!lb_golden_load(&g, GOLDEN_DIR, "tinystories-656k", false)) return;
    float *l1 = malloc((size_t)(g.n_tokens * g.n_vocab) * sizeof(float));
    float *l2 = malloc((size_t)(g.n_tokens * g.n_vocab) * sizeof(float));
    lb_model *m1 = NULL, *m2 = NULL;
    if (CHECK(lb_model_open(g.model_path, &(lb_open_params){.n_threads = 1, .quiet = true}, &m1) == LB_OK) &&
        CHECK(lb_model_open(g.model_path, &(lb_open_params){.n_threads = 2, .quiet = true}, &m2) == LB_OK) &&
        CHECK(lb_eval_logits(m1, g.ids, g.n_tokens, l1) == LB_OK) && CHECK(lb_eval_logits(m2, g.ids, g.n_tokens, l2) == LB_OK))
        lb_test_bits_equal("tinystories-656k logits, 1 vs 2 threads", l1, l2, g.n_tokens * g.n_vocab);
    lb_model_close(m1);
    lb_model_close(m2);
    free(l1);
    free(l2);
    lb_golden_free(&g);
}

int main(void)
{
    test_model("tinystories-656k", false);
    test_model("stories260k", false);
    test_model("smollm2-135m-q4_1", true);
    test_threads();
    return lb_test_finish();
}
