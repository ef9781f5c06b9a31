/* Hostile files against the readers, under AddressSanitizer + UBSan (with leak checking):
 * corrupted copies of the real models and fixtures, and GGUF / safetensors / llama2.c files
 * built byte by byte with one field wrong. For each: the status is not LB_OK, the message
 * names the file and (where there is one) the tensor and the byte offset, and nothing
 * crashes, reads out of bounds or leaks. */
#include "io/gguf.h"
#include "io/source.h"
#include "test_util.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---- helpers ----

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        LB_ASSERT(b->p != NULL);
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_zeros(buf *b, size_t n)
{
    while (n--) put(b, "", 1);
}
static void put_gstr(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static const char *tmp_path(const char *name)
{
    static char p[8][512];
    static int k;
    char *r = p[k++ % 8];
    snprintf(r, 512, "%s/%s", lb_test_tmpdir(), name);
    return r;
}

static const char *write_file(const char *name, const void *data, size_t n)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    LB_ASSERT(f != NULL);
    LB_ASSERT(fwrite(data, 1, n, f) == n);
    fclose(f);
    return path;
}

static char *find(char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    lb_status st = lb_read_file(path, &d, len);
    CHECKF(st == LB_OK, "reading %s: %s", path, lb_errmsg());
    return d;
}

/* Opens path through lb_source_open and checks: fails with the wanted status (or any failure
 * when want == LB_OK), nothing is returned, and the message holds every given substring. */
static void expect_fail(const char *what, const char *path, lb_status want, ...)
{
    lb_clear_error();
    lb_source *s = (lb_source *)1;
    lb_status st = lb_source_open(path, &s);
    bool ok = st != LB_OK && s == NULL && (want == LB_OK || st == want);
    CHECKF(ok, "%s: status %s (want %s), errmsg: %s", what, lb_status_name(st), want == LB_OK ? "any failure" : lb_status_name(want),
           lb_errmsg());
    if (st == LB_OK) lb_source_close(s);
    va_list ap;
    va_start(ap, want);
    for (const char *sub; (sub = va_arg(ap, const char *));)
        CHECKF(strstr(lb_errmsg(), sub) != NULL, "%s: message lacks \"%s\": %s", what, sub, lb_errmsg());
    va_end(ap);
    if (getenv("LOWBIT_TEST_VERBOSE")) printf("%-34s %s\n", what, lb_errmsg());
}

// ---- GGUF built field by field ----

typedef struct gguf_opts {
    char magic[5];
    uint32_t version;
    uint64_t n_tensors, n_kv; /* 0 = the real counts */
    uint64_t str_len;         /* 0 = the real length of test.str */
    uint32_t n_dims;          /* of tensor 1 ("blk.0.attn_q.weight") */
    uint32_t type;            /* of tensor 1 */
    uint64_t offset;          /* of tensor 1 (UINT64_MAX = the right one) */
    uint32_t alignment;       /* 0 = no general.alignment key (default 32) */
    const char *name0;        /* name of tensor 0 */
    bool nested_array, dup_key;
} gguf_opts;

static gguf_opts gguf_defaults(void)
{
    return (gguf_opts){"GGUF", 3, 0, 0, 0, 2, 0, UINT64_MAX, 0, "token_embd.weight", false, false};
}

