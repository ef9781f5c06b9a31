/* Layer streaming (src/model/stream.c) against the resident model: the same logits and
 * perplexity, bit for bit, under several memory budgets (the smallest, which streams every
 * block one at a time, a few blocks pinned, all but the head pinned), with and without the
 * prefetch thread and with O_DIRECT, in both numerics. Models: the real SmolLM2-135M Q4_1 GGUF
 * (fetched by scripts/fetch-default-model.sh; tied head) and a sharded F16 safetensors
 * checkpoint from bench's make_synthetic_model (untied head, tensors across shard files).
 *
 * Also: a layer-major perplexity run reads the streamed blocks once per batch (one more batch,
 * exactly one more pass of bytes), greedy generation gives the same tokens, a budget below the
 * minimum is refused with the plan in the message, and a NaN planted in a streamed block is
 * reported at the forward pass naming the tensor. */
#include "io/source.h"
#include "lowbit.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_LOGIT_TOKENS 17
#define PPL_CTX 64
#define PPL_CHUNKS 2

typedef struct reference {
    float *logits1, *logits17; /* one token (the sgemv path), 17 tokens (sgemm) */
    double ppl;                /* batch 2 */
    int32_t greedy[8];
    int64_t n_vocab;
} reference;

static int32_t g_tokens[PPL_CTX * PPL_CHUNKS];

static lb_status open_model(const char *path, lb_open_params op, lb_model **m)
{
    op.quiet = true;
    op.plan_rows = PPL_CTX * PPL_CHUNKS;
    op.plan_ctx = PPL_CTX;
    op.plan_seqs = PPL_CHUNKS;
    return lb_model_open(path, &op, m);
}

static double ppl_of(lb_model *m, int64_t batch, lb_status *st)
{
    lb_ppl_params pp = {.protocol = LB_PPL_GPTQ, .n_ctx = PPL_CTX, .n_batch = batch, .n_chunks = PPL_CHUNKS};
    lb_ppl_result r;
    *st = lb_perplexity(m, g_tokens, PPL_CTX * PPL_CHUNKS, &pp, &r);
    return r.ppl;
}

static bool collect(void *user, int32_t tok)
{
    int32_t *out = user;
    for (int i = 0; i < 8; i++)
        if (out[i] < 0) {
            out[i] = tok;
            break;
        }
    return true;
}

static lb_status run_all(lb_model *m, reference *r)
{
    lb_model_desc d;
    lb_model_describe(m, &d);
    r->n_vocab = d.n_vocab;
    r->logits1 = malloc((size_t)d.n_vocab * sizeof(float));
    r->logits17 = malloc((size_t)(N_LOGIT_TOKENS * d.n_vocab) * sizeof(float));
    for (int i = 0; i < 8; i++) r->greedy[i] = -1;
    lb_status st;
    if ((st = lb_eval_logits(m, g_tokens, 1, r->logits1))) return st;
    if ((st = lb_eval_logits(m, g_tokens + 5, N_LOGIT_TOKENS, r->logits17))) return st;
    r->ppl = ppl_of(m, PPL_CHUNKS, &st);
    if (st) return st;
    lb_sample_params sp = {.temp = 0};
    return lb_generate(m, g_tokens, 9, 8, &sp, collect, r->greedy, NULL);
}

static void free_ref(reference *r)
{
    free(r->logits1);
    free(r->logits17);
}

static void compare(const char *what, const reference *want, const reference *got)
{
    char label[512];
    snprintf(label, sizeof label, "%s: logits of 1 token", what);
    lb_test_bits_equal(label, got->logits1, want->logits1, want->n_vocab);
    snprintf(label, sizeof label, "%s: logits of %d tokens", what, N_LOGIT_TOKENS);
    lb_test_bits_equal(label, got->logits17, want->logits17, N_LOGIT_TOKENS * want->n_vocab);
    CHECKF(got->ppl == want->ppl, "%s: perplexity %.17g, resident %.17g", what, got->ppl, want->ppl);
    snprintf(label, sizeof label, "%s: greedy tokens", what);
    lb_test_i32_equal(label, got->greedy, want->greedy, 8, 8);
}

/* Streamed bytes of one pass: every tensor of blocks >= n_resident, and the head if streamed. */
static uint64_t streamed_tensor_bytes(const char *path, const lb_stream_stats *ss)
{
    lb_source *src = NULL;
    if (lb_source_open(path, &src)) return 0;
    uint64_t sum = 0;
    for (int64_t i = 0; i < src->n_tensors; i++) {
        const char *n = src->tensors[i].name;
        int layer = -1;
        if (sscanf(n, "blk.%d.", &layer) == 1 || sscanf(n, "model.layers.%d.", &layer) == 1) {
            if (layer >= ss->n_resident) sum += src->tensors[i].nbytes;
        } else if (ss->output_streamed && (strcmp(n, "lm_head.weight") == 0 || strcmp(n, "output.weight") == 0 ||
                                           (strcmp(n, "token_embd.weight") == 0 && !lb_source_find(src, "output.weight")))) {
            sum += src->tensors[i].nbytes;
        }
    }
    lb_source_close(src);
    return sum;
}

