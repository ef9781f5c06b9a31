/* libFuzzer entry point for the safetensors parser: the input is handed over as a fake
 * read-only mapping (no file), so header length, JSON, dtypes, shapes and offsets are all
 * attacker-controlled. Build: see fuzz/README.md. */
#include "io/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_mapping m = {(char *)"fuzz.safetensors", data, size};
    lb_tensor_info *t = NULL;
    int64_t n = 0;
    cJSON *meta = NULL;
    if (lb_safetensors_parse(&m, &t, &n, &meta) == LB_OK) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < n; i++)
            if (t[i].nbytes) sink ^= t[i].data[0] ^ t[i].data[t[i].nbytes - 1]; /* inside the buffer */
        (void)sink;
    }
    for (int64_t i = 0; i < n; i++) free(t[i].name);
    free(t);
    cJSON_Delete(meta);
    return 0;
}
