/* Importance matrix (lb_imatrix_*, `lowbit imatrix`) against independent truth.
 *
 *  - sums: tinystories-656k on the first chunks of tinystories_train_head.txt must give the
 *    per-column sums of x^2 and the counts that HF transformers (float64, forward pre-hooks on
 *    every linear) gives, tests/golden/imatrix/tinystories-656k.json, written by
 *    tests/golden/make_imatrix_golden.py: |got - want| <= 1e-4 * |want| (+ 1e-6 of the entry's
 *    largest sum, for columns near zero). lowbit's tokenizer must produce the script's ids.
 *  - the result does not depend on the thread count (bit for bit) nor on the batch (1e-6).
 *  - files: write -> read round trips in both formats; llama.cpp's legacy .dat and a GGUF
 *    imatrix written by the script (struct.pack in save_imatrix_legacy's layout; the gguf
 *    package's GGUFWriter) read back to the golden sums; re-writing the script's GGUF as .dat
 *    and as .gguf gives the script's two files byte for byte.
 *  - bad input: truncated files at every byte, lying counts and sizes -> LB_ERR_FORMAT whose
 *    message names the file and a byte offset; never a crash.
 *  - the CLI: exit codes, output format by extension, an existing OUT untouched on failure. */
#include "lowbit.h"
#include "test_util.h"

#include "io/gguf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-4
#define MODEL "models/tinystories-656k-hf"

typedef struct golden {
    cJSON *j;
    int64_t n_ctx, n_chunks, text_bytes;
    int32_t *ids;
    int64_t n_ids;
    const cJSON *entries;
} golden;

static lb_model *open_model(int n_threads)
{
    lb_open_params op = {.n_threads = n_threads, .quiet = true};
    lb_model *m = NULL;
    lb_status st = lb_model_open(lb_test_shared(MODEL), &op, &m);
    CHECKF(st == LB_OK, "lb_model_open: %s", lb_errmsg());
    return m;
}

static lb_imatrix *collect(lb_model *m, const golden *g, int64_t n_batch, bool process_output)
{
    lb_imatrix_params p = {.n_ctx = g->n_ctx, .n_chunks = g->n_chunks, .n_batch = n_batch,
                           .process_output = process_output, .dataset = "tinystories_train_head.txt"};
    lb_imatrix *im = NULL;
    lb_status st = lb_imatrix_collect(m, g->ids, g->n_ids, &p, &im);
    CHECKF(st == LB_OK, "lb_imatrix_collect: %s", lb_errmsg());
    return im;
}

/* Every golden entry is in im with the golden count and sums within rel (+ abs_frac of the
 * entry's largest sum); no other entries. */
static void check_against_golden(const char *what, const lb_imatrix *im, const golden *g, double rel, double abs_frac)
{
    lb_imatrix_info info;
    lb_imatrix_describe(im, &info);
    CHECKF(info.n_entries == cJSON_GetArraySize(g->entries), "%s: %lld entries, golden has %d", what,
           (long long)info.n_entries, cJSON_GetArraySize(g->entries));
    const cJSON *e;
    cJSON_ArrayForEach(e, g->entries)
    {
        int64_t i = lb_imatrix_find(im, e->string);
        lb_imatrix_entry got;
        if (!EXPECT(i >= 0 && lb_imatrix_get(im, i, &got), "%s: no entry '%s'", what, e->string)) continue;
        const cJSON *s = cJSON_GetObjectItem(e, "sum2");
        int64_t n = cJSON_GetArraySize(s);
        CHECKF(got.count == lb_test_jint(e, "count"), "%s: %s count %lld, golden %lld", what, e->string,
               (long long)got.count, (long long)lb_test_jint(e, "count"));
        if (!EXPECT(got.n_in == n, "%s: %s has %lld columns, golden %lld", what, e->string, (long long)got.n_in,
                    (long long)n))
            continue;
        float *gw = malloc((size_t)n * sizeof(float)), *gg = malloc((size_t)n * sizeof(float));
        double mx = 0;
        for (int64_t j = 0; j < n; j++) {
            gw[j] = (float)cJSON_GetArrayItem(s, (int)j)->valuedouble;
            gg[j] = (float)got.sum2[j];
            if (gw[j] > mx) mx = gw[j];
        }
        char label[160];
        snprintf(label, sizeof label, "%s: %s in_sum2", what, e->string);
        lb_test_close(label, gg, gw, n, rel, abs_frac * mx);
        free(gw);
        free(gg);
    }
}

