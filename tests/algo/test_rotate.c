/* Residual rotation (src/algo/rotate.c, applied by lowbit convert/quantize --rotate): the
 * matrices are orthogonal (Q^T Q = I to 1e-12; Hadamard entries +-1/sqrt(n)); rotating and
 * folding the norms leaves a model's logits unchanged, |rotated - original| <= 1e-4 x max|logit|
 * per row, on three real models (tinystories-656k: Hadamard, n_embd 128, a checkpoint storing only
 * lm_head; stories260K: llama2.c, Hadamard, 64; SmolLM2-135M: random orthogonal, 576, tied; and a
 * synthetic checkpoint with an untied head and outlier channels); the
 * rotated files hold all-ones norms and an untied output.weight; and --rotate with GPTQ writes a
 * loadable model and leaves no temporary rotated model behind. */
#include "algo/rotate.h"
#include "lowbit.h"
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_orthogonal(lb_rotation_kind kind, int64_t n, lb_rotation_kind want_used)
{
    double *Q = NULL;
    lb_rotation_kind used;
    if (!CHECK(lb_rotation_make(kind, n, 7, &Q, &used) == LB_OK)) return;
    CHECKF(used == want_used, "n=%lld: kind %d used, want %d", (long long)n, (int)used, (int)want_used);
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double d = 0;
            for (int64_t k = 0; k < n; k++) d += Q[k * n + i] * Q[k * n + j];
            double e = fabs(d - (i == j ? 1.0 : 0.0));
            if (e > worst) worst = e;
        }
    CHECKF(worst < 1e-12, "n=%lld kind %d: max |Q^T Q - I| = %.3g", (long long)n, (int)used, worst);
    if (used == LB_ROTATE_HADAMARD) {
        bool pm = true;
        for (int64_t i = 0; i < n * n; i++) pm &= fabs(fabs(Q[i]) * sqrt((double)n) - 1.0) < 1e-12;
        CHECKF(pm, "n=%lld: Hadamard entries are +-1/sqrt(n)", (long long)n);
    }
    double *Q2 = NULL;
    if (CHECK(lb_rotation_make(kind, n, 7, &Q2, &used) == LB_OK))
        CHECKF(memcmp(Q, Q2, (size_t)(n * n) * sizeof *Q) == 0, "n=%lld: same seed, same matrix", (long long)n);
    free(Q2);
    free(Q);
}

static void check_model(const char *name, const char *path, const char *rotate, int64_t vocab_cap)
{
    char plain[1024], rot[1024];
    snprintf(plain, sizeof plain, "%s/%s-f32.gguf", lb_test_tmpdir(), name);
    snprintf(rot, sizeof rot, "%s/%s-rot.gguf", lb_test_tmpdir(), name);
    if (!EXPECT(lb_convert(path, plain, &(lb_convert_params){.type = LB_CONVERT_F32}) == LB_OK, "%s: %s", name, lb_errmsg()) ||
        !EXPECT(lb_convert(path, rot, &(lb_convert_params){.type = LB_CONVERT_F32, .rotate = rotate, .rotate_seed = 3}) ==
                    LB_OK,
                "%s rotated: %s", name, lb_errmsg()))
        return;
    int32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (int32_t)((i * 37 + 5) % vocab_cap);
    int64_t nv = 0, nv2 = 0;
    float *a = lb_test_logits_of(plain, NULL, ids, 12, &nv), *b = lb_test_logits_of(rot, NULL, ids, 12, &nv2);
    if (a && b && CHECK(nv == nv2)) {
        double worst = lb_test_worst_rel_row_diff(b, a, 12, nv);
        CHECKF(worst <= 1e-4, "%s (%s): rotated logits within %.3g x max|logit| of the original (bound 1e-4)", name, rotate,
               worst);
        printf("  %s (%s): worst relative logit difference %.3g\n", name, rotate, worst);
    }
    free(a);
    free(b);
    lb_model *m = NULL;
    if (CHECK(lb_model_open(rot, &(lb_open_params){.no_weights = true, .quiet = true}, &m) == LB_OK)) {
        bool has_output = false;
        for (int64_t i = 0; i < lb_model_n_tensors(m); i++) {
            lb_tensor_desc td;
            lb_model_tensor(m, i, &td);
            has_output |= strcmp(td.name, "output.weight") == 0;
        }
        CHECKF(has_output, "%s: the rotated file has its own output.weight", name);
        lb_model_close(m);
    }
}

