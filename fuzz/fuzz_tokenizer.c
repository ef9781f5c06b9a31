/* libFuzzer entry point for the tokenizer loaders: the first input byte picks the format
 * (tokenizer.json, SentencePiece tokenizer.model, llama2.c tokenizer.bin), the rest is written
 * to a temporary file with that extension and loaded with lb_tokenizer_load; a tokenizer that
 * loads then encodes and decodes a fixed text with special tokens, so the merge tables built
 * from hostile input are exercised too. Build: see fuzz/README.md. */
#include "tok/tokenizer.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const EXT[] = {"json", "model", "bin"};
    if (size < 1) return 0;
    char path[96];
    snprintf(path, sizeof path, "/tmp/lowbit-fuzz-tok-%d.%s", (int)getpid(), EXT[data[0] % 3]);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    lb_tokenizer *t = NULL;
    if (lb_tokenizer_load(path, &t) == LB_OK) {
        static const char text[] = "Once upon a time, \xe4\xb8\x96\xe7\x95\x8c 123 <s></s><|endoftext|>\n\n  x";
        int32_t *ids = NULL;
        int64_t n = 0;
        if (lb_tokenizer_encode(t, text, sizeof text - 1, true, true, &ids, &n) == LB_OK) {
            char *out = NULL;
            size_t len = 0;
            if (lb_tokenizer_decode(t, ids, n, &out, &len) == LB_OK) free(out);
            char piece[64];
            for (int64_t i = 0; i < n; i++) lb_tokenizer_piece(t, ids[i], piece, sizeof piece);
        }
        free(ids);
    }
    lb_tokenizer_free(t);
    unlink(path);
    return 0;
}