/* Same names, counts, and sums within rel (0 = bitwise). */
static void check_same(const char *what, const lb_imatrix *a, const lb_imatrix *b, double rel)
{
    lb_imatrix_info ia, ib;
    lb_imatrix_describe(a, &ia);
    lb_imatrix_describe(b, &ib);
    if (!EXPECT(ia.n_entries == ib.n_entries, "%s: %lld vs %lld entries", what, (long long)ia.n_entries,
                (long long)ib.n_entries))
        return;
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < ia.n_entries; i++) {
        lb_imatrix_entry x, y;
        lb_imatrix_get(a, i, &x);
        lb_imatrix_get(b, i, &y);
        if (strcmp(x.name, y.name) || x.n_in != y.n_in || x.count != y.count) {
            if (bad++ < 3)
                printf("  %s: entry %lld: %s [%lld] x %lld vs %s [%lld] x %lld\n", what, (long long)i, x.name,
                       (long long)x.n_in, (long long)x.count, y.name, (long long)y.n_in, (long long)y.count);
            continue;
        }
        for (int64_t j = 0; j < x.n_in; j++) {
            double d = fabs(x.sum2[j] - y.sum2[j]), r = d / (fabs(y.sum2[j]) > 0 ? fabs(y.sum2[j]) : 1);
            if (r > worst) worst = r;
            if (rel == 0 ? memcmp(&x.sum2[j], &y.sum2[j], sizeof(double)) != 0 : r > rel) {
                if (bad++ < 3)
                    printf("  %s: %s[%lld] %.17g vs %.17g\n", what, x.name, (long long)j, x.sum2[j], y.sum2[j]);
            }
        }
    }
    CHECKF(bad == 0, "%s: %d mismatches (worst relative difference %.3g)", what, bad, worst);
}

static bool load_golden(golden *g)
{
    memset(g, 0, sizeof *g);
    g->j = lb_test_load_json(lb_test_source("tests/golden/imatrix/tinystories-656k.json"));
    if (!EXPECT(g->j != NULL, "cannot read tests/golden/imatrix/tinystories-656k.json")) return false;
    g->n_ctx = lb_test_jint(g->j, "n_ctx");
    g->n_chunks = lb_test_jint(g->j, "n_chunks");
    g->text_bytes = lb_test_jint(g->j, "text_bytes");
    g->entries = cJSON_GetObjectItem(g->j, "entries");
    const cJSON *ids = cJSON_GetObjectItem(g->j, "ids");
    g->n_ids = cJSON_GetArraySize(ids);
    g->ids = malloc((size_t)(g->n_ids ? g->n_ids : 1) * sizeof(int32_t));
    for (int64_t i = 0; i < g->n_ids; i++) g->ids[i] = (int32_t)cJSON_GetArrayItem(ids, (int)i)->valuedouble;
    return EXPECT(g->n_ctx > 0 && g->n_chunks > 0 && g->n_ids == g->n_ctx * g->n_chunks && g->entries,
                  "golden imatrix json malformed");
}

// ---- sums, threads, batch ----

static void test_tokens(lb_model *m, const golden *g)
{
    size_t len = 0;
    char *text = lb_test_read_file(lb_test_shared("data/tinystories/tinystories_train_head.txt"), &len);
    if (!EXPECT(text && len >= (size_t)g->text_bytes, "cannot read the calibration text")) {
        free(text);
        return;
    }
    int32_t *tok = NULL;
    int64_t n = 0;
    lb_status st = lb_tokenize(m, text, (size_t)g->text_bytes, true, false, &tok, &n);
    if (EXPECT(st == LB_OK, "lb_tokenize: %s", lb_errmsg()))
        lb_test_i32_equal("token ids (first chunks) vs HF tokenizers", tok, g->ids, n < g->n_ids ? n : g->n_ids, g->n_ids);
    free(tok);
    free(text);
}

// ---- files ----

static char *path_in_tmp(const char *name)
{
    size_t n = strlen(lb_test_tmpdir()) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", lb_test_tmpdir(), name);
    return p;
}

