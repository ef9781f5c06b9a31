/* libFuzzer entry point for the llama2.c checkpoint parser (legacy and "ak42" v1 headers),
 * on a fake read-only mapping of the input. Build: see fuzz/README.md. */
#include "io/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_mapping m = {(char *)"fuzz.bin", data, size};
    lb_llama2c_header h;
    lb_tensor_info *t = NULL;
    int64_t n = 0;
    if (lb_llama2c_parse(&m, &h, &t, &n) == LB_OK) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < n; i++)
            if (t[i].nbytes) sink ^= t[i].data[0] ^ t[i].data[t[i].nbytes - 1];
        (void)sink;
    }
    for (int64_t i = 0; i < n; i++) free(t[i].name);
    free(t);
    return 0;
}