/* tensor 0: F32 ne [8, 2] (64 bytes) at 0; tensor 1: ne [8, 4] (128 bytes) at 64 */
static const char *write_gguf(const char *name, gguf_opts o)
{
    buf b = {0};
    uint64_t n_kv = 2 + (o.alignment != 0) + o.nested_array + o.dup_key;
    put(&b, o.magic, 4);
    put_u32(&b, o.version);
    put_u64(&b, o.n_tensors ? o.n_tensors : 2);
    put_u64(&b, o.n_kv ? o.n_kv : n_kv);
    put_gstr(&b, "general.architecture");
    put_u32(&b, LB_GGUF_STRING);
    put_gstr(&b, "llama");
    put_gstr(&b, "test.str");
    put_u32(&b, LB_GGUF_STRING);
    put_u64(&b, o.str_len ? o.str_len : 5);
    put(&b, "hello", 5);
    if (o.alignment) {
        put_gstr(&b, "general.alignment");
        put_u32(&b, LB_GGUF_UINT32);
        put_u32(&b, o.alignment);
    }
    if (o.nested_array) {
        put_gstr(&b, "test.nested");
        put_u32(&b, LB_GGUF_ARRAY);
        put_u32(&b, LB_GGUF_ARRAY);
        put_u64(&b, 1);
    }
    if (o.dup_key) {
        put_gstr(&b, "test.str");
        put_u32(&b, LB_GGUF_UINT8);
        put(&b, "x", 1);
    }
    put_gstr(&b, o.name0);
    put_u32(&b, 2);
    put_u64(&b, 8);
    put_u64(&b, 2);
    put_u32(&b, 0);
    put_u64(&b, 0);
    put_gstr(&b, "blk.0.attn_q.weight");
    put_u32(&b, o.n_dims);
    for (uint32_t d = 0; d < o.n_dims && d < 8; d++) put_u64(&b, d == 0 ? 8 : d == 1 ? 4 : 1);
    put_u32(&b, o.type);
    put_u64(&b, o.offset == UINT64_MAX ? 64 : o.offset);
    uint32_t align = o.alignment && (o.alignment & (o.alignment - 1)) == 0 ? o.alignment : 32;
    put_zeros(&b, (align - b.n % align) % align);
    for (int k = 0; k < 48; k++) put_u32(&b, 0x3f800000u); /* 1.0f x 48 = 192 bytes */
    const char *path = write_file(name, b.p, b.n);
    free(b.p);
    return path;
}