static bool write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_round_trips(const lb_imatrix *im)
{
    char *pg = path_in_tmp("rt.gguf"), *pd = path_in_tmp("rt.dat"), *pg2 = path_in_tmp("rt2.gguf");
    lb_imatrix *a = NULL, *b = NULL;
    CHECKF(lb_imatrix_save(im, pg) == LB_OK, "save gguf: %s", lb_errmsg());
    CHECKF(lb_imatrix_save(im, pd) == LB_OK, "save dat: %s", lb_errmsg());
    lb_status st = lb_imatrix_load(pg, 0, &a);
    if (EXPECT(st == LB_OK, "load gguf: %s", lb_errmsg())) {
        /* GGUF stores float sums: equal to the doubles rounded to float */
        check_same("gguf round trip (float rounding)", a, im, 6e-8);
        lb_imatrix_info ia, io;
        lb_imatrix_describe(a, &ia);
        lb_imatrix_describe(im, &io);
        CHECKF(ia.chunk_count == io.chunk_count && ia.chunk_size == io.chunk_size, "gguf chunk %lld x %lld",
               (long long)ia.chunk_count, (long long)ia.chunk_size);
        CHECKF(ia.n_datasets == 1 && strcmp(lb_imatrix_dataset(a, 0), "tinystories_train_head.txt") == 0,
               "gguf datasets: %lld", (long long)ia.n_datasets);
        /* a second write of what was read is the same file, byte for byte */
        CHECKF(lb_imatrix_save(a, pg2) == LB_OK, "re-save gguf: %s", lb_errmsg());
        size_t n1 = 0, n2 = 0;
        char *f1 = lb_test_read_file(pg, &n1), *f2 = lb_test_read_file(pg2, &n2);
        CHECKF(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0, "gguf re-save differs (%zu vs %zu bytes)", n1, n2);
        free(f1);
        free(f2);
    }
    lb_imatrix_info io;
    lb_imatrix_describe(im, &io);
    st = lb_imatrix_load(pd, io.chunk_size, &b);
    if (EXPECT(st == LB_OK, "load dat: %s", lb_errmsg())) {
        /* (sum / count) * ncall in float, then * chunk_size back: a few float roundings */
        check_same("dat round trip", b, im, 3e-7);
        lb_imatrix_info ib;
        lb_imatrix_describe(b, &ib);
        CHECKF(ib.chunk_count == io.chunk_count && ib.n_datasets == 1 &&
                   strcmp(lb_imatrix_dataset(b, 0), "tinystories_train_head.txt") == 0,
               "dat chunk_count %lld, %lld datasets", (long long)ib.chunk_count, (long long)ib.n_datasets);
    }
    /* a failed write leaves the previous file as it was */
    CHECK(lb_imatrix_save(im, "/nonexistent-dir/x.dat") != LB_OK);
    CHECK(lb_imatrix_save(im, "/nonexistent-dir/x.gguf") != LB_OK);
    lb_imatrix_close(a);
    lb_imatrix_close(b);
    free(pg);
    free(pd);
    free(pg2);
}

static void test_python_files(const golden *g)
{
    const char *pdat = lb_test_source("tests/golden/imatrix/tinystories-656k.dat");
    const char *pgguf = lb_test_source("tests/golden/imatrix/tinystories-656k.gguf");
    lb_imatrix *d = NULL, *q = NULL;
    lb_status st = lb_imatrix_load(pdat, g->n_ctx, &d);
    if (EXPECT(st == LB_OK, "load python .dat: %s", lb_errmsg())) {
        check_against_golden("python .dat", d, g, 3e-7, 0);
        lb_imatrix_info i;
        lb_imatrix_describe(d, &i);
        CHECKF(i.chunk_count == g->n_chunks && i.n_datasets == 1, "python .dat: %lld chunks, %lld datasets",
               (long long)i.chunk_count, (long long)i.n_datasets);
    }
    st = lb_imatrix_load(pgguf, 0, &q);
    if (EXPECT(st == LB_OK, "load python .gguf: %s", lb_errmsg())) {
        check_against_golden("python .gguf", q, g, 6e-8, 0);
        lb_imatrix_info i;
        lb_imatrix_describe(q, &i);
        CHECKF(i.chunk_count == g->n_chunks && i.chunk_size == g->n_ctx && i.n_datasets == 1 &&
                   strcmp(lb_imatrix_dataset(q, 0), "tinystories_train_head.txt") == 0,
               "python .gguf: %lld chunks of %lld, %lld datasets", (long long)i.chunk_count, (long long)i.chunk_size,
               (long long)i.n_datasets);
        /* our legacy writer, fed the script's float sums, writes the script's .dat exactly */
        char *out = path_in_tmp("from_python.dat");
        CHECKF(lb_imatrix_save(q, out) == LB_OK, "save: %s", lb_errmsg());
        size_t n1 = 0, n2 = 0;
        char *a = lb_test_read_file(out, &n1), *b = lb_test_read_file(pdat, &n2);
        size_t k = 0;
        while (a && b && k < n1 && k < n2 && a[k] == b[k]) k++;
        CHECKF(a && b && n1 == n2 && k == n1, "legacy .dat differs from llama.cpp's layout at byte %zu (%zu vs %zu bytes)",
               k, n1, n2);
        free(a);
        free(b);
        free(out);
        /* and our GGUF writer writes the gguf package's file exactly */
        out = path_in_tmp("from_python.gguf");
        CHECKF(lb_imatrix_save(q, out) == LB_OK, "save: %s", lb_errmsg());
        a = lb_test_read_file(out, &n1), b = lb_test_read_file(pgguf, &n2);
        for (k = 0; a && b && k < n1 && k < n2 && a[k] == b[k];) k++;
        CHECKF(a && b && n1 == n2 && k == n1, "GGUF imatrix differs from gguf-py's at byte %zu (%zu vs %zu bytes)", k,
               n1, n2);
        free(a);
        free(b);
        free(out);
    }
    lb_imatrix_close(d);
    lb_imatrix_close(q);
}

