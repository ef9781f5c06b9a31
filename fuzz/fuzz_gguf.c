/* libFuzzer entry point for the GGUF reader: the input is written to an in-memory file
 * (memfd) and opened by path, exactly as lb_gguf_open opens a model; every metadata value is
 * then formatted and every array element read back, so lazy accessors are fuzzed too.
 * Build: see fuzz/README.md. */
#define _GNU_SOURCE /* memfd_create */
#include "io/gguf.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lb_gguf *g = NULL;
    if (lb_gguf_open(path, &g) == LB_OK) {
        char buf[256];
        for (int64_t i = 0; i < lb_gguf_n_kv(g); i++) {
            lb_gguf_kv_format(g, i, buf, sizeof buf);
            uint64_t n = lb_gguf_arr_len(g, i);
            for (uint64_t j = 0; j < n && j < 4096; j++) {
                int64_t v;
                double d;
                lb_str s = lb_gguf_arr_str(g, i, j);
                (void)s;
                (void)lb_gguf_arr_i64(g, i, j, &v);
                (void)lb_gguf_arr_f64(g, i, j, &d);
            }
        }
        for (int64_t i = 0; i < lb_gguf_n_tensors(g); i++) {
            const lb_tensor_info *t = lb_gguf_tensor(g, i);
            volatile uint8_t sink = 0;
            if (t->nbytes) sink ^= t->data[0] ^ t->data[t->nbytes - 1]; /* data really is inside the file */
            (void)sink;
            (void)lb_gguf_find_tensor(g, t->name);
        }
    }
    lb_gguf_close(g);
    close(fd);
    return 0;
}