static void test_gguf(void)
{
    gguf_opts o = gguf_defaults();
    lb_source *s = NULL;
    const char *good = write_gguf("good.gguf", o);
    lb_status st = lb_source_open(good, &s);
    CHECKF(st == LB_OK && s && s->n_tensors == 2, "the unmodified built GGUF must open: %s", lb_errmsg());
    if (s) CHECK(s->tensors[1].shape[0] == 4 && s->tensors[1].shape[1] == 8 && s->tensors[1].offset % 32 == 0);
    lb_source_close(s);

    o = gguf_defaults();
    memcpy(o.magic, "GGUX", 4);
    const char *p = write_gguf("bad_magic.gguf", o);
    expect_fail("gguf bad magic", p, LB_ERR_FORMAT, p, "magic", "offset 0", NULL);

    o = gguf_defaults();
    o.version = 1;
    p = write_gguf("v1.gguf", o);
    expect_fail("gguf v1", p, LB_ERR_UNSUPPORTED, p, "version 1", NULL);

    o = gguf_defaults();
    o.version = 0x03000000; /* big-endian v3 */
    p = write_gguf("big_endian.gguf", o);
    expect_fail("gguf big-endian", p, LB_ERR_UNSUPPORTED, p, "big-endian", NULL);

    o = gguf_defaults();
    o.n_dims = 5;
    p = write_gguf("ndims5.gguf", o);
    expect_fail("gguf n_dims 5", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "n_dims 5", "offset", NULL);

    o = gguf_defaults();
    o.str_len = 1ull << 62;
    p = write_gguf("huge_string.gguf", o);
    expect_fail("gguf string length 2^62", p, LB_ERR_FORMAT, p, "test.str", "string length 4611686018427387904", "offset 89",
                NULL);

    o = gguf_defaults();
    o.n_tensors = 1ull << 60;
    p = write_gguf("huge_tensor_count.gguf", o);
    expect_fail("gguf tensor count 2^60", p, LB_ERR_FORMAT, p, "tensor count 1152921504606846976", "offset 8", NULL);

    o = gguf_defaults();
    o.n_kv = UINT64_MAX;
    p = write_gguf("huge_kv_count.gguf", o);
    expect_fail("gguf kv count 2^64-1", p, LB_ERR_FORMAT, p, "kv count", "offset 16", NULL);

    o = gguf_defaults();
    o.n_kv = 1000; /* plausible for the file size, but the kvs run into the tensor infos */
    p = write_gguf("kv_count_lies.gguf", o);
    expect_fail("gguf kv count lies", p, LB_ERR_FORMAT, p, "offset", NULL);

    o = gguf_defaults();
    o.offset = 1u << 20;
    p = write_gguf("offset_beyond.gguf", o);
    expect_fail("gguf offset beyond file", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight' (index 1)", "beyond end of file",
                "offset", NULL);

    o = gguf_defaults();
    o.offset = UINT64_MAX - 31; /* aligned, and data_offset + offset overflows */
    p = write_gguf("offset_overflow.gguf", o);
    expect_fail("gguf offset overflow", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "overflows", NULL);

    o = gguf_defaults();
    o.offset = 65;
    p = write_gguf("misaligned.gguf", o);
    expect_fail("gguf misaligned offset", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "alignment 32", "offset", NULL);

    o = gguf_defaults();
    o.alignment = 64;
    o.offset = 96;
    p = write_gguf("misaligned64.gguf", o);
    expect_fail("gguf misaligned to custom 64", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "alignment 64", NULL);

    o = gguf_defaults();
    o.alignment = 48;
    p = write_gguf("align48.gguf", o);
    expect_fail("gguf alignment not power of 2", p, LB_ERR_FORMAT, p, "general.alignment", "power-of-two", NULL);

    o = gguf_defaults();
    o.type = 99;
    p = write_gguf("type99.gguf", o);
    expect_fail("gguf unknown ggml type", p, LB_ERR_UNSUPPORTED, p, "'blk.0.attn_q.weight'", "unknown ggml type 99", "offset",
                NULL);

    o = gguf_defaults();
    o.type = 64; /* lowbit's safetensors-only F8_E4M3 id is not a ggml type */
    p = write_gguf("type64.gguf", o);
    expect_fail("gguf safetensors-only type id", p, LB_ERR_UNSUPPORTED, p, "unknown ggml type 64", NULL);

    o = gguf_defaults();
    o.type = 2; /* Q4_0 with ne[0] = 8: not a multiple of the 32-element block */
    p = write_gguf("q4_row.gguf", o);
    expect_fail("gguf row not a block multiple", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "block size 32", NULL);

    o = gguf_defaults();
    o.name0 = "blk.0.attn_q.weight";
    p = write_gguf("dup_tensor.gguf", o);
    expect_fail("gguf duplicate tensor", p, LB_ERR_FORMAT, p, "'blk.0.attn_q.weight'", "duplicate", NULL);

    o = gguf_defaults();
    o.dup_key = true;
    p = write_gguf("dup_key.gguf", o);
    expect_fail("gguf duplicate key", p, LB_ERR_FORMAT, p, "test.str", "duplicate key", NULL);

    o = gguf_defaults();
    o.nested_array = true;
    p = write_gguf("nested.gguf", o);
    expect_fail("gguf nested array", p, LB_ERR_UNSUPPORTED, p, "test.nested", "nested", NULL);

    /* every truncation of the gguf-python fixture fails cleanly */
    size_t len;
    char *fix = slurp(lb_test_source("tests/golden/io/all_types.gguf"), &len);
    if (fix) {
        /* GGUFReader: the last tensor, t.i32, ends at 15632; GGUFWriter pads the file to 15680 */
        const size_t data_end = 15632;
        CHECKF(len == 15680, "fixture size %zu", len);
        int n_ok = 0, n_cuts = 0;
        for (size_t cut = 0; cut < data_end; cut += (cut < 2048 ? 1 : 61)) {
            const char *tp = write_file("cut.gguf", fix, cut);
            lb_gguf *g = NULL;
            lb_status cst = lb_gguf_open(tp, &g);
            n_cuts++;
            if (cst != LB_OK && g == NULL && strstr(lb_errmsg(), tp) && strstr(lb_errmsg(), "offset")) n_ok++;
            else fprintf(stderr, "  cut at %zu: status %d, %s\n", cut, cst, lb_errmsg());
            lb_gguf_close(g);
        }
        CHECKF(n_ok == n_cuts, "%d of %d truncated GGUFs failed with file and offset", n_ok, n_cuts);
        /* cut inside the last tensor's data names it */
        const char *tp = write_file("cut_data.gguf", fix, data_end - 3);
        expect_fail("gguf cut in tensor data", tp, LB_ERR_FORMAT, tp, "'t.i32' (index 4)", "beyond end of file", NULL);
        /* a byte flipped anywhere in the header never crashes */
        for (size_t k = 0; k < 2048 && k < len; k += 3) {
            char save = fix[k];
            fix[k] = (char)(fix[k] ^ 0xA5);
            const char *fp = write_file("flip.gguf", fix, len);
            lb_gguf *g = NULL;
            if (lb_gguf_open(fp, &g) == LB_OK) {
                char tmp[128];
                for (int64_t i = 0; i < lb_gguf_n_kv(g); i++) lb_gguf_kv_format(g, i, tmp, sizeof tmp);
            }
            lb_gguf_close(g);
            fix[k] = save;
        }
        free(fix);
    }
}