/* Loading must fail with LB_ERR_FORMAT and a message naming the file and an offset. */
static bool expect_format_error(const char *what, const char *path, const char *must_contain)
{
    lb_imatrix *im = NULL;
    lb_status st = lb_imatrix_load(path, 64, &im);
    const char *msg = lb_errmsg();
    bool ok = st == LB_ERR_FORMAT && im == NULL && strstr(msg, path) && strstr(msg, "offset") &&
              (!must_contain || strstr(msg, must_contain));
    if (!ok) printf("  %s: status %s, message: %s\n", what, lb_status_name(st), msg);
    lb_imatrix_close(im);
    return ok;
}

static void put_i32(char *p, int32_t v) { memcpy(p, &v, 4); }

static void test_bad_input(void)
{
    size_t n = 0;
    char *dat = lb_test_read_file(lb_test_source("tests/golden/imatrix/tinystories-656k.dat"), &n);
    if (!EXPECT(dat && n > 64, "cannot read the python .dat")) return;
    char *p = path_in_tmp("bad.dat");
    /* the trailer (chunk count, dataset name) may be absent, as in older files: cuts exactly
     * before it or between its fields load; every other cut is an error */
    int32_t ds_len;
    memcpy(&ds_len, dat + n - 4 - 26, 4); /* "tinystories_train_head.txt" is 26 bytes */
    size_t end_entries = n - 4 - 4 - 26;
    CHECKF(ds_len == 26, "dataset length field %d", ds_len);
    int bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        if (!write_bytes(p, dat, cut)) break;
        bool fine = cut == end_entries || cut == end_entries + 4;
        if (fine) {
            lb_imatrix *im = NULL;
            if (lb_imatrix_load(p, 64, &im) != LB_OK && bad++ < 3) printf("  cut %zu: %s\n", cut, lb_errmsg());
            lb_imatrix_close(im);
        } else if (!expect_format_error("truncated .dat", p, NULL) && bad++ < 3) {
            printf("  (cut at %zu of %zu)\n", cut, n);
        }
    }
    CHECKF(bad == 0, "truncated .dat: %d cut points misbehaved", bad);

    char *copy = malloc(n);
    /* lying counts: entries, name length, ncall, nval */
    struct {
        const char *what;
        size_t off;
        int32_t v;
        const char *msg;
    } lies[] = { /* offsets as if the first name were 24 bytes; shifted to its real length below */
        {"n_entries 1e6", 0, 1000000, "entries"},
        {"n_entries 0", 0, 0, "entries"},
        {"name length 1e9", 4, 1000000000, "name"},
        {"ncall 0", 4 + 4 + 24, 0, "ncall"},
        {"nval 1e8", 4 + 4 + 24 + 4, 100000000, "values"},
        {"nval -1", 4 + 4 + 24 + 4, -1, "values"},
    };
    int32_t len0;
    memcpy(&len0, dat + 4, 4);
    for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
        memcpy(copy, dat, n);
        size_t off = lies[k].off;
        if (off >= 8) off = off - 24 + (size_t)len0; /* after the first name */
        put_i32(copy + off, lies[k].v);
        write_bytes(p, copy, n);
        CHECKF(expect_format_error(lies[k].what, p, lies[k].msg), "lying .dat (%s) not rejected as expected", lies[k].what);
    }
    /* a NaN and a negative sum of squares */
    memcpy(copy, dat, n);
    float nan = NAN, neg = -1.0f;
    memcpy(copy + 4 + 4 + len0 + 8 + 4 * 3, &nan, 4);
    write_bytes(p, copy, n);
    CHECK(expect_format_error(".dat NaN value", p, "not a finite"));
    memcpy(copy, dat, n);
    memcpy(copy + 4 + 4 + len0 + 8, &neg, 4);
    write_bytes(p, copy, n);
    CHECK(expect_format_error(".dat negative value", p, "not a finite"));
    free(copy);
    free(dat);

    /* GGUF: lying counts tensor, truncation */
    const char *src = lb_test_source("tests/golden/imatrix/tinystories-656k.gguf");
    char *gg = lb_test_read_file(src, &n);
    lb_gguf *g = NULL;
    if (!EXPECT(gg && lb_gguf_open(src, &g) == LB_OK, "cannot open the python .gguf")) {
        free(gg);
        free(p);
        return;
    }
    const lb_tensor_info *cnt = lb_gguf_find_tensor(g, "blk.1.ffn_down.weight.counts");
    const lb_tensor_info *sum = lb_gguf_find_tensor(g, "blk.1.ffn_down.weight.in_sum2");
    uint64_t off_cnt = cnt ? cnt->offset : 0, off_sum = sum ? sum->offset : 0;
    lb_gguf_close(g);
    char *pq = path_in_tmp("bad.gguf");
    float lies_f[] = {-256.0f, 0.5f, NAN, INFINITY};
    char *copyg = malloc(n);
    for (size_t k = 0; off_cnt && k < sizeof lies_f / sizeof lies_f[0]; k++) {
        memcpy(copyg, gg, n);
        memcpy(copyg + off_cnt, &lies_f[k], 4);
        write_bytes(pq, copyg, n);
        CHECKF(expect_format_error("gguf lying count", pq, "blk.1.ffn_down.weight.counts"),
               "gguf count %g not rejected", (double)lies_f[k]);
    }
    memcpy(copyg, gg, n);
    float zero = 0;
    memcpy(copyg + off_cnt, &zero, 4);
    write_bytes(pq, copyg, n);
    CHECK(expect_format_error("gguf count 0 with sums", pq, "count 0"));
    memcpy(copyg, gg, n);
    memcpy(copyg + off_sum + 8, &nan, 4);
    write_bytes(pq, copyg, n);
    CHECK(expect_format_error("gguf NaN sum", pq, "blk.1.ffn_down.weight.in_sum2"));
    /* truncated anywhere: an error naming the file (the GGUF reader reports offsets) */
    bad = 0;
    for (size_t cut = 0; cut < n; cut += (cut < 512 ? 1 : 97)) {
        write_bytes(pq, gg, cut);
        lb_imatrix *im = NULL;
        lb_status st = lb_imatrix_load(pq, 0, &im);
        if ((st == LB_OK || !strstr(lb_errmsg(), pq)) && bad++ < 3)
            printf("  gguf cut at %zu: %s %s\n", cut, lb_status_name(st), lb_errmsg());
        lb_imatrix_close(im);
    }
    CHECKF(bad == 0, "truncated .gguf: %d cut points misbehaved", bad);
    free(copyg);
    free(gg);
    free(pq);
    free(p);
}

