/* Tokenizer tests against independent references (tests/golden/make_tok_golden.py): HF
 * `tokenizers` for tokenizer.json files and the SmolLM2 GGUF vocabulary, the `sentencepiece`
 * package for Llama 2's tokenizer.model, a transcription of llama2.c run.c encode() for
 * tokenizer.bin files. For every tokenizer and string: ids with BOS + special tokens parsed,
 * without BOS, with special tokens as plain text, HF decode of the first, decode round trip, the
 * piece stream, and count + FNV-1a of all of wiki.test.raw (also timed: throughput is printed,
 * not asserted). Then the GGUF "llama" path (a GGUF written here from tokenizer.model), model
 * sources, and malformed files (clear errors, no crash). */
#include "test_util.h"
#include "tok/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int32_t *json_ids(const cJSON *a, int64_t *n)
{
    *n = cJSON_GetArraySize(a);
    int32_t *v = malloc((size_t)(*n + 1) * sizeof *v);
    for (int64_t i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(a, (int)i)->valuedouble;
    return v;
}

static bool has_id(const int32_t *ids, int64_t n, int32_t id)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* Escaped string for messages. */
static const char *show(const char *s)
{
    static char buf[4][160];
    static int k;
    char *o = buf[k++ % 4];
    size_t m = 0;
    for (; *s && m < 140; s++) {
        unsigned c = (unsigned char)*s;
        if (c == '\n') m += (size_t)snprintf(o + m, 160 - m, "\\n");
        else if (c == '\t') m += (size_t)snprintf(o + m, 160 - m, "\\t");
        else o[m++] = (char)c;
    }
    o[m] = '\0';
    return o;
}

// ---- one tokenizer against its golden cases ----

static void check_cases(const char *name, const lb_tokenizer *t, const cJSON *ent, const cJSON *strings)
{
    const char *kind = cJSON_GetObjectItem(ent, "kind")->valuestring;
    CHECKF(strcmp(lb_tokenizer_kind(t), kind) == 0, "%s: kind %s, want %s", name, lb_tokenizer_kind(t), kind);
    CHECKF(lb_tokenizer_n_vocab(t) == (int64_t)cJSON_GetObjectItem(ent, "n_vocab")->valuedouble, "%s: n_vocab %lld",
           name, (long long)lb_tokenizer_n_vocab(t));
    int bos = cJSON_GetObjectItem(ent, "bos")->valueint, eos = cJSON_GetObjectItem(ent, "eos")->valueint;
    CHECKF(lb_tokenizer_bos(t) == bos, "%s: bos %d want %d", name, lb_tokenizer_bos(t), bos);
    CHECKF(lb_tokenizer_eos(t) == eos, "%s: eos %d want %d", name, lb_tokenizer_eos(t), eos);
    bool adds = cJSON_IsTrue(cJSON_GetObjectItem(ent, "adds_bos"));
    CHECKF(lb_tokenizer_adds_bos(t) == adds, "%s: adds_bos %d want %d", name, lb_tokenizer_adds_bos(t), adds);
    bool is_l2c = strcmp(kind, "llama2c") == 0;
    bool metaspace_first = strstr(name, "metaspace") != NULL;
    bool no_decoder = strstr(name, "handmade") != NULL; /* HF joins the tokens with spaces */
    int32_t unk = -1;
    if (!is_l2c)
        for (int32_t i = 0; i < lb_tokenizer_n_vocab(t) && unk < 0; i++) {
            int ty;
            lb_tokenizer_token(t, i, NULL, NULL, NULL, &ty);
            if (ty == 2) unk = i;
        }

    const cJSON *cases = cJSON_GetObjectItem(ent, "cases");
    int n_cases = cJSON_GetArraySize(cases), fails0 = lb_test_failed;
    for (int i = 0; i < n_cases; i++) {
        const char *s = cJSON_GetArrayItem(strings, i)->valuestring;
        size_t sl = strlen(s);
        const cJSON *c = cJSON_GetArrayItem(cases, i);
        static const char *const keys[] = {"sb", "s", "p"};
        int32_t *got[3];
        int64_t ng[3];
        for (int k = 0; k < 3; k++) {
            int64_t nw;
            int32_t *want = json_ids(cJSON_GetObjectItem(c, keys[k]), &nw);
            lb_status st = lb_tokenizer_encode(t, s, sl, k == 0, k != 2, &got[k], &ng[k]);
            char what[256];
            snprintf(what, sizeof what, "%s %s \"%s\"", name, keys[k], show(s));
            CHECKF(st == LB_OK, "%s: %s", what, lb_errmsg());
            if (st == LB_OK) lb_test_i32_equal(what, got[k], want, ng[k], nw);
            free(want);
        }
        /* HF decode(sb, skip_special_tokens=False) */
        char *text;
        size_t tl;
        const char *want_d = cJSON_GetObjectItem(c, "d")->valuestring;
        if (lb_tokenizer_decode(t, got[0], ng[0], &text, &tl) == LB_OK) {
            CHECKF(tl == strlen(want_d) && memcmp(text, want_d, tl) == 0, "%s decode \"%s\": got \"%s\" want \"%s\"",
                   name, show(s), show(text), show(want_d));
            free(text);
        } else CHECKF(false, "%s decode: %s", name, lb_errmsg());
        /* round trip (llama2.c: with its BOS, whose following space run.c strips) */
        int r = is_l2c ? 0 : 2;
        bool skip = has_id(got[r], ng[r], unk) || (metaspace_first && s[0] == ' ') || no_decoder;
        if (!skip && lb_tokenizer_decode(t, got[r], ng[r], &text, &tl) == LB_OK) {
            CHECKF(tl == sl && memcmp(text, s, sl) == 0, "%s round trip \"%s\": got \"%s\"", name, show(s), show(text));
            free(text);
        }
        /* piece stream = the text (SPM / llama2.c: after the dummy-prefix space) */
        if (!has_id(got[2], ng[2], unk) && !metaspace_first) {
            char buf[4096];
            size_t m = 0;
            for (int64_t k = 0; k < ng[2]; k++) {
                int64_t pl = lb_tokenizer_piece(t, got[2][k], buf + m, sizeof buf - m);
                if (pl > 0) m += (size_t)pl;
            }
            size_t skip_sp = strcmp(kind, "byte-bpe") != 0 && sl > 0 && m > 0 && buf[0] == ' ';
            CHECKF(m - skip_sp == sl && memcmp(buf + skip_sp, s, sl) == 0, "%s pieces \"%s\"", name, show(s));
        }
        for (int k = 0; k < 3; k++) free(got[k]);
    }
    printf("  %-22s %d strings, %s\n", name, n_cases, lb_test_failed == fails0 ? "all match" : "MISMATCHES");
}

static void check_wiki(const char *name, const lb_tokenizer *t, const cJSON *ent)
{
    size_t len;
    char *wiki = lb_test_read_file(lb_test_shared("data/wikitext-2-raw/wiki.test.raw"), &len);
    if (!wiki) {
        printf("  note: wiki.test.raw absent, no throughput for %s\n", name);
        return;
    }
    int32_t *ids;
    int64_t n;
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t0 = lb_now_s();
        lb_status st = lb_tokenizer_encode(t, wiki, len, false, false, &ids, &n);
        double dt = lb_now_s() - t0;
        CHECKF(st == LB_OK, "%s wiki: %s", name, lb_errmsg());
        if (st != LB_OK) {
            free(wiki);
            return;
        }
        best = dt < best ? dt : best;
        if (rep == 0) {
            const cJSON *w = cJSON_GetObjectItem(ent, "wiki");
            if (w) {
                int64_t wn = (int64_t)cJSON_GetObjectItem(w, "n")->valuedouble;
                char hex[32];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)lb_test_fnv1a64_ids(ids, n));
                CHECKF(n == wn && strcmp(hex, cJSON_GetObjectItem(w, "fnv")->valuestring) == 0,
                       "%s wiki.test.raw: %lld tokens fnv %s, want %lld fnv %s", name, (long long)n, hex,
                       (long long)wn, cJSON_GetObjectItem(w, "fnv")->valuestring);
            }
            /* and the whole file decodes back to itself (unless <unk> appeared) */
            char *text;
            size_t tl;
            if (strcmp(lb_tokenizer_kind(t), "llama2c") != 0 && lb_tokenizer_decode(t, ids, n, &text, &tl) == LB_OK) {
                bool same = tl == len && memcmp(text, wiki, len) == 0;
                if (!same) printf("  note: %s: wiki.test.raw does not round-trip (%zu vs %zu bytes; <unk>s?)\n", name, tl, len);
                free(text);
            }
        }
        free(ids);
    }
    printf("  %-22s wiki.test.raw: %lld tokens in %.3f s = %.2f MB/s, %.0f tokens/s\n", name, (long long)n, best,
           (double)len / best / 1e6, (double)n / best);
    free(wiki);
}