// ---- safetensors ----

/* An 8-byte length, the header text, then data_len bytes of data. */
static const char *write_st(const char *name, const char *json, size_t data_len)
{
    buf b = {0};
    put_u64(&b, strlen(json));
    put(&b, json, strlen(json));
    for (size_t i = 0; i < data_len; i++) put(&b, "\x11", 1);
    const char *path = write_file(name, b.p, b.n);
    free(b.p);
    return path;
}

static void test_safetensors(void)
{
    const char *real = lb_test_shared("models/tinystories-656k-hf/model.safetensors");
    size_t len;
    char *d = slurp(real, &len);
    if (!d) return;
    /* truncated at several cut points: into the length, the header, the data */
    size_t cuts[] = {0, 4, 7, 8, 9, 100, 2167, 2168, 2169, 2168 + 1048575, len / 2, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        const char *p = write_file("cut.safetensors", d, cuts[k]);
        char what[64];
        snprintf(what, sizeof what, "safetensors cut at %zu", cuts[k]);
        if (cuts[k] < 8 + 2160) expect_fail(what, p, LB_ERR_FORMAT, p, "offset 0", NULL);
        else expect_fail(what, p, LB_ERR_FORMAT, p, "tensor '", "beyond end of file", "offset", NULL);
    }
    const char *p = write_file("cut_lm_head.safetensors", d, 2168 + 1048575);
    expect_fail("safetensors cut in lm_head", p, LB_ERR_FORMAT, p, "'lm_head.weight'", "beyond end of file (size 1050743", NULL);

    uint64_t n;
    memcpy(&n, d, 8);
    uint64_t bad = len - 7;
    memcpy(d, &bad, 8);
    p = write_file("hlen_beyond.safetensors", d, len);
    expect_fail("safetensors header length beyond file", p, LB_ERR_FORMAT, p, "header length", "offset 0", NULL);
    bad = 1ull << 63;
    memcpy(d, &bad, 8);
    p = write_file("hlen_huge.safetensors", d, len);
    expect_fail("safetensors header length 2^63", p, LB_ERR_FORMAT, p, "header length 9223372036854775808", NULL);
    memcpy(d, &n, 8);

    /* invalid JSON inside the real header */
    char *colon = memchr(d + 8, ':', n);
    if (colon) {
        *colon = ';';
        p = write_file("bad_json.safetensors", d, len);
        expect_fail("safetensors invalid JSON", p, LB_ERR_FORMAT, p, "invalid JSON", "offset", NULL);
        *colon = ':';
    }
    /* F32 -> F16 in the first entry: shape no longer matches the byte range */
    char *f32 = find(d + 8, n, "\"F32\"");
    if (f32) {
        memcpy(f32, "\"F16\"", 5);
        p = write_file("dtype_mismatch.safetensors", d, len);
        expect_fail("safetensors dtype/shape mismatch", p, LB_ERR_FORMAT, p, "tensor '", "needs", "offset", NULL);
        memcpy(f32, "\"F7?\"", 5);
        p = write_file("dtype_unknown.safetensors", d, len);
        expect_fail("safetensors unknown dtype (real)", p, LB_ERR_FORMAT, p, "unknown dtype 'F7?'", NULL);
        memcpy(f32, "\"F32\"", 5);
    }
    free(d);

    p = write_st("ok.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
    lb_source *s = NULL;
    CHECKF(lb_source_open(p, &s) == LB_OK, "the unmodified built safetensors must open: %s", lb_errmsg());
    lb_source_close(s);

    p = write_st("outside.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 8);
    expect_fail("safetensors offsets outside data", p, LB_ERR_FORMAT, p, "'w'", "beyond end of file", "offset 65", NULL);
    p = write_st("overlap.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 24);
    expect_fail("safetensors overlapping", p, LB_ERR_FORMAT, p, "'b'", "overlaps tensor 'a'", "offset", NULL);
    p = write_st("mismatch.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16);
    expect_fail("safetensors shape x dtype != bytes", p, LB_ERR_FORMAT, p, "'w'", "shape [3, 3]", "needs 9 x 4 bytes", NULL);
    p = write_st("unknown_dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_fail("safetensors unknown dtype", p, LB_ERR_FORMAT, p, "'w'", "unknown dtype 'Q4'", NULL);
    p = write_st("bool.safetensors", "{\"w\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
    expect_fail("safetensors BOOL", p, LB_ERR_UNSUPPORTED, p, "'w'", "BOOL is not supported", NULL);
    p = write_st("u8.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
    expect_fail("safetensors U8", p, LB_ERR_UNSUPPORTED, p, "'w'", "U8 is not supported", NULL);
    p = write_st("reversed.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,0]}}", 16);
    expect_fail("safetensors reversed offsets", p, LB_ERR_FORMAT, p, "'w'", "reversed", NULL);
    p = write_st("neg_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16);
    expect_fail("safetensors negative dim", p, LB_ERR_FORMAT, p, "'w'", "shape[0]", NULL);
    p = write_st("frac_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,16]}}", 16);
    expect_fail("safetensors fractional dim", p, LB_ERR_FORMAT, p, "'w'", "shape[0]", NULL);
    p = write_st("huge_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,16]}}",
                 16);
    expect_fail("safetensors shape product overflow", p, LB_ERR_FORMAT, p, "'w'", "overflow", NULL);
    p = write_st("huge_offset.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[1e300,1e300]}}", 16);
    expect_fail("safetensors offset 1e300", p, LB_ERR_FORMAT, p, "'w'", "data_offsets", NULL);
    p = write_st("rank5.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,4],\"data_offsets\":[0,16]}}", 16);
    expect_fail("safetensors rank 5", p, LB_ERR_UNSUPPORTED, p, "'w'", "rank 5", NULL);
    p = write_st("dup.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8);
    expect_fail("safetensors duplicate name", p, LB_ERR_FORMAT, p, "'w'", "duplicate", NULL);
    p = write_st("no_offsets.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8);
    expect_fail("safetensors missing data_offsets", p, LB_ERR_FORMAT, p, "'w'", "data_offsets", NULL);
    p = write_st("not_object.safetensors", "[1,2,3]", 0);
    expect_fail("safetensors header not an object", p, LB_ERR_FORMAT, p, "not a JSON object", NULL);
    p = write_st("trailing.safetensors", "{}  x", 0);
    expect_fail("safetensors bytes after JSON", p, LB_ERR_FORMAT, p, "after the JSON", "offset 12", NULL);
    p = write_st("unterminated.safetensors", "{\"w\":\"\\", 0);
    expect_fail("safetensors unterminated string", p, LB_ERR_FORMAT, p, "invalid JSON", NULL);
    p = write_st("meta.safetensors", "{\"__metadata__\":[1]}", 0);
    expect_fail("safetensors bad __metadata__", p, LB_ERR_FORMAT, p, "__metadata__", NULL);
}

// ---- sharded checkpoints and HF directories ----

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *d = slurp(from, &len);
    if (!d) return;
    FILE *f = fopen(to, "wb");
    LB_ASSERT(f && fwrite(d, 1, len, f) == len);
    fclose(f);
    free(d);
}

static const char *make_dir(const char *name)
{
    const char *p = tmp_path(name);
    LB_ASSERT(mkdir(p, 0755) == 0);
    return p;
}

static void copy_into(const char *dir, const char *src_dir, const char *name)
{
    char *from = lb_path_join(src_dir, name), *to = lb_path_join(dir, name);
    copy_file(from, to);
    free(from);
    free(to);
}

static void write_into(const char *dir, const char *name, const char *text)
{
    char *to = lb_path_join(dir, name);
    FILE *f = fopen(to, "wb");
    LB_ASSERT(f && fputs(text, f) >= 0);
    fclose(f);
    free(to);
}

static void test_dirs(void)
{
    const char *fix = lb_test_source("tests/golden/io/sharded");
    const char *s1 = "model-00001-of-00002.safetensors", *s2 = "model-00002-of-00002.safetensors";
    const char *idx = "model.safetensors.index.json";

    /* index names a shard that is not there */
    const char *dir = make_dir("missing_shard");
    copy_into(dir, fix, "config.json");
    copy_into(dir, fix, idx);
    copy_into(dir, fix, s1);
    expect_fail("sharded: missing shard", dir, LB_ERR_IO, idx, s2, "cannot open", NULL);

    /* a weight_map entry absent from its shard */
    dir = make_dir("missing_tensor");
    copy_into(dir, fix, "config.json");
    copy_into(dir, fix, s1);
    copy_into(dir, fix, s2);
    write_into(dir, idx,
               "{\"weight_map\": {\"a.f32\": \"model-00001-of-00002.safetensors\","
               " \"zz.ghost\": \"model-00002-of-00002.safetensors\"}}");
    expect_fail("sharded: tensor missing from shard", dir, LB_ERR_FORMAT, idx, "'zz.ghost'", s2, NULL);

    /* an entry mapped to the wrong shard */
    dir = make_dir("wrong_shard");
    copy_into(dir, fix, "config.json");
    copy_into(dir, fix, s1);
    copy_into(dir, fix, s2);
    write_into(dir, idx, "{\"weight_map\": {\"a.f32\": \"model-00002-of-00002.safetensors\","
                         " \"h.i8\": \"model-00001-of-00002.safetensors\"}}");
    expect_fail("sharded: tensor in another shard", dir, LB_ERR_FORMAT, idx, "'a.f32'", s1, "offset", NULL);

    /* the same tensor in two shards */
    dir = make_dir("dup_across");
    copy_into(dir, fix, "config.json");
    copy_into(dir, fix, s1);
    char *from = lb_path_join(fix, s1), *to = lb_path_join(dir, "model-00002-of-00002.safetensors");
    copy_file(from, to);
    free(from);
    free(to);
    write_into(dir, idx, "{\"weight_map\": {\"a.f32\": \"model-00001-of-00002.safetensors\","
                         " \"b.bf16\": \"model-00002-of-00002.safetensors\"}}");
    expect_fail("sharded: duplicate across shards", dir, LB_ERR_FORMAT, "duplicate", s1, s2, NULL);

    /* path traversal and malformed index */
    dir = make_dir("traversal");
    copy_into(dir, fix, "config.json");
    write_into(dir, idx, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
    expect_fail("sharded: path in weight_map", dir, LB_ERR_FORMAT, idx, "not a plain file name", NULL);
    dir = make_dir("bad_index");
    copy_into(dir, fix, "config.json");
    write_into(dir, idx, "{\"weight_map\": {\"a\": ");
    expect_fail("sharded: invalid index JSON", dir, LB_ERR_FORMAT, idx, "invalid JSON", "offset", NULL);
    dir = make_dir("no_weight_map");
    copy_into(dir, fix, "config.json");
    write_into(dir, idx, "{\"metadata\": {}}");
    expect_fail("sharded: no weight_map", dir, LB_ERR_FORMAT, idx, "weight_map", NULL);

    /* a directory without config.json */
    dir = make_dir("no_config");
    copy_into(dir, lb_test_shared("models/tinystories-656k-hf"), "model.safetensors");
    expect_fail("dir without config.json", dir, LB_ERR_FORMAT, dir, "config.json is missing", NULL);
    /* config.json that is not JSON */
    dir = make_dir("bad_config");
    write_into(dir, "config.json", "{\"hidden_size\": 12,,}");
    copy_into(dir, lb_test_shared("models/tinystories-656k-hf"), "model.safetensors");
    expect_fail("dir with invalid config.json", dir, LB_ERR_FORMAT, "config.json", "invalid JSON", "at offset", NULL);
    /* config.json but no weights */
    dir = make_dir("no_weights");
    write_into(dir, "config.json", "{}");
    expect_fail("dir without weights", dir, LB_ERR_FORMAT, dir, "model.safetensors", NULL);
    write_into(dir, "pytorch_model.bin", "PK\x03\x04");
    expect_fail("dir with pytorch weights", dir, LB_ERR_UNSUPPORTED, dir, "pytorch_model.bin", NULL);

    expect_fail("nonexistent path", "/nonexistent/lowbit/model.gguf", LB_ERR_IO, "/nonexistent/lowbit/model.gguf", NULL);
    const char *p = write_file("mystery.dat", "hello, not a model", 18);
    expect_fail("unknown format", p, LB_ERR_UNSUPPORTED, p, "unknown format", NULL);
    p = write_file("empty.gguf", "", 0);
    expect_fail("empty gguf", p, LB_ERR_FORMAT, p, "magic", NULL);
}

// ---- llama2.c ----

static void test_llama2c(void)
{
    const char *real = lb_test_shared("models/stories260K-llama2c/stories260K.bin");
    size_t len;
    char *d = slurp(real, &len);
    if (!d) return;
    size_t cuts[] = {0, 3, 27, 28, 1000, 131100, len / 2, len - 4096, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        const char *p = write_file("cut.bin", d, cuts[k]);
        char what[64];
        snprintf(what, sizeof what, "llama2.c cut at %zu", cuts[k]);
        expect_fail(what, p, LB_ERR_FORMAT, p, "offset", NULL);
    }
    const char *p = write_file("cut_mid.bin", d, 131100 + 10);
    expect_fail("llama2.c cut in attn_norm", p, LB_ERR_FORMAT, p, "'blk.0.attn_norm.weight'", "beyond end of file",
                "offset 131100", "implies 1056540 bytes", NULL);
    p = write_file("cut_tables.bin", d, len - 8);
    expect_fail("llama2.c cut in RoPE tables", p, LB_ERR_FORMAT, p, "does not match the 1056540 bytes", NULL);

    char *longer = malloc(len + 4);
    memcpy(longer, d, len);
    memset(longer + len, 0, 4);
    p = write_file("longer.bin", longer, len + 4);
    expect_fail("llama2.c trailing bytes", p, LB_ERR_FORMAT, p, "file size 1056544 does not match", NULL);
    free(longer);

    int32_t save[7];
    memcpy(save, d, sizeof save);
    int32_t v = 0;
    memcpy(d + 12, &v, 4); /* n_heads = 0 */
    p = write_file("heads0.bin", d, len);
    expect_fail("llama2.c n_heads 0", p, LB_ERR_FORMAT, p, "n_heads = 0", "offset 12", NULL);
    v = 7;
    memcpy(d + 12, &v, 4); /* 64 % 7 != 0 */
    p = write_file("heads7.bin", d, len);
    expect_fail("llama2.c dim % n_heads", p, LB_ERR_FORMAT, p, "n_heads 7", NULL);
    memcpy(d, save, sizeof save);
    v = 3;
    memcpy(d + 16, &v, 4); /* 8 % 3 != 0 */
    p = write_file("kv3.bin", d, len);
    expect_fail("llama2.c n_kv_heads", p, LB_ERR_FORMAT, p, "n_kv_heads 3", NULL);
    memcpy(d, save, sizeof save);
    int32_t huge[7] = {INT32_MAX - 1, INT32_MAX, INT32_MAX, 2, 2, -INT32_MAX, INT32_MAX};
    memcpy(d, huge, sizeof huge);
    p = write_file("huge.bin", d, len);
    expect_fail("llama2.c absurd header", p, LB_ERR_FORMAT, p, "offset", NULL);
    int32_t overflow[7] = {1 << 30, INT32_MAX, INT32_MAX, 2, 2, -INT32_MAX, INT32_MAX};
    memcpy(d, overflow, sizeof overflow);
    p = write_file("overflow.bin", d, len);
    expect_fail("llama2.c header sizes overflow", p, LB_ERR_FORMAT, p, "overflows", "n_layers=2147483647", NULL);
    memcpy(d, save, sizeof save);

    /* version-1 header: bad padding, version 2, truncated */
    uint8_t hdr[256 + 64] = {0};
    uint32_t magic = 0x616b3432;
    int32_t version = 1, params[7] = {64, 172, 5, 8, 4, 512, 512};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &version, 4);
    memcpy(hdr + 8, params, sizeof params);
    hdr[36] = 1;
    p = write_file("v1_short.bin", hdr, sizeof hdr);
    expect_fail("llama2.c v1 truncated", p, LB_ERR_FORMAT, p, "'blk.0.attn_norm.weight'", "beyond end of file", "offset 256",
                NULL);
    p = write_file("v1_header_only.bin", hdr, 100);
    expect_fail("llama2.c v1 header cut", p, LB_ERR_FORMAT, p, "too small", NULL);
    hdr[200] = 1;
    p = write_file("v1_padding.bin", hdr, sizeof hdr);
    expect_fail("llama2.c v1 padding", p, LB_ERR_FORMAT, p, "offset 200", "padding", NULL);
    hdr[200] = 0;
    hdr[36] = 2;
    p = write_file("v1_flag.bin", hdr, sizeof hdr);
    expect_fail("llama2.c v1 shared flag 2", p, LB_ERR_FORMAT, p, "offset 36", NULL);
    hdr[36] = 1;
    version = 2;
    memcpy(hdr + 4, &version, 4);
    p = write_file("v2.bin", hdr, sizeof hdr);
    expect_fail("llama2.c version 2", p, LB_ERR_UNSUPPORTED, p, "version 2", NULL);
    free(d);

    /* the parser on a fake mapping: the fuzz entry point's path */
    uint8_t tiny[28] = {0};
    lb_mapping m = {(char *)"fake.bin", tiny, sizeof tiny};
    lb_llama2c_header h;
    lb_tensor_info *t = NULL;
    int64_t n = 0;
    CHECK(lb_llama2c_parse(&m, &h, &t, &n) != LB_OK && n == 0 && strstr(lb_errmsg(), "fake.bin"));
    free(t);
}

int main(void)
{
    test_gguf();
    test_safetensors();
    test_dirs();
    test_llama2c();
    return lb_test_finish();
}