// ---- CLI ----

static void test_cli(const golden *g)
{
    size_t len = 0;
    char *text = lb_test_read_file(lb_test_shared("data/tinystories/tinystories_train_head.txt"), &len);
    char *tp = path_in_tmp("calib.txt"), *out = path_in_tmp("cli.gguf"), *outd = path_in_tmp("cli.dat");
    if (!EXPECT(text && write_bytes(tp, text, (size_t)g->text_bytes), "cannot write the calibration text")) goto done;
    char args[2048], *o = NULL;
    snprintf(args, sizeof args, "imatrix %s --text %s -o %s --ctx %lld --chunks %lld --threads 2",
             lb_test_shared(MODEL), tp, out, (long long)g->n_ctx, (long long)g->n_chunks);
    int rc = lb_test_run_cli(args, &o);
    CHECKF(rc == 0, "lowbit %s -> %d:\n%s", args, rc, o ? o : "");
    free(o);
    lb_imatrix *im = NULL;
    if (rc == 0 && EXPECT(lb_imatrix_load(out, 0, &im) == LB_OK, "load CLI output: %s", lb_errmsg())) {
        check_against_golden("CLI .gguf", im, g, REL_TOL, 1e-6);
        CHECKF(strcmp(lb_imatrix_dataset(im, 0) ? lb_imatrix_dataset(im, 0) : "", tp) == 0, "CLI dataset name '%s'",
               lb_imatrix_dataset(im, 0));
    }
    lb_imatrix_close(im);
    /* the legacy format by extension */
    snprintf(args, sizeof args, "imatrix %s -f %s -o %s -c %lld --chunks %lld", lb_test_shared(MODEL), tp, outd,
             (long long)g->n_ctx, (long long)g->n_chunks);
    rc = lb_test_run_cli(args, &o);
    free(o);
    size_t n = 0;
    char *head = lb_test_read_file(outd, &n);
    CHECKF(rc == 0 && head && n > 4 && memcmp(head, "GGUF", 4) != 0, "CLI .dat: rc %d, %zu bytes", rc, n);
    free(head);
    /* usage errors exit 2; a text too short for two chunks exits 1 and leaves OUT as it was */
    snprintf(args, sizeof args, "imatrix %s --text %s", lb_test_shared(MODEL), tp);
    rc = lb_test_run_cli(args, &o);
    CHECKF(rc == 2 && o && strstr(o, "-o OUT"), "missing -o: rc %d: %s", rc, o ? o : "");
    free(o);
    snprintf(args, sizeof args, "imatrix %s --text %s -o %s --ctx 12x", lb_test_shared(MODEL), tp, out);
    rc = lb_test_run_cli(args, &o);
    CHECKF(rc == 2, "bad --ctx: rc %d", rc);
    free(o);
    char *before = lb_test_read_file(out, &n);
    snprintf(args, sizeof args, "imatrix %s --text %s -o %s --ctx 4096", lb_test_shared(MODEL), tp, out);
    rc = lb_test_run_cli(args, &o);
    CHECKF(rc == 1 && o && strstr(o, "at least"), "text too short: rc %d: %s", rc, o ? o : "");
    free(o);
    size_t n2 = 0;
    char *after = lb_test_read_file(out, &n2);
    CHECK(before && after && n == n2 && memcmp(before, after, n) == 0);
    free(before);
    free(after);
    snprintf(args, sizeof args, "imatrix %s --text /nonexistent.txt -o %s", lb_test_shared(MODEL), out);
    rc = lb_test_run_cli(args, &o);
    CHECKF(rc == 1 && o && strstr(o, "/nonexistent.txt"), "missing text: rc %d", rc);
    free(o);
done:
    free(text);
    free(tp);
    free(out);
    free(outd);
}