/* Longer texts some entries carry (hand-made merge order through the long-word bucket queue). */
static void check_extra(const char *name, const lb_tokenizer *t, const cJSON *ent)
{
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(ent, "extra"))
    {
        const char *s = cJSON_GetObjectItem(e, "text")->valuestring;
        int64_t nw, n;
        int32_t *want = json_ids(cJSON_GetObjectItem(e, "p"), &nw), *got;
        if (lb_tokenizer_encode(t, s, strlen(s), false, false, &got, &n) == LB_OK) {
            char what[128];
            snprintf(what, sizeof what, "%s extra text %d (%zu bytes)", name, i, strlen(s));
            lb_test_i32_equal(what, got, want, n, nw);
            free(got);
        } else CHECKF(false, "%s extra %d: %s", name, i, lb_errmsg());
        free(want);
        i++;
    }
}

static void check_wiki_chunk(const char *name, const lb_tokenizer *t, const cJSON *ent)
{
    const cJSON *w = cJSON_GetObjectItem(ent, "wiki_chunk");
    if (!w) return;
    size_t len;
    char *wiki = lb_test_read_file(lb_test_shared("data/wikitext-2-raw/wiki.test.raw"), &len);
    if (!wiki) return;
    size_t bytes = (size_t)cJSON_GetObjectItem(w, "bytes")->valuedouble;
    int64_t nw, n;
    int32_t *want = json_ids(cJSON_GetObjectItem(w, "sb"), &nw), *got;
    if (lb_tokenizer_encode(t, wiki, bytes < len ? bytes : len, true, false, &got, &n) == LB_OK) {
        char what[128];
        snprintf(what, sizeof what, "%s wiki chunk", name);
        lb_test_i32_equal(what, got, want, n, nw);
        free(got);
    }
    free(want);
    free(wiki);
}

