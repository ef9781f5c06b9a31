/* `lowbit quantize` against llama-quantize itself: for each fixture GGUF and file type in
 * tests/golden/llama_quantize/tensors.json (written by tests/golden/make_llama_quantize_golden.py
 * through llama.cpp's own llama_model_quantize), lb_quantize_model must give every tensor the
 * same ggml type (per-tensor recipe and row-length fallbacks) and the very same bytes (FNV-1a 64
 * of the data, and the size). */
#include "io/gguf.h"
#include "quant/types.h"
#include "test_util.h"

#include <cjson/cJSON.h>
#include <string.h>

static uint64_t fnv1a64_bytes(const uint8_t *p, uint64_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

static void run_case(const cJSON *c)
{
    const char *fixture = cJSON_GetStringValue(cJSON_GetObjectItem(c, "fixture"));
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
    const cJSON *want = cJSON_GetObjectItem(c, "tensors");
    if (!EXPECT(fixture && type && cJSON_IsArray(want), "malformed case in tensors.json")) return;
    char out[512];
    snprintf(out, sizeof out, "%s/q-%s.gguf", lb_test_tmpdir(), type);
    lb_quantize_params qp = {.type = type, .n_threads = 2};
    lb_status st = lb_quantize_model(lb_test_source(fixture), out, &qp);
    if (!EXPECT(st == LB_OK, "%s %s: lb_quantize_model: %s", fixture, type, lb_errmsg())) return;
    lb_gguf *g = NULL;
    if (!EXPECT(lb_gguf_open(out, &g) == LB_OK, "%s: %s", out, lb_errmsg())) return;
    int n_same = 0, n_want = cJSON_GetArraySize(want);
    const cJSON *w;
    cJSON_ArrayForEach(w, want)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(w, "name"));
        const char *wtype = cJSON_GetStringValue(cJSON_GetObjectItem(w, "type"));
        const char *whash = cJSON_GetStringValue(cJSON_GetObjectItem(w, "fnv1a64"));
        double wbytes = lb_test_jnum(w, "n_bytes");
        const lb_tensor_info *t = name ? lb_gguf_find_tensor(g, name) : NULL;
        if (!EXPECT(t != NULL, "%s %s: tensor %s missing from lowbit's output", fixture, type, name ? name : "?"))
            continue;
        const lb_type_traits *tr = lb_type_traits_of(t->type);
        char hash[32];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a64_bytes(t->data, t->nbytes));
        bool ok = tr && wtype && strcmp(tr->name, wtype) == 0 && (double)t->nbytes == wbytes && whash &&
                  strcmp(hash, whash) == 0;
        CHECKF(ok, "%s %s: %s: lowbit %s %llu bytes fnv %s, llama-quantize %s %.0f bytes fnv %s", fixture, type, name,
               tr ? tr->name : "?", (unsigned long long)t->nbytes, hash, wtype ? wtype : "?", wbytes,
               whash ? whash : "?");
        n_same += ok;
    }
    CHECKF(lb_gguf_n_tensors(g) == n_want, "%s %s: lowbit wrote %lld tensors, llama-quantize %d", fixture, type,
           (long long)lb_gguf_n_tensors(g), n_want);
    printf("%-40s %-7s %d/%d tensors identical to llama-quantize\n", fixture, type, n_same, n_want);
    lb_gguf_close(g);
}

int main(void)
{
    cJSON *j = lb_test_load_json(lb_test_source("tests/golden/llama_quantize/tensors.json"));
    if (EXPECT(j != NULL, "cannot read tests/golden/llama_quantize/tensors.json")) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) run_case(c);
        cJSON_Delete(j);
    }
    return lb_test_finish();
}