int main(void)
{
    golden g;
    if (!load_golden(&g)) return lb_test_finish();
    lb_model *m1 = open_model(1), *m2 = open_model(2);
    if (m1 && m2) {
        test_tokens(m1, &g);
        lb_imatrix *a = collect(m1, &g, 1, false), *b = collect(m2, &g, 1, false), *c = collect(m2, &g, 3, true);
        if (a) check_against_golden("lb_imatrix_collect", a, &g, REL_TOL, 1e-6);
        if (a && b) check_same("1 vs 2 threads", a, b, 0);
        /* batch 3: other sgemm shapes (OpenBLAS picks kernels by shape, so sums differ in the last
         * bits, ~1e-6 on AVX-512 Zen); process_output adds nothing for tied embeddings */
        if (a && c) check_same("batch 1 vs 3 (+process_output, tied)", a, c, 1e-5);
        if (a) test_round_trips(a);
        /* too few tokens: llama-imatrix wants 2 * n_ctx */
        lb_imatrix_params p = {.n_ctx = g.n_ids};
        lb_imatrix *x = NULL;
        CHECK(lb_imatrix_collect(m1, g.ids, g.n_ids, &p, &x) == LB_ERR_ARG && x == NULL);
        lb_imatrix_close(a);
        lb_imatrix_close(b);
        lb_imatrix_close(c);
    }
    lb_model_close(m1);
    lb_model_close(m2);
    test_python_files(&g);
    test_bad_input();
    test_cli(&g);
    free(g.ids);
    cJSON_Delete(g.j);
    return lb_test_finish();
}