int main(void)
{
    check_orthogonal(LB_ROTATE_HADAMARD, 128, LB_ROTATE_HADAMARD);
    check_orthogonal(LB_ROTATE_HADAMARD, 1, LB_ROTATE_HADAMARD);
    check_orthogonal(LB_ROTATE_HADAMARD, 96, LB_ROTATE_ORTHOGONAL);
    check_orthogonal(LB_ROTATE_ORTHOGONAL, 64, LB_ROTATE_ORTHOGONAL);

    check_model("tinystories-656k", lb_test_shared("models/tinystories-656k-hf"), "hadamard", 2048);
    check_model("stories260K", lb_test_shared("models/stories260K-llama2c/stories260K.bin"), "hadamard", 512);
    const char *smol = lb_test_source(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (lb_test_file_exists(smol)) check_model("SmolLM2-135M", smol, "hadamard", 49152);
    else printf("  SKIP SmolLM2: %s not present\n", smol);

    /* an untied head (lm_head and embed_tokens both stored): make_synthetic_model, next to the CLI */
    char tool[1024], dir[1024], cmd[3200];
    snprintf(tool, sizeof tool, "%s", lb_test_cli());
    char *slash = strrchr(tool, '/');
    if (slash) snprintf(slash + 1, sizeof tool - (size_t)(slash + 1 - tool), "make_synthetic_model");
    snprintf(dir, sizeof dir, "%s/synth", lb_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' -o '%s' --preset tiny --layers 2 --tokenizer '%s' --threads 1 >/dev/null 2>&1", tool, dir,
             lb_test_shared("models/llama2-tokenizer"));
    if (EXPECT(system(cmd) == 0, "make_synthetic_model wrote %s", dir)) check_model("synthetic (untied)", dir, "hadamard", 32000);

    /* rotation + GPTQ: through a temporary rotated model that must not outlive the run */
    char out[1024], tmp[1100];
    snprintf(out, sizeof out, "%s/ts-rot-gptq.gguf", lb_test_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.rotated.tmp.gguf", out);
    lb_quantize_params qp = {.type = "Q4_0", .method = "gptq", .calib = lb_test_shared("data/tinystories/tinystories_train_head.txt"),
                             .calib_samples = 8, .calib_seq_len = 64, .rotate = "hadamard"};
    lb_status st = lb_quantize_model(lb_test_shared("models/tinystories-656k-hf"), out, &qp);
    CHECKF(st == LB_OK, "rotate + gptq: %s", lb_errmsg());
    CHECKF(lb_test_file_exists(out) && !lb_test_file_exists(tmp), "rotate + gptq wrote %s and removed %s", out, tmp);
    int64_t nv;
    float *l = st == LB_OK ? lb_test_logits_of(out, NULL, (int32_t[]){1, 2, 3}, 3, &nv) : NULL;
    CHECK(l != NULL && isfinite(l[0]));
    free(l);
    qp.imatrix = "whatever.dat";
    st = lb_quantize_model(lb_test_shared("models/tinystories-656k-hf"), out, &qp);
    CHECKF(st == LB_ERR_ARG && strstr(lb_errmsg(), "imatrix"), "rotate + an unrotated imatrix is refused: %s", lb_errmsg());
    lb_convert_params bad = {.rotate = "spin"};
    st = lb_convert(lb_test_shared("models/tinystories-656k-hf"), out, &bad);
    CHECKF(st == LB_ERR_ARG && strstr(lb_errmsg(), "spin"), "unknown rotation refused: %s", lb_errmsg());
    return lb_test_finish();
}
