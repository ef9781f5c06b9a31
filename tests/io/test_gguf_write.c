/* GGUF writer: round trips through our reader (every metadata type, string arrays, alignment,
 * tensors of several types written in pieces), the file layout checked by hand against the spec
 * (header counts, ne[] innermost first, offsets aligned), and failures: a missing directory, a
 * write error in the middle of the data (RLIMIT_FSIZE makes write() fail with EFBIG exactly as a
 * full disk fails with ENOSPC), incomplete tensors, bad arguments. A failed write must leave no
 * output, no temporary file, and an existing output untouched. */
#include "io/gguf.h"
#include "io/gguf_write.h"
#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *path_in_tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", lb_test_tmpdir(), name);
    return p;
}

/* No file in the temporary directory whose name starts with prefix + ".tmp." */
static bool no_temp_left(const char *prefix)
{
    DIR *d = opendir(lb_test_tmpdir());
    if (!d) return false;
    char want[256];
    snprintf(want, sizeof want, "%s.tmp.", prefix);
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, want, strlen(want)) == 0) {
            fprintf(stderr, "  temporary file left behind: %s\n", e->d_name);
            ok = false;
        }
    closedir(d);
    return ok;
}

static bool str_is(lb_str s, const char *want)
{
    bool ok = s.ptr && lb_str_eq(s, want);
    if (!ok) fprintf(stderr, "  got \"%.*s\" want \"%s\"\n", (int)(s.ptr ? s.len : 0), s.ptr ? s.ptr : "", want);
    return ok;
}

// ---- round trip ----