/* Hostile text and arguments: invalid UTF-8, NUL bytes, lone surrogates' encodings, huge runs;
 * never a crash, ids in range, byte-level keeps every byte, decode gives valid UTF-8. */
static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

static void check_robustness(const char *name, const lb_tokenizer *t)
{
    static const char *const nasty[] = {
        "\xff\xfe ab\xc3", "\xe2\x82", "a\x80\x80\x80\x80\x80" "b", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong",
        "\xf4\x90\x80\x80 too big", "tab\t\x01\x02\x7f ctl",
    };
    int fails0 = lb_test_failed;
    bool bytelevel = strcmp(lb_tokenizer_kind(t), "byte-bpe") == 0;
    for (size_t i = 0; i < sizeof nasty / sizeof nasty[0] + 1; i++) {
        char nul[] = "a\0b\0\0c";
        const char *s = i < sizeof nasty / sizeof nasty[0] ? nasty[i] : nul;
        size_t n = i < sizeof nasty / sizeof nasty[0] ? strlen(s) : sizeof nul - 1;
        for (int mode = 0; mode < 2; mode++) {
            int32_t *ids;
            int64_t k;
            lb_status st = lb_tokenizer_encode(t, s, n, mode, mode, &ids, &k);
            CHECKF(st == LB_OK, "%s: nasty string %zu: %s", name, i, lb_errmsg());
            if (st != LB_OK) continue;
            bool in_range = true;
            for (int64_t j = 0; j < k; j++) in_range &= ids[j] >= 0 && ids[j] < lb_tokenizer_n_vocab(t);
            CHECKF(in_range, "%s: nasty string %zu: id out of range", name, i);
            bool known = true; /* SmolLM2 has no token for bytes that never occur in UTF-8 (0xC0, 0xFF...): HF drops them */
            for (size_t j = 0; bytelevel && j < n; j++) {
                int32_t *one;
                int64_t k1;
                if (lb_tokenizer_encode(t, s + j, 1, false, false, &one, &k1) == LB_OK) {
                    known &= k1 > 0;
                    free(one);
                }
            }
            if (mode == 0 && bytelevel && known) { /* every byte survives */
                char buf[256];
                size_t m = 0;
                for (int64_t j = 0; j < k; j++) {
                    int64_t pl = lb_tokenizer_piece(t, ids[j], buf + m, sizeof buf - m);
                    m += pl > 0 ? (size_t)pl : 0;
                }
                CHECKF(m == n && memcmp(buf, s, n) == 0, "%s: nasty string %zu: pieces lose bytes", name, i);
            }
            char *text;
            size_t tl;
            if (lb_tokenizer_decode(t, ids, k, &text, &tl) == LB_OK) {
                if (strcmp(lb_tokenizer_kind(t), "llama2c") != 0)
                    CHECKF(valid_utf8(text, tl), "%s: nasty string %zu: decode is not UTF-8", name, i);
                free(text);
            }
            free(ids);
        }
    }
    int32_t *ids;
    int64_t k;
    CHECK(lb_tokenizer_encode(t, NULL, 0, false, false, &ids, &k) == LB_OK && k == 0 && ids != NULL);
    free(ids);
    CHECK(lb_tokenizer_encode(t, NULL, 5, false, false, &ids, &k) == LB_ERR_ARG && ids == NULL);
    int32_t bad[2] = {0, (int32_t)lb_tokenizer_n_vocab(t)};
    char *text;
    size_t tl;
    CHECK(lb_tokenizer_decode(t, bad, 2, &text, &tl) == LB_ERR_ARG && text == NULL);
    CHECK(lb_tokenizer_piece(t, -1, NULL, 0) == -1 && lb_tokenizer_piece(t, bad[1], NULL, 0) == -1);
    CHECK(lb_tokenizer_piece(t, 0, NULL, 0) >= 0); /* length query without a buffer */
    /* a long run of one character: deep merge chains, big heaps */
    size_t big = 100000;
    char *run = malloc(big);
    memset(run, 'a', big);
    CHECKF(lb_tokenizer_encode(t, run, big, true, true, &ids, &k) == LB_OK && k > 0, "%s: long run: %s", name, lb_errmsg());
    free(ids);
    free(run);
    if (lb_test_failed == fails0) printf("  %-22s hostile text and arguments: ok\n", name);
}

