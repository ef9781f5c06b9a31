/* GGUFs written by `lowbit quantize --method gptq` load in llama.cpp and score there the
 * perplexity lowbit reports: |ppl_lowbit / ppl_llamacpp - 1| <= 1e-3 (DESIGN.md's 0.1%).
 * The files and llama.cpp's numbers (llama-cpp-python, llama-perplexity's loop) are golden data
 * from tests/golden/make_gptq_gguf_golden.py (committed files: GPTQ's bytes depend on the CPU's
 * BLAS kernels, so they are not rebuilt here). lowbit runs them with --numerics llamacpp, the
 * 8-bit activations of llama.cpp's CPU backend. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    cJSON *g = lb_test_load_json(lb_test_source("tests/golden/gptq_gguf/golden.json"));
    if (!EXPECT(g != NULL, "cannot read tests/golden/gptq_gguf/golden.json")) return lb_test_finish();
    /* the text as the golden read it: its first text_cut bytes */
    char text_path[1024], cut_path[1200];
    lb_test_resolve(lb_test_jstr(g, "text"), text_path, sizeof text_path);
    snprintf(cut_path, sizeof cut_path, "%s/text.txt", lb_test_tmpdir());
    size_t len = 0;
    char *text = lb_test_read_file(text_path, &len);
    int64_t cut = lb_test_jint(g, "text_cut");
    if (!EXPECT(text && cut > 0 && (size_t)cut <= len, "cannot read %s", text_path)) return lb_test_finish();
    FILE *f = fopen(cut_path, "wb");
    CHECK(f && fwrite(text, 1, (size_t)cut, f) == (size_t)cut && fclose(f) == 0);
    free(text);

    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "cases"))
    {
        char args[4096], *out = NULL;
        snprintf(args, sizeof args, "ppl %s --text %s --ctx %lld --chunks %lld --numerics llamacpp --threads 2 --json",
                 lb_test_source(lb_test_jstr(c, "file")), cut_path, (long long)lb_test_jint(g, "ctx"),
                 (long long)lb_test_jint(g, "chunks"));
        int rc = lb_test_run_cli(args, &out);
        cJSON *j = NULL;
        const char *brace = out ? strchr(out, '{') : NULL;
        if (EXPECT(rc == 0 && brace, "lowbit %s failed (%d): %s", args, rc, out)) j = cJSON_Parse(brace);
        double got = lb_test_jnum(j, "ppl"), want = lb_test_jnum(c, "ppl");
        CHECKF(fabs(got / want - 1) <= 1e-3, "%s: lowbit ppl %.6f, llama.cpp %.6f (%+.3f%%)", lb_test_jstr(c, "type"),
               got, want, 100 * (got / want - 1));
        CHECKF(lb_test_jint(j, "n_scored") == lb_test_jint(c, "n_scored"), "%s: %lld scored tokens, llama.cpp %lld",
               lb_test_jstr(c, "type"), (long long)lb_test_jint(j, "n_scored"), (long long)lb_test_jint(c, "n_scored"));
        printf("%-7s lowbit %.6f  llama.cpp %.6f  (%+.4f%%)\n", lb_test_jstr(c, "type"), got, want,
               100 * (got / want - 1));
        cJSON_Delete(j);
        free(out);
        n++;
    }
    CHECKF(n >= 3, "only %d cases in the golden", n);
    cJSON_Delete(g);
    return lb_test_finish();
}