static void round_trip(uint64_t alignment)
{
    const char *out = path_in_tmp(alignment == 64 ? "rt64.gguf" : "rt.gguf");
    lb_gguf_writer *w;
    lb_status st = lb_gguf_writer_open(out, alignment, &w);
    CHECKF(st == LB_OK, "open: %s", lb_errmsg());
    if (st) return;
    lb_gguf_add_str(w, "general.architecture", "test");
    lb_gguf_add_u8(w, "t.u8", 200);
    lb_gguf_add_i8(w, "t.i8", -100);
    lb_gguf_add_u16(w, "t.u16", 60000);
    lb_gguf_add_i16(w, "t.i16", -30000);
    lb_gguf_add_u32(w, "t.u32", 4000000000u);
    lb_gguf_add_i32(w, "t.i32", -2000000000);
    lb_gguf_add_u64(w, "t.u64", (1ull << 63) + 5);
    lb_gguf_add_i64(w, "t.i64", -(1ll << 62));
    lb_gguf_add_f32(w, "t.f32", 0.15625f);
    lb_gguf_add_f64(w, "t.f64", -1.0 / 3.0);
    lb_gguf_add_bool(w, "t.true", true);
    lb_gguf_add_bool(w, "t.false", false);
    lb_gguf_add_str(w, "t.empty", "");
    lb_gguf_add_strn(w, "t.nul", "a\0b", 3); /* GGUF strings are counted, not NUL-terminated */
    const int32_t ai[3] = {-1, 0, 7};
    const float af[2] = {1.5f, -2.25f};
    const uint8_t ab[3] = {1, 0, 1};
    const double ad[1] = {3.25};
    lb_gguf_add_arr(w, "t.arr_i32", LB_GGUF_INT32, ai, 3);
    lb_gguf_add_arr(w, "t.arr_f32", LB_GGUF_FLOAT32, af, 2);
    lb_gguf_add_arr(w, "t.arr_bool", LB_GGUF_BOOL, ab, 3);
    lb_gguf_add_arr(w, "t.arr_f64", LB_GGUF_FLOAT64, ad, 1);
    lb_gguf_add_arr(w, "t.arr_empty", LB_GGUF_UINT16, NULL, 0);
    const char *strs[3] = {"\xe2\x96\x81the", "", "<0x0A>"};
    lb_gguf_add_arr_str(w, "t.arr_str", strs, NULL, 3);
    lb_gguf_arr_str_begin(w, "t.arr_str_pushed", 2);
    lb_gguf_arr_str_push(w, "xy", 1);
    lb_gguf_arr_str_push(w, "Ġ t", 4);
    lb_gguf_arr_str_end(w);

    /* tensors: F32 [3][5] in pieces, F16 [2][7], Q8_0 [2][64] raw blocks, I32 [4], F32 [1] */
    float a[15];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.5f - 3;
    uint16_t h[14];
    for (int i = 0; i < 14; i++) h[i] = lb_f32_to_f16((float)i);
    uint8_t q[2 * 2 * 34];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)(i * 7 + 1);
    int32_t iv[4] = {1, -2, 3, -4};
    float one = 42;
    lb_gguf_add_tensor_info(w, "a", LB_TYPE_F32, 2, (int64_t[]){3, 5});
    lb_gguf_add_tensor_info(w, "h", LB_TYPE_F16, 2, (int64_t[]){2, 7});
    lb_gguf_add_tensor_info(w, "blk.0.q", LB_TYPE_Q8_0, 2, (int64_t[]){2, 64});
    lb_gguf_add_tensor_info(w, "i", LB_TYPE_I32, 1, (int64_t[]){4});
    lb_gguf_add_tensor_info(w, "one", LB_TYPE_F32, 1, (int64_t[]){1});
    st = lb_gguf_write_header(w);
    CHECKF(st == LB_OK, "header: %s", lb_errmsg());
    lb_gguf_write_data(w, a, 12);           /* 3 floats */
    lb_gguf_write_data(w, a + 3, 12 * 4);   /* the other 12 */
    lb_gguf_write_data(w, h, sizeof h);
    lb_gguf_write_data(w, q, sizeof q);
    lb_gguf_write_data(w, iv, sizeof iv);
    lb_gguf_write_data(w, &one, sizeof one);
    st = lb_gguf_writer_finish(w);
    CHECKF(st == LB_OK, "finish: %s", lb_errmsg());
    CHECK(no_temp_left(alignment == 64 ? "rt64.gguf" : "rt.gguf"));

    lb_gguf *g;
    st = lb_gguf_open(out, &g);
    CHECKF(st == LB_OK, "reading back: %s", lb_errmsg());
    if (st) return;
    uint64_t al = alignment ? alignment : 32;
    CHECKF(lb_gguf_version(g) == 3, "version %u", lb_gguf_version(g));
    CHECKF(lb_gguf_alignment(g) == al, "alignment %llu", (unsigned long long)lb_gguf_alignment(g));
    CHECKF(lb_gguf_n_kv(g) == 22 + (alignment == 64), "n_kv %lld", (long long)lb_gguf_n_kv(g));
    CHECKF((lb_gguf_find(g, "general.alignment") >= 0) == (alignment == 64), "general.alignment only when not 32");
    int64_t i;
    double d;
    bool b;
    lb_str s;
    CHECK(lb_gguf_get_str(g, "general.architecture", &s) && str_is(s, "test"));
    CHECK(lb_gguf_get_i64(g, "t.u8", &i) && i == 200 && lb_gguf_kv_type(g, lb_gguf_find(g, "t.u8")) == LB_GGUF_UINT8);
    CHECK(lb_gguf_get_i64(g, "t.i8", &i) && i == -100 && lb_gguf_kv_type(g, lb_gguf_find(g, "t.i8")) == LB_GGUF_INT8);
    CHECK(lb_gguf_get_i64(g, "t.u16", &i) && i == 60000 && lb_gguf_kv_type(g, lb_gguf_find(g, "t.u16")) == LB_GGUF_UINT16);
    CHECK(lb_gguf_get_i64(g, "t.i16", &i) && i == -30000 && lb_gguf_kv_type(g, lb_gguf_find(g, "t.i16")) == LB_GGUF_INT16);
    CHECK(lb_gguf_get_i64(g, "t.u32", &i) && i == 4000000000LL);
    CHECK(lb_gguf_get_i64(g, "t.i32", &i) && i == -2000000000LL);
    CHECK(!lb_gguf_get_i64(g, "t.u64", &i) && lb_gguf_get_f64(g, "t.u64", &d) && d == 9223372036854775813.0);
    CHECK(lb_gguf_get_i64(g, "t.i64", &i) && i == -(1LL << 62));
    CHECK(lb_gguf_get_f64(g, "t.f32", &d) && d == 0.15625 && lb_gguf_kv_type(g, lb_gguf_find(g, "t.f32")) == LB_GGUF_FLOAT32);
    CHECK(lb_gguf_get_f64(g, "t.f64", &d) && d == -1.0 / 3.0);
    CHECK(lb_gguf_get_bool(g, "t.true", &b) && b);
    CHECK(lb_gguf_get_bool(g, "t.false", &b) && !b);
    CHECK(lb_gguf_get_str(g, "t.empty", &s) && s.len == 0);
    CHECK(lb_gguf_get_str(g, "t.nul", &s) && s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0);
    int64_t k = lb_gguf_find(g, "t.arr_i32");
    CHECK(k >= 0 && lb_gguf_arr_type(g, k) == LB_GGUF_INT32 && lb_gguf_arr_len(g, k) == 3);
    CHECK(k >= 0 && lb_gguf_arr_i64(g, k, 0, &i) && i == -1 && lb_gguf_arr_i64(g, k, 2, &i) && i == 7);
    k = lb_gguf_find(g, "t.arr_f32");
    CHECK(k >= 0 && lb_gguf_arr_f64(g, k, 1, &d) && d == -2.25);
    k = lb_gguf_find(g, "t.arr_bool");
    CHECK(k >= 0 && lb_gguf_arr_type(g, k) == LB_GGUF_BOOL && lb_gguf_arr_len(g, k) == 3);
    k = lb_gguf_find(g, "t.arr_f64");
    CHECK(k >= 0 && lb_gguf_arr_f64(g, k, 0, &d) && d == 3.25);
    k = lb_gguf_find(g, "t.arr_empty");
    CHECK(k >= 0 && lb_gguf_arr_type(g, k) == LB_GGUF_UINT16 && lb_gguf_arr_len(g, k) == 0);
    k = lb_gguf_find(g, "t.arr_str");
    CHECK(k >= 0 && lb_gguf_arr_type(g, k) == LB_GGUF_STRING && lb_gguf_arr_len(g, k) == 3);
    if (k >= 0) {
        CHECK(str_is(lb_gguf_arr_str(g, k, 0), "\xe2\x96\x81the"));
        CHECK(lb_gguf_arr_str(g, k, 1).len == 0);
        CHECK(str_is(lb_gguf_arr_str(g, k, 2), "<0x0A>"));
    }
    k = lb_gguf_find(g, "t.arr_str_pushed");
    CHECK(k >= 0 && lb_gguf_arr_len(g, k) == 2 && str_is(lb_gguf_arr_str(g, k, 0), "x") &&
          str_is(lb_gguf_arr_str(g, k, 1), "Ġ t"));

    CHECKF(lb_gguf_n_tensors(g) == 5, "n_tensors %lld", (long long)lb_gguf_n_tensors(g));
    const lb_tensor_info *t = lb_gguf_find_tensor(g, "a");
    CHECK(t && t->type == LB_TYPE_F32 && t->n_dims == 2 && t->shape[0] == 3 && t->shape[1] == 5);
    CHECK(t && lb_test_bits_equal("a", (const float *)t->data, a, 15));
    t = lb_gguf_find_tensor(g, "h");
    CHECK(t && t->type == LB_TYPE_F16 && t->shape[0] == 2 && t->shape[1] == 7 && memcmp(t->data, h, sizeof h) == 0);
    t = lb_gguf_find_tensor(g, "blk.0.q");
    CHECK(t && t->type == LB_TYPE_Q8_0 && t->nbytes == sizeof q && memcmp(t->data, q, sizeof q) == 0);
    t = lb_gguf_find_tensor(g, "i");
    CHECK(t && t->type == LB_TYPE_I32 && t->n_dims == 1 && memcmp(t->data, iv, sizeof iv) == 0);
    t = lb_gguf_find_tensor(g, "one");
    CHECK(t && t->nbytes == 4 && memcmp(t->data, &one, 4) == 0);
    for (int64_t j = 0; j < lb_gguf_n_tensors(g); j++) {
        t = lb_gguf_tensor(g, j);
        CHECKF(t->offset % al == 0, "tensor %s at offset %llu not aligned to %llu", t->name,
               (unsigned long long)t->offset, (unsigned long long)al);
    }
    /* by hand: header counts, and "a" stored with ne = {5, 3} (innermost first) */
    const uint8_t *m = lb_gguf_find_tensor(g, "a")->data - lb_gguf_find_tensor(g, "a")->offset;
    uint64_t cnt[2];
    memcpy(cnt, m + 8, 16);
    CHECKF(memcmp(m, "GGUF", 4) == 0 && cnt[0] == 5 && cnt[1] == (uint64_t)lb_gguf_n_kv(g), "header %llu %llu",
           (unsigned long long)cnt[0], (unsigned long long)cnt[1]);
    lb_gguf_close(g);
    /* the file ends with the last tensor's padding, as gguf-py writes it */
    size_t len;
    char *all = lb_test_read_file(out, &len);
    CHECKF(all && len % al == 0, "file size %zu is a multiple of the alignment", len);
    free(all);
}