// ---- a GGUF "llama" vocabulary, written from tokenizer.model ----

static void put_str(FILE *f, const char *s, size_t n)
{
    uint64_t l = n;
    fwrite(&l, 8, 1, f);
    fwrite(s, 1, n, f);
}

static void put_key(FILE *f, const char *k, uint32_t type)
{
    put_str(f, k, strlen(k));
    fwrite(&type, 4, 1, f);
}

static bool write_llama_gguf(const lb_tokenizer *spm, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    uint32_t version = 3, u;
    int64_t n_tensors = 0, n_kv = 8, n = lb_tokenizer_n_vocab(spm);
    fwrite("GGUF", 1, 4, f);
    fwrite(&version, 4, 1, f);
    fwrite(&n_tensors, 8, 1, f);
    fwrite(&n_kv, 8, 1, f);
    put_key(f, "general.architecture", 8);
    put_str(f, "llama", 5);
    put_key(f, "tokenizer.ggml.model", 8);
    put_str(f, "llama", 5);
    uint32_t arr = 9, ty_str = 8, ty_f32 = 6, ty_i32 = 5;
    put_key(f, "tokenizer.ggml.tokens", arr);
    fwrite(&ty_str, 4, 1, f);
    fwrite(&n, 8, 1, f);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        lb_tokenizer_token(spm, i, &s, &l, NULL, NULL);
        put_str(f, s, l);
    }
    put_key(f, "tokenizer.ggml.scores", arr);
    fwrite(&ty_f32, 4, 1, f);
    fwrite(&n, 8, 1, f);
    for (int32_t i = 0; i < n; i++) {
        float sc;
        lb_tokenizer_token(spm, i, NULL, NULL, &sc, NULL);
        fwrite(&sc, 4, 1, f);
    }
    put_key(f, "tokenizer.ggml.token_type", arr);
    fwrite(&ty_i32, 4, 1, f);
    fwrite(&n, 8, 1, f);
    for (int32_t i = 0; i < n; i++) {
        int ty;
        lb_tokenizer_token(spm, i, NULL, NULL, NULL, &ty);
        int32_t v = ty;
        fwrite(&v, 4, 1, f);
    }
    put_key(f, "tokenizer.ggml.bos_token_id", 4);
    u = 1;
    fwrite(&u, 4, 1, f);
    put_key(f, "tokenizer.ggml.eos_token_id", 4);
    u = 2;
    fwrite(&u, 4, 1, f);
    put_key(f, "tokenizer.ggml.add_bos_token", 7);
    uint8_t yes = 1;
    fwrite(&yes, 1, 1, f);
    long pos = ftell(f);
    for (long p = pos; p % 32; p++) fputc(0, f);
    return fclose(f) == 0;
}

