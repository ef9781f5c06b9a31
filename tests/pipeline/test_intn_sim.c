/* `lowbit quantize --type INT4 --group-size G` (simulated INT-N): every block linear's row, group
 * by group, holds at most 2^4 distinct values that are s * (q - z) for one f16-exact scale s and
 * integers q in [0, 15] (symmetric: z = 8), checked independently of lowbit's INT-N code by
 * recovering s from the values; a row whose length G does not divide is one group; every other
 * tensor equals the F32 conversion's bit for bit; the RTN and GPTQ files both decode to finite
 * values, and GPTQ's differ from RTN's (it moves weights). Real model: stories260K (rows of 64,
 * down rows of 172). */
#include "core/dtype.h"
#include "io/gguf.h"
#include "lowbit.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_linear(const char *name)
{
    const char *s[] = {"attn_q.", "attn_k.", "attn_v.", "attn_output.", "ffn_gate.", "ffn_up.", "ffn_down."};
    if (strncmp(name, "blk.", 4) != 0) return false;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (strstr(name, s[i])) return true;
    return false;
}

/* values v[n] of one group: the smallest positive |v| step divides every v into an integer
   offset from a common zero within 16 levels, and the step is f16-exact */
static bool on_int4_grid(const float *v, int64_t n)
{
    float amax = 0;
    for (int64_t i = 0; i < n; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
    if (amax == 0) return true;
    /* symmetric AutoGPTQ: scale = 2 amax_orig / 15, values s * (q - 8), q in 0..15; the largest
       magnitude present is s * k for some k <= 8: try every k */
    for (int k = 1; k <= 8; k++) {
        float s = amax / (float)k;
        if (lb_f16_to_f32(lb_f32_to_f16(s)) != s) continue;
        bool ok = true;
        for (int64_t i = 0; i < n && ok; i++) {
            float q = v[i] / s;
            ok = fabsf(q - rintf(q)) < 1e-4f && rintf(q) >= -8 && rintf(q) <= 7;
        }
        if (ok) return true;
    }
    return false;
}

static void check_file(const char *what, const char *path, const char *ref_path, int64_t group)
{
    lb_gguf *g = NULL, *r = NULL;
    if (!EXPECT(lb_gguf_open(path, &g) == LB_OK && lb_gguf_open(ref_path, &r) == LB_OK, "%s: open: %s", what,
                lb_errmsg()))
        return;
    int n_lin = 0, n_other = 0, bad = 0;
    for (int64_t i = 0; i < lb_gguf_n_tensors(g); i++) {
        const lb_tensor_info *t = lb_gguf_tensor(g, i);
        const lb_tensor_info *u = lb_gguf_find_tensor(r, t->name);
        if (!EXPECT(t->type == LB_TYPE_F32 && u && u->nbytes == t->nbytes, "%s: %s not F32 or missing", what, t->name))
            continue;
        const float *v = (const float *)t->data;
        if (!is_linear(t->name)) {
            n_other++;
            CHECKF(memcmp(t->data, u->data, t->nbytes) == 0, "%s: %s changed", what, t->name);
            continue;
        }
        n_lin++;
        int64_t cols = t->shape[t->n_dims - 1], rows = t->n_elements / cols, gs = cols % group == 0 ? group : cols;
        for (int64_t row = 0; row < rows; row++)
            for (int64_t c0 = 0; c0 < cols; c0 += gs)
                if (!on_int4_grid(v + row * cols + c0, gs) && bad++ < 3)
                    printf("  %s: %s row %lld group at %lld is not on a 4-bit grid\n", what, t->name, (long long)row,
                           (long long)c0);
        for (int64_t k = 0; k < t->n_elements; k++)
            if (!isfinite(v[k]) && bad++ < 3) printf("  %s: %s element %lld is %g\n", what, t->name, (long long)k, v[k]);
    }
    CHECKF(bad == 0, "%s: %d groups off the grid", what, bad);
    CHECKF(n_lin == 5 * 7 && n_other > 0, "%s: %d linears, %d other tensors", what, n_lin, n_other);
    printf("  %s: %d linears on the INT4 g%lld grid, %d other tensors unchanged\n", what, n_lin, (long long)group,
           n_other);
    lb_gguf_close(g);
    lb_gguf_close(r);
}

int main(void)
{
    char model[1024], calib[1024], args[4096];
    snprintf(model, sizeof model, "%s", lb_test_shared("models/stories260K-llama2c/stories260K.bin"));
    snprintf(calib, sizeof calib, "%s", lb_test_shared("data/tinystories/tinystories_train_head.txt"));
    const char *dir = lb_test_tmpdir();
    char f32[1200], rtn[1200], gptq[1200];
    snprintf(f32, sizeof f32, "%s/f32.gguf", dir);
    snprintf(rtn, sizeof rtn, "%s/rtn.gguf", dir);
    snprintf(gptq, sizeof gptq, "%s/gptq.gguf", dir);
    char *log = NULL;
    snprintf(args, sizeof args, "convert %s -o %s --type f32", model, f32);
    CHECKF(lb_test_run_cli(args, &log) == 0, "convert: %s", log);
    free(log);
    snprintf(args, sizeof args, "quantize %s -o %s --type INT4 --group-size 32", model, rtn);
    CHECKF(lb_test_run_cli(args, &log) == 0, "INT4 RTN: %s", log);
    free(log);
    snprintf(args, sizeof args,
             "quantize %s -o %s --type INT4 --group-size 32 --method gptq --calib %s --calib-samples 16 --calib-len 128",
             model, gptq, calib);
    CHECKF(lb_test_run_cli(args, &log) == 0, "INT4 GPTQ: %s", log);
    free(log);
    /* control: the float weights are not on such a grid (the check can fail) */
    lb_gguf *g = NULL;
    if (EXPECT(lb_gguf_open(f32, &g) == LB_OK, "open %s", f32)) {
        const lb_tensor_info *t = lb_gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && !on_int4_grid((const float *)t->data, 32));
        lb_gguf_close(g);
    }
    check_file("INT4 g32 RTN", rtn, f32, 32);
    check_file("INT4 g32 GPTQ", gptq, f32, 32);
    size_t na = 0, nb = 0;
    char *a = lb_test_read_file(rtn, &na), *b = lb_test_read_file(gptq, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, na) != 0);
    free(a);
    free(b);
    return lb_test_finish();
}