// ---- failures ----

static lb_gguf_writer *small_writer(const char *out, int64_t n)
{
    lb_gguf_writer *w = NULL;
    if (lb_gguf_writer_open(out, 0, &w) != LB_OK) return NULL;
    lb_gguf_add_str(w, "general.architecture", "test");
    lb_gguf_add_tensor_info(w, "big", LB_TYPE_F32, 1, (int64_t[]){n});
    return w;
}

static void failures(void)
{
    /* 1. a directory that does not exist: open fails, naming the path */
    lb_gguf_writer *w = NULL;
    const char *bad = path_in_tmp("no/such/dir/x.gguf");
    lb_status st = lb_gguf_writer_open(bad, 0, &w);
    CHECKF(st == LB_ERR_IO && !w && strstr(lb_errmsg(), "no/such/dir"), "missing dir: %d %s", st, lb_errmsg());

    /* 2. a write error in the middle of the data: RLIMIT_FSIZE turns write() beyond 64 KiB into
     * EFBIG, the same path as ENOSPC on a full disk. The old output must survive. */
    const char *out = path_in_tmp("full.gguf");
    FILE *f = fopen(out, "wb");
    fputs("previous", f);
    fclose(f);
    int64_t n = 1 << 20; /* 4 MiB of floats */
    float *data = calloc((size_t)n, sizeof *data);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 65536;
    signal(SIGXFSZ, SIG_IGN);
    w = small_writer(out, n);
    CHECK(w != NULL);
    if (w && data) {
        CHECK(lb_gguf_write_header(w) == LB_OK);
        setrlimit(RLIMIT_FSIZE, &lim);
        for (int64_t i = 0; i < n; i += 4096) lb_gguf_write_data(w, data + i, 4096 * sizeof *data);
        CHECK(lb_gguf_writer_status(w) == LB_ERR_IO);
        st = lb_gguf_writer_finish(w);
        setrlimit(RLIMIT_FSIZE, &old);
        const char *msg = lb_errmsg();
        CHECKF(st == LB_ERR_IO && strstr(msg, out) && strstr(msg, "offset 65536"), "mid-stream write error: %d %s", st,
               msg);
        printf("  write error reported as: %s\n", msg);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    free(data);
    char *prev = lb_test_read_file(out, NULL);
    CHECKF(prev && strcmp(prev, "previous") == 0, "the previous output is untouched");
    free(prev);
    CHECK(no_temp_left("full.gguf"));

    /* 3. a tensor left incomplete: finish fails, nothing at the path, no temp file */
    out = path_in_tmp("short.gguf");
    w = small_writer(out, 8);
    CHECK(w && lb_gguf_write_header(w) == LB_OK);
    if (w) {
        float x[4] = {0};
        lb_gguf_write_data(w, x, sizeof x);
        st = lb_gguf_writer_finish(w);
        CHECKF(st == LB_ERR_ARG && strstr(lb_errmsg(), "'big' has 16 of its 32 bytes"), "incomplete: %s", lb_errmsg());
    }
    CHECK(!lb_test_file_exists(out));
    CHECK(no_temp_left("short.gguf"));

    /* 4. sticky argument errors: the first one is the one reported */
    out = path_in_tmp("dup.gguf");
    w = small_writer(out, 4);
    if (w) {
        lb_gguf_add_u32(w, "k", 1);
        lb_gguf_add_u32(w, "k", 2);                                         /* first error */
        lb_gguf_add_tensor_info(w, "t", LB_TYPE_Q8_0, 1, (int64_t[]){33}); /* would be the second */
        CHECK(lb_gguf_write_header(w) == LB_ERR_ARG);
        st = lb_gguf_writer_finish(w);
        CHECKF(st == LB_ERR_ARG && strstr(lb_errmsg(), "duplicate metadata key 'k'"), "sticky: %s", lb_errmsg());
    }
    CHECK(!lb_test_file_exists(out) && no_temp_left("dup.gguf"));

    /* 5. bad tensor infos are refused */
    static const struct {
        const char *name;
        lb_type type;
        int64_t row;
        const char *want;
    } bad_t[] = {
        {"q", LB_TYPE_Q8_0, 33, "block size"},
        {"0123456789012345678901234567890123456789012345678901234567890123", LB_TYPE_F32, 4, "1 to 63 bytes"},
        {"f8", LB_TYPE_F8_E4M3, 4, "no GGUF id"},
        {"z", LB_TYPE_F32, 0, "not positive"},
    };
    for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++) {
        out = path_in_tmp("badt.gguf");
        if (lb_gguf_writer_open(out, 0, &w) != LB_OK) continue;
        lb_gguf_add_tensor_info(w, bad_t[i].name, bad_t[i].type, 1, (int64_t[]){bad_t[i].row});
        st = lb_gguf_writer_finish(w);
        CHECKF(st == LB_ERR_ARG && strstr(lb_errmsg(), bad_t[i].want), "bad tensor %zu: %s", i, lb_errmsg());
    }
    CHECK(!lb_test_file_exists(out) && no_temp_left("badt.gguf"));

    /* 6. abort removes the temporary file */
    out = path_in_tmp("abort.gguf");
    w = small_writer(out, 4);
    lb_gguf_writer_abort(w);
    lb_gguf_writer_abort(NULL);
    CHECK(!lb_test_file_exists(out) && no_temp_left("abort.gguf"));
}

int main(void)
{
    round_trip(0);
    round_trip(64);
    failures();
    return lb_test_finish();
}