// ---- one model ----

static void test_budgets(const char *name, const char *path, bool llamacpp)
{
    lb_model *m = NULL;
    lb_open_params base = {.llamacpp_numerics = llamacpp};
    if (!EXPECT(open_model(path, base, &m) == LB_OK, "%s: open: %s", name, lb_errmsg())) return;
    reference want = {0};
    lb_stream_stats ss;
    lb_model_stream_stats(m, &ss);
    bool ok = EXPECT(run_all(m, &want) == LB_OK, "%s: resident run: %s", name, lb_errmsg());
    lb_model_close(m);
    CHECKF(ss.n_resident == ss.n_layer && ss.min_bytes < ss.all_resident_bytes,
           "%s: no budget: %lld/%lld resident, min %llu < all %llu", name, (long long)ss.n_resident,
           (long long)ss.n_layer, (unsigned long long)ss.min_bytes, (unsigned long long)ss.all_resident_bytes);
    if (!ok) return free_ref(&want);
    uint64_t per_block = (ss.all_resident_bytes - ss.min_bytes) / (uint64_t)(ss.n_layer + 2);

    /* budget (above the minimum), prefetch, direct I/O, expected resident blocks (-1: any) */
    struct {
        uint64_t extra;
        bool no_prefetch, direct;
        int64_t resident;
    } cases[] = {
        {0, false, false, 0},
        {0, true, false, 0},
        {0, false, true, 0},
        {2 * per_block, false, false, -1},
        {ss.all_resident_bytes - ss.min_bytes - 1, false, false, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lb_open_params op = base;
        op.no_prefetch = cases[i].no_prefetch;
        op.direct_io = cases[i].direct;
        /* the minimum without prefetch is smaller: measure it for that case */
        lb_model *probe = NULL;
        if (open_model(path, op, &probe)) continue;
        lb_stream_stats ps;
        lb_model_stream_stats(probe, &ps);
        lb_model_close(probe);
        op.mem_limit = ps.min_bytes + cases[i].extra;
        char what[256];
        snprintf(what, sizeof what, "%s (%s numerics, limit %llu = min + %llu%s%s)", name, llamacpp ? "llamacpp" : "exact",
                 (unsigned long long)op.mem_limit, (unsigned long long)cases[i].extra,
                 op.no_prefetch ? ", no prefetch" : "", op.direct_io ? ", O_DIRECT" : "");
        lb_status so = open_model(path, op, &m);
        if (so && op.direct_io && strstr(lb_errmsg(), "O_DIRECT")) { /* e.g. tmpfs */
            printf("  SKIP %s: %s\n", what, lb_errmsg());
            continue;
        }
        if (!EXPECT(so == LB_OK, "%s: open: %s", what, lb_errmsg())) continue;
        reference got = {0};
        lb_status st = run_all(m, &got);
        lb_model_stream_stats(m, &ss);
        if (EXPECT(st == LB_OK, "%s: streamed run: %s", what, lb_errmsg())) compare(what, &want, &got);
        CHECKF(ss.n_resident < ss.n_layer || ss.output_streamed || ss.embd_streamed, "%s: something streams (%lld/%lld resident)", what,
               (long long)ss.n_resident, (long long)ss.n_layer);
        if (cases[i].resident >= 0)
            CHECKF(ss.n_resident == cases[i].resident, "%s: %lld blocks resident, want %lld", what,
                   (long long)ss.n_resident, (long long)cases[i].resident);
        CHECKF(ss.plan_bytes <= op.mem_limit, "%s: plan %llu within the limit", what, (unsigned long long)ss.plan_bytes);
        CHECKF(ss.bytes_read > 0 && ss.n_passes > 0, "%s: %llu bytes read in %lld passes", what,
               (unsigned long long)ss.bytes_read, (long long)ss.n_passes);
        free_ref(&got);

        /* layer-major: one more batch, exactly one more pass of reads (counted without prefetch,
         * whose read of the next pass's first block may land in either window) */
        if (op.no_prefetch) {
            lb_stream_stats s1, s2;
            lb_model_stream_stats(m, &s1);
            lb_status st1, st2;
            double p2 = ppl_of(m, PPL_CHUNKS, &st1); /* 1 batch of 2 chunks */
            lb_model_stream_stats(m, &s2);
            uint64_t one_batch = s2.bytes_read - s1.bytes_read;
            double p1 = ppl_of(m, 1, &st2); /* 2 batches of 1 chunk */
            lb_model_stream_stats(m, &s1);
            uint64_t two_batches = s1.bytes_read - s2.bytes_read;
            uint64_t tensors = streamed_tensor_bytes(path, &s1);
            CHECKF(st1 == LB_OK && st2 == LB_OK && p1 == p2, "%s: ppl batch 1 %.17g == batch 2 %.17g", what, p1, p2);
            uint64_t pass = two_batches - one_batch;
            CHECKF(pass >= tensors && pass <= tensors + tensors / 50,
                   "%s: one extra batch read %llu more bytes; the streamed tensors hold %llu", what,
                   (unsigned long long)pass, (unsigned long long)tensors);
        }
        lb_model_close(m);
    }
    lb_open_params op = base;
    op.mem_limit = ss.min_bytes / 2;
    m = NULL;
    lb_status st = open_model(path, op, &m);
    CHECKF(st == LB_ERR_ARG && m == NULL && strstr(lb_errmsg(), "memory plan") && strstr(lb_errmsg(), "raise --mem-limit"),
           "%s: a budget below the minimum is refused: %s", name, lb_errmsg());
    free_ref(&want);
}

/* A NaN in a block that streams is found when that block is first read, and named. */
static void test_nan_streamed(const char *path)
{
    lb_source *src = NULL;
    if (!CHECK(lb_source_open(path, &src) == LB_OK)) return;
    const lb_tensor_info *t = lb_source_find(src, "blk.29.ffn_down.weight");
    uint64_t off = t ? t->offset : 0;
    lb_source_close(src);
    if (!CHECK(off > 0)) return;
    char copy[1024], cmd[2200];
    snprintf(copy, sizeof copy, "%s/nan.gguf", lb_test_tmpdir());
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, copy);
    if (!CHECK(system(cmd) == 0)) return;
    FILE *f = fopen(copy, "r+b");
    const unsigned char nan16[2] = {0x00, 0x7e}; /* f16 NaN as the first block's scale */
    CHECK(f && fseek(f, (long)off, SEEK_SET) == 0 && fwrite(nan16, 1, 2, f) == 2);
    if (f) fclose(f);

    lb_model *m = NULL;
    lb_status st = open_model(copy, (lb_open_params){0}, &m);
    CHECKF(st == LB_ERR_NUMERIC && strstr(lb_errmsg(), "blk.29.ffn_down.weight"), "resident open rejects it: %s",
           lb_errmsg());
    lb_model *probe = NULL; /* the minimum budget, measured on the intact file */
    lb_stream_stats ps = {0};
    if (open_model(path, (lb_open_params){0}, &probe) == LB_OK) lb_model_stream_stats(probe, &ps);
    lb_model_close(probe);
    lb_open_params op = {.mem_limit = ps.min_bytes};
    if (!EXPECT(open_model(copy, op, &m) == LB_OK, "streamed open defers the check: %s", lb_errmsg())) return;
    float *logits = malloc(49152 * sizeof(float));
    st = lb_eval_logits(m, g_tokens, 1, logits);
    CHECKF(st == LB_ERR_NUMERIC && strstr(lb_errmsg(), "blk.29.ffn_down.weight") && strstr(lb_errmsg(), "offset"),
           "streamed forward names the tensor: %s", lb_errmsg());
    free(logits);
    lb_model_close(m);
}