// ---- sources and bad input ----

static void expect_fail(const char *what, const char *path, lb_status want, const char *must_mention)
{
    lb_tokenizer *t = (lb_tokenizer *)0x1;
    lb_status st = lb_tokenizer_load(path, &t);
    CHECKF(st != LB_OK && t == NULL, "%s: loaded (status %s)", what, lb_status_name(st));
    if (want != LB_OK) CHECKF(st == want, "%s: status %s, want %s (%s)", what, lb_status_name(st), lb_status_name(want),
                              lb_errmsg());
    CHECKF(strstr(lb_errmsg(), must_mention) != NULL, "%s: message \"%s\" does not mention \"%s\"", what, lb_errmsg(),
           must_mention);
    if (st != LB_OK) printf("  %-40s -> %s: %s\n", what, lb_status_name(st), lb_errmsg());
    if (st == LB_OK) lb_tokenizer_free(t);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void test_bad_files(void)
{
    const char *tmp = lb_test_tmpdir();
    char p[512];
    snprintf(p, sizeof p, "%s/nonexistent.json", tmp);
    expect_fail("missing file", p, LB_ERR_IO, "nonexistent.json");

    size_t len;
    char *bin = lb_test_read_file(lb_test_shared("models/stories260K-llama2c/tok512.bin"), &len);
    if (bin) {
        snprintf(p, sizeof p, "%s/tok_trunc.bin", tmp);
        write_file(p, bin, 1000); /* cuts a token in half */
        expect_fail("truncated tok512.bin", p, LB_ERR_FORMAT, "offset");
        int32_t huge = 1 << 30;
        memcpy(bin + 4 + 4, &huge, 4); /* first token's length */
        write_file(p, bin, len);
        expect_fail("tok512.bin with a huge length", p, LB_ERR_FORMAT, "tok_trunc.bin");
        /* every prefix of the file: an error or a tokenizer, never a crash */
        free(bin);
        bin = lb_test_read_file(lb_test_shared("models/stories260K-llama2c/tok512.bin"), &len);
        int bad = 0;
        for (size_t cut = 0; cut < len; cut += 97) {
            write_file(p, bin, cut);
            lb_tokenizer *t;
            if (lb_tokenizer_load(p, &t) == LB_OK) lb_tokenizer_free(t);
            else bad++;
        }
        CHECK(bad > 0);
        free(bin);
    }
    char *model = lb_test_read_file(lb_test_shared("models/llama2-tokenizer/tokenizer.model"), &len);
    if (model) {
        snprintf(p, sizeof p, "%s/trunc.model", tmp);
        write_file(p, model, len / 3);
        expect_fail("truncated tokenizer.model", p, LB_ERR_FORMAT, "trunc.model");
        for (size_t cut = 1; cut < 4096; cut += 37) {
            write_file(p, model, cut);
            lb_tokenizer *t;
            if (lb_tokenizer_load(p, &t) == LB_OK) lb_tokenizer_free(t);
        }
        free(model);
        CHECK(true);
    }
    snprintf(p, sizeof p, "%s/tokenizer.json", tmp);
    write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0", 40);
    expect_fail("truncated tokenizer.json", p, LB_ERR_FORMAT, "tokenizer.json");
    const char *wp = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}";
    write_file(p, wp, strlen(wp));
    expect_fail("WordPiece tokenizer.json", p, LB_ERR_UNSUPPORTED, "WordPiece");
    const char *bm = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}";
    write_file(p, bm, strlen(bm));
    expect_fail("merge with unknown token", p, LB_ERR_FORMAT, "merges[0]");
    const char *bp = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                     "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}";
    write_file(p, bp, strlen(bp));
    expect_fail("bad regex", p, LB_ERR_UNSUPPORTED, "regex");
    snprintf(p, sizeof p, "%s/garbage.gguf", tmp);
    write_file(p, "GGUF\x03\0\0\0garbage", 15);
    expect_fail("garbage GGUF", p, LB_OK, "garbage.gguf");
}

