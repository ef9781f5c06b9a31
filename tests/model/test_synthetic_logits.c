/* Golden logits on small randomly initialized models that cover what the real test models do not:
 * qwen2 (GQA, q/k/v biases, untied lm_head, F16), llama with rope_scaling llama3, head_dim != n_embd /
 * n_head and BF16 weights in three safetensors shards, mistral with rope_scaling linear; and the
 * same qwen2 and llama3 weights as GGUF files written by the gguf package (qwen2 keeps rotate-half,
 * llama has q/k permuted to interleaved pairs and llama3 scaling as rope_freqs.weight divisors).
 * Fixtures and golden data: tests/golden/make_synthetic_models.py -> tests/golden/models/, golden
 * from Hugging Face transformers in float64 (eager attention).
 *
 * For every source of a golden model: lb_model_describe reports what the generator wrote
 * ("sources"[].expect in the golden JSON), and the checks of tests/golden_logits.h hold:
 *     |got[t][v] - want[t][v]| <= 1e-4 * max_v' |want[t][v']|
 * on every logit of the rows stored in full, on the golden top-20 of every row and on each row's
 * logsumexp; the argmax agrees wherever the golden top-1/top-2 margin exceeds twice the tolerance.
 * The llama3 prompt is 96 tokens, past the original context of 64. 10 greedy tokens from
 * lb_generate (temp 0, KV cache) equal the golden greedy continuation; the logits of a 7-token
 * prefix equal the first rows of the full prompt. */
#include "golden_logits.h"
#include "lowbit.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GOLDEN_DIR "tests/golden/models/golden"

// ---- lb_model_describe against what the generator wrote ----

static const char *scaling_name(lb_rope_scaling_type t)
{
    switch (t) {
    case LB_ROPE_SCALING_NONE: return "none";
    case LB_ROPE_SCALING_LINEAR: return "linear";
    case LB_ROPE_SCALING_LLAMA3: return "llama3";
    default: return "?";
    }
}

static void check_desc(const char *what, const lb_model_desc *d, const cJSON *ex)
{
    struct {
        const char *key;
        int64_t got;
    } ints[] = {
        {"n_vocab", d->n_vocab}, {"n_embd", d->n_embd},       {"n_ff", d->n_ff},
        {"n_layer", d->n_layer}, {"n_head", d->n_head},       {"n_head_kv", d->n_head_kv},
        {"head_dim", d->head_dim}, {"n_ctx_train", d->n_ctx_train}, {"bos_id", d->bos_id},
        {"eos_id", d->eos_id},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, ints[i].key);
        if (!cJSON_IsNumber(v)) continue;
        EXPECT(ints[i].got == (int64_t)v->valuedouble, "%s: %s = %lld, want %lld", what, ints[i].key,
               (long long)ints[i].got, (long long)v->valuedouble);
    }
    struct {
        const char *key;
        double got;
    } flts[] = {{"norm_eps", d->norm_eps}, {"rope_theta", d->rope_theta}, {"rope_factor", d->rope_factor}};
    for (size_t i = 0; i < sizeof flts / sizeof flts[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, flts[i].key);
        if (!cJSON_IsNumber(v)) continue; /* null: the source does not carry it */
        EXPECT(fabs(flts[i].got - v->valuedouble) <= 1e-6 * fabs(v->valuedouble), "%s: %s = %.9g, want %.9g", what,
               flts[i].key, flts[i].got, v->valuedouble);
    }
    struct {
        const char *key;
        bool got;
    } bools[] = {{"rope_interleaved", d->rope_interleaved},
                 {"tied_embeddings", d->tied_embeddings},
                 {"qkv_bias", d->qkv_bias},
                 {"add_bos", d->add_bos}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(ex, bools[i].key);
        if (!cJSON_IsBool(v)) continue;
        EXPECT(bools[i].got == (bool)cJSON_IsTrue(v), "%s: %s = %d, want %d", what, bools[i].key, bools[i].got,
               cJSON_IsTrue(v));
    }
    struct {
        const char *key, *got;
    } strs[] = {{"format", d->format}, {"arch", d->arch}, {"rope_scaling", scaling_name(d->rope_scaling)}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(ex, strs[i].key));
        if (!want) continue;
        EXPECT(strs[i].got && strcmp(strs[i].got, want) == 0, "%s: %s = \"%s\", want \"%s\"", what, strs[i].key,
               strs[i].got ? strs[i].got : "(null)", want);
    }
}

// ---- per model and source ----

static void test_source(const lb_golden *g, const cJSON *src)
{
    const char *rel = cJSON_GetStringValue(cJSON_GetObjectItem(src, "path"));
    const char *path = lb_test_source(rel);
    const char *what = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    lb_model *m = NULL;
    lb_status st = lb_model_open(path, &(lb_open_params){.quiet = true}, &m);
    if (!EXPECT(st == LB_OK, "%s: lb_model_open(%s): %s", what, path, lb_errmsg())) return;
    lb_model_desc d = {0};
    if (CHECK(lb_model_describe(m, &d) == LB_OK)) {
        printf("  %s: %s %s, n_embd %lld, n_head %lld/%lld, head_dim %lld, rope %s x%g%s, %s, %s\n", what, d.format,
               d.arch, (long long)d.n_embd, (long long)d.n_head, (long long)d.n_head_kv, (long long)d.head_dim,
               scaling_name(d.rope_scaling), d.rope_factor, d.rope_interleaved ? " interleaved" : "",
               d.tied_embeddings ? "tied" : "untied", d.qkv_bias ? "qkv bias" : "no bias");
        check_desc(what, &d, cJSON_GetObjectItem(src, "expect"));
    }
    lb_golden_check_model(g, what, m, &d);
    lb_model_close(m);
}

static void test_model(const char *name)
{
    lb_golden g;
    if (!lb_golden_load(&g, GOLDEN_DIR, name, true)) return;
    printf("%s: %lld tokens, %d sources\n", name, (long long)g.n_tokens, g.n_sources);
    for (int i = 0; i < g.n_sources; i++) test_source(&g, g.sources[i]);
    lb_golden_free(&g);
}

int main(void)
{
    test_model("synth-qwen2");
    test_model("synth-llama3");
    test_model("synth-mistral");
    return lb_test_finish();
}