/* A sharded F16 safetensors checkpoint from make_synthetic_model (next to the CLI). */
static const char *synthetic_model(void)
{
    static char dir[1024];
    char cmd[3072], tool[1024];
    snprintf(tool, sizeof tool, "%s", lb_test_cli());
    char *slash = strrchr(tool, '/');
    if (slash) snprintf(slash + 1, sizeof tool - (size_t)(slash + 1 - tool), "make_synthetic_model");
    snprintf(dir, sizeof dir, "%s/synth", lb_test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "'%s' -o '%s' --preset tiny --layers 6 --tokenizer '%s' --shard-size 3MiB --threads 1 >/dev/null 2>&1", tool,
             dir, lb_test_shared("models/llama2-tokenizer"));
    return system(cmd) == 0 ? dir : NULL;
}

int main(void)
{
    for (int i = 0; i < PPL_CTX * PPL_CHUNKS; i++) g_tokens[i] = (int32_t)((i * 7919 + 13) % 4000) + 20;
    const char *smol = lb_test_source(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (lb_test_file_exists(smol)) {
        char path[1024];
        snprintf(path, sizeof path, "%s", smol);
        test_budgets("SmolLM2-135M Q4_1", path, false);
        test_budgets("SmolLM2-135M Q4_1", path, true);
        test_nan_streamed(path);
    } else {
        printf("  SKIP SmolLM2: %s not present (scripts/fetch-default-model.sh fetches it)\n", smol);
    }
    const char *synth = synthetic_model();
    if (EXPECT(synth != NULL, "make_synthetic_model wrote a sharded F16 checkpoint")) test_budgets("synthetic F16", synth, false);
    return lb_test_finish();
}