static void test_sources(const cJSON *golden)
{
    /* HF directory: tokenizer.json beside config.json */
    lb_source src = {.kind = LB_SOURCE_HF_DIR};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", lb_test_shared("models/tinystories-656k-hf"));
    src.dir = dir;
    src.path = dir;
    lb_tokenizer *t = NULL;
    CHECKF(lb_tokenizer_from_source(&src, &t) == LB_OK, "hf dir: %s", lb_errmsg());
    if (t) CHECK(strcmp(lb_tokenizer_kind(t), "spm-bpe") == 0 && lb_tokenizer_bos(t) == 1 && lb_tokenizer_eos(t) == 2);
    lb_tokenizer_free(t);
    /* llama2.c: tok512.bin picked for a 512-token checkpoint (stored as -512: shared classifier) */
    snprintf(dir, sizeof dir, "%s", lb_test_shared("models/stories260K-llama2c"));
    src = (lb_source){.kind = LB_SOURCE_LLAMA2C, .dir = dir, .path = dir};
    src.l2c.vocab_size = -512;
    t = NULL;
    CHECKF(lb_tokenizer_from_source(&src, &t) == LB_OK, "llama2c dir: %s", lb_errmsg());
    if (t) {
        CHECK(lb_tokenizer_n_vocab(t) == 512 && lb_tokenizer_adds_bos(t));
        int32_t *ids;
        int64_t n;
        if (lb_tokenizer_encode(t, "Once upon a time", 16, true, false, &ids, &n) == LB_OK) {
            const int32_t want[] = {1, 403, 407, 261, 378}; /* models/README.md */
            lb_test_i32_equal("stories260K Once upon a time", ids, want, n, 5);
            free(ids);
        }
    }
    lb_tokenizer_free(t);
    src.l2c.vocab_size = 1000; /* no tokenizer of that size there */
    t = (lb_tokenizer *)0x1;
    CHECK(lb_tokenizer_from_source(&src, &t) != LB_OK && t == NULL && strstr(lb_errmsg(), "tok512.bin"));
    printf("  %-40s -> %s\n", "llama2c source, vocab 1000", lb_errmsg());
    /* nothing there */
    src = (lb_source){.kind = LB_SOURCE_HF_DIR, .dir = (char *)lb_test_tmpdir(), .path = (char *)lb_test_tmpdir()};
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", lb_test_tmpdir());
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", empty);
    if (system(cmd) != 0) return;
    src.dir = src.path = empty;
    t = (lb_tokenizer *)0x1;
    lb_status st = lb_tokenizer_from_source(&src, &t);
    CHECK(st == LB_ERR_FORMAT && t == NULL && strstr(lb_errmsg(), "empty") && strstr(lb_errmsg(), "tokenizer.json"));
    printf("  %-40s -> %s\n", "empty hf dir", lb_errmsg());
    /* GGUF source */
    const char *gg = lb_test_source(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if (lb_file_exists(gg)) {
        lb_gguf *g = NULL;
        if (lb_gguf_open(gg, &g) == LB_OK) {
            src = (lb_source){.kind = LB_SOURCE_GGUF, .gguf = g, .path = (char *)gg};
            t = NULL;
            CHECKF(lb_tokenizer_from_source(&src, &t) == LB_OK, "gguf source: %s", lb_errmsg());
            if (t) CHECK(strcmp(lb_tokenizer_pre_name(t), "smollm") == 0 && lb_tokenizer_n_merges(t) == 48900);
            lb_tokenizer_free(t);
            lb_gguf_close(g);
        } else CHECKF(false, "gguf open: %s", lb_errmsg());
    }
    (void)golden;
}

int main(void)
{
    size_t len;
    char *text = lb_test_read_file(lb_test_source("tests/golden/tok/tok_golden.json"), &len);
    if (!text) {
        fprintf(stderr, "cannot read tests/golden/tok/tok_golden.json\n");
        return 2;
    }
    cJSON *golden = cJSON_Parse(text);
    free(text);
    CHECK(golden != NULL);
    if (!golden) return lb_test_finish();
    const cJSON *strings = cJSON_GetObjectItem(golden, "strings");
    const cJSON *ent;
    lb_tokenizer *llama2_spm = NULL;
    printf("golden strings: %d\n", cJSON_GetArraySize(strings));
    cJSON_ArrayForEach(ent, cJSON_GetObjectItem(golden, "tokenizers"))
    {
        const char *name = ent->string, *file = cJSON_GetObjectItem(ent, "file")->valuestring;
        const char *where = cJSON_GetObjectItem(ent, "where")->valuestring;
        char path[2200];
        if (strcmp(where, "shared") == 0) snprintf(path, sizeof path, "%s", lb_test_shared(file));
        else if (strcmp(where, "cache") == 0) snprintf(path, sizeof path, "%s/%s", lb_test_source(".cache/models"), file);
        else snprintf(path, sizeof path, "%s", lb_test_source(file));
        if (!lb_file_exists(path)) {
            printf("  %-22s SKIPPED: %s absent\n", name, path);
            continue;
        }
        lb_tokenizer *t = NULL;
        double t0 = lb_now_s();
        lb_status st = lb_tokenizer_load(path, &t);
        CHECKF(st == LB_OK, "%s: load %.300s: %.500s", name, path, lb_errmsg());
        if (st != LB_OK) continue;
        printf("  %-22s loaded %s in %.3f s\n", name, file, lb_now_s() - t0);
        check_cases(name, t, ent, strings);
        check_robustness(name, t);
        check_extra(name, t, ent);
        check_wiki_chunk(name, t, ent);
        check_wiki(name, t, ent);
        if (strcmp(name, "llama2-model") == 0) llama2_spm = t;
        else lb_tokenizer_free(t);
    }
    if (llama2_spm) {
        /* GGUF "llama" vocabulary: same pieces, scores and types as tokenizer.model, same results */
        char path[600];
        snprintf(path, sizeof path, "%s/llama2-vocab.gguf", lb_test_tmpdir());
        CHECK(write_llama_gguf(llama2_spm, path));
        lb_tokenizer *g = NULL;
        lb_status st = lb_tokenizer_load(path, &g);
        CHECKF(st == LB_OK, "llama vocab gguf: %s", lb_errmsg());
        cJSON_ArrayForEach(ent, cJSON_GetObjectItem(golden, "tokenizers"))
        {
            if (g && strcmp(ent->string, "llama2-model") == 0) {
                check_cases("llama2-gguf", g, ent, strings);
                check_robustness("llama2-gguf", g);
                check_wiki("llama2-gguf", g, ent);
            }
        }
        lb_tokenizer_free(g);
        lb_tokenizer_free(llama2_spm);
    }
    printf("sources:\n");
    test_sources(golden);
    printf("bad input:\n");
    test_bad_files();
    cJSON_Delete(golden);
    return lb_test_finish();
}
