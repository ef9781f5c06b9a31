/* llama2.c reader: the real stories260K legacy checkpoint (header and weights checked against
 * values computed independently with numpy from the same bytes, hard-coded here), plus
 * version-1 ("ak42") and separate-classifier variants built from it in a temp directory,
 * whose every tensor must read back byte-identical to the legacy file's. */
#include "io/source.h"
#include "test_util.h"

#include <string.h>

static const char *stories(void) { return lb_test_shared("models/stories260K-llama2c/stories260K.bin"); }

static float f32_at(const lb_tensor_info *t, int64_t i)
{
    float v;
    memcpy(&v, t->data + 4 * i, 4);
    return v;
}

static void check_f32(const lb_source *s, const char *name, int64_t i, float want)
{
    const lb_tensor_info *t = lb_source_find(s, name);
    CHECKF(t != NULL, "%s missing", name);
    if (!t) return;
    float got = f32_at(t, i);
    char what[128];
    snprintf(what, sizeof what, "%s[%lld]", name, (long long)i);
    lb_test_bits_equal(what, &got, &want, 1);
}

static void check_shape(const lb_source *s, const char *name, int n_dims, int64_t d0, int64_t d1)
{
    const lb_tensor_info *t = lb_source_find(s, name);
    bool ok = t && t->type == LB_TYPE_F32 && t->n_dims == n_dims && t->shape[0] == d0 && (n_dims < 2 || t->shape[1] == d1) &&
              t->n_elements == d0 * (n_dims > 1 ? d1 : 1) && t->nbytes == 4 * (uint64_t)t->n_elements;
    CHECKF(ok, "%s: n_dims %d shape [%lld, %lld], want %d [%lld, %lld]", name, t ? t->n_dims : -1,
           t ? (long long)t->shape[0] : 0, t ? (long long)t->shape[1] : 0, n_dims, (long long)d0, (long long)d1);
}

static void check_stories(const lb_source *s, bool shared)
{
    const lb_llama2c_header *h = &s->l2c;
    CHECKF(h->dim == 64 && h->hidden_dim == 172 && h->n_layers == 5 && h->n_heads == 8 && h->n_kv_heads == 4 &&
               h->vocab_size == 512 && h->seq_len == 512 && h->shared_classifier == shared,
           "header dim %d hidden %d layers %d heads %d kv %d vocab %d seq %d shared %d", h->dim, h->hidden_dim, h->n_layers,
           h->n_heads, h->n_kv_heads, h->vocab_size, h->seq_len, h->shared_classifier);
    CHECKF(s->n_tensors == 2 + 5 * 9 + !shared, "n_tensors %lld", (long long)s->n_tensors);
    int64_t n_params = 0;
    for (int64_t i = 0; i < s->n_tensors; i++) n_params += s->tensors[i].n_elements;
    CHECKF(n_params == 260032 + (shared ? 0 : 512 * 64), "params %lld", (long long)n_params);

    check_shape(s, "token_embd.weight", 2, 512, 64);
    check_shape(s, "output_norm.weight", 1, 64, 0);
    char name[64];
    for (int l = 0; l < 5; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l), check_shape(s, name, 1, 64, 0);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l), check_shape(s, name, 2, 64, 64);
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", l), check_shape(s, name, 2, 32, 64);
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l), check_shape(s, name, 2, 32, 64);
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l), check_shape(s, name, 2, 64, 64);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l), check_shape(s, name, 1, 64, 0);
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", l), check_shape(s, name, 2, 172, 64);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l), check_shape(s, name, 2, 64, 172);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", l), check_shape(s, name, 2, 172, 64);
    }
    CHECK(lb_source_find(s, "blk.5.attn_q.weight") == NULL);
    if (shared) CHECK(lb_source_find(s, "output.weight") == NULL);
    else check_shape(s, "output.weight", 2, 512, 64);

    /* values from numpy: np.frombuffer(b[28:], '<f4') split in the legacy order */
    check_f32(s, "token_embd.weight", 0, -0.29474878311157227f);
    check_f32(s, "token_embd.weight", 1, 0.5618956089019775f);
    check_f32(s, "token_embd.weight", 100 * 64 + 5, 0.23131945729255676f);
    check_f32(s, "token_embd.weight", 512 * 64 - 1, -0.424032598733902f);
    check_f32(s, "blk.0.attn_q.weight", 0, 0.04439278692007065f);
    check_f32(s, "blk.0.attn_q.weight", 64 * 64 - 1, 0.034809552133083344f);
    check_f32(s, "blk.4.attn_k.weight", 0, -0.025860849767923355f);
    check_f32(s, "blk.4.attn_k.weight", 31 * 64 + 63, -0.2651301622390747f);
    check_f32(s, "blk.2.ffn_down.weight", 10 * 172 + 170, -0.09010076522827148f);
    check_f32(s, "blk.4.ffn_up.weight", 172 * 64 - 1, 0.10603193938732147f);
    check_f32(s, "blk.3.attn_norm.weight", 0, 1.3719491958618164f);
    check_f32(s, "blk.1.ffn_norm.weight", 0, 0.878699779510498f);
    check_f32(s, "output_norm.weight", 0, 2.4583089351654053f);
    check_f32(s, "output_norm.weight", 63, 1.7077769041061401f);
    const lb_tensor_info *t = lb_source_find(s, "token_embd.weight");
    if (t) {
        double sum = 0;
        for (int64_t i = 0; i < t->n_elements; i++) sum += f32_at(t, i);
        CHECKF(sum > -752.36775 && sum < -752.36774, "token_embd sum %.10f want -752.3677446640068", sum);
    }
}

// ---- building variants ----

static char *g_legacy; /* the real file's bytes */
static size_t g_legacy_len;

static void put(FILE *f, const void *p, size_t n) { CHECK(fwrite(p, 1, n, f) == n); }

static void put_tensor(FILE *f, const lb_source *legacy, const char *name)
{
    const lb_tensor_info *t = lb_source_find(legacy, name);
    LB_ASSERT(t != NULL);
    put(f, t->data, t->nbytes);
}

static void put_layers(FILE *f, const lb_source *legacy, const char *stem)
{
    char name[64];
    for (int l = 0; l < 5; l++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, stem);
        put_tensor(f, legacy, name);
    }
}

/* The embedding rows in reverse order: a classifier distinct from the embedding. */
static void put_classifier(FILE *f, const lb_source *legacy)
{
    const lb_tensor_info *t = lb_source_find(legacy, "token_embd.weight");
    for (int r = 511; r >= 0; r--) put(f, t->data + (size_t)r * 64 * 4, 64 * 4);
}

static const char *write_v1(const lb_source *legacy, bool shared)
{
    static char path[2][512];
    char *p = path[shared];
    snprintf(p, 512, "%s/v1_%s.bin", lb_test_tmpdir(), shared ? "shared" : "separate");
    FILE *f = fopen(p, "wb");
    LB_ASSERT(f != NULL);
    uint8_t hdr[256] = {0};
    uint32_t magic = 0x616b3432;
    int32_t version = 1, params[7] = {64, 172, 5, 8, 4, 512, 512};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &version, 4);
    memcpy(hdr + 8, params, sizeof params);
    hdr[36] = shared;
    put(f, hdr, sizeof hdr);
    put_layers(f, legacy, "attn_norm");
    put_layers(f, legacy, "ffn_norm");
    put_tensor(f, legacy, "output_norm.weight");
    put_tensor(f, legacy, "token_embd.weight");
    static const char *const stems[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"};
    for (int k = 0; k < 7; k++) put_layers(f, legacy, stems[k]);
    if (!shared) put_classifier(f, legacy);
    fclose(f);
    return p;
}

static const char *write_legacy_separate(const lb_source *legacy)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/legacy_separate.bin", lb_test_tmpdir());
    FILE *f = fopen(p, "wb");
    LB_ASSERT(f != NULL);
    int32_t vocab = -512;
    put(f, g_legacy, 20);
    put(f, &vocab, 4);
    put(f, g_legacy + 24, g_legacy_len - 24); /* seq_len, weights and the RoPE tables */
    put_classifier(f, legacy);
    fclose(f);
    return p;
}

static void check_same_as_legacy(const lb_source *v, const lb_source *legacy)
{
    int64_t same = 0;
    for (int64_t i = 0; i < legacy->n_tensors; i++) {
        const lb_tensor_info *a = &legacy->tensors[i], *b = lb_source_find(v, a->name);
        if (b && b->nbytes == a->nbytes && memcmp(a->data, b->data, a->nbytes) == 0) same++;
        else fprintf(stderr, "  %s differs from the legacy file\n", a->name);
    }
    CHECKF(same == legacy->n_tensors, "%lld of %lld tensors identical", (long long)same, (long long)legacy->n_tensors);
    const lb_tensor_info *out = lb_source_find(v, "output.weight"), *emb = lb_source_find(legacy, "token_embd.weight");
    if (out) /* row r of the classifier is embedding row 511 - r */
        CHECK(memcmp(out->data, emb->data + 511 * 64 * 4, 64 * 4) == 0 && memcmp(out->data + 511 * 64 * 4, emb->data, 64 * 4) == 0);
}

static void test_variant(const char *path, const lb_source *legacy, int version, bool shared)
{
    lb_source *v = NULL;
    lb_status st = lb_source_open(path, &v);
    CHECKF(st == LB_OK, "%s: %s", path, lb_errmsg());
    if (!v) return;
    CHECK(v->kind == LB_SOURCE_LLAMA2C && v->l2c.version == version);
    check_stories(v, shared);
    check_same_as_legacy(v, legacy);
    lb_source_close(v);
}

int main(void)
{
    lb_source *s = NULL;
    lb_status st = lb_source_open(stories(), &s);
    CHECKF(st == LB_OK, "%s: %s", stories(), lb_errmsg());
    if (!s) return lb_test_finish();
    CHECK(s->kind == LB_SOURCE_LLAMA2C && strcmp(lb_source_kind_name(s->kind), "llama2c") == 0);
    CHECK(s->l2c.version == 0 && s->n_maps == 1 && s->config == NULL);
    check_stories(s, true);
    /* legacy layout offsets: embedding right after the 28-byte header, final norm before the
     * 2 x 512 x 4 floats of RoPE tables that end the file */
    const lb_tensor_info *t = lb_source_find(s, "token_embd.weight");
    CHECK(t && t->offset == 28);
    t = lb_source_find(s, "blk.0.attn_norm.weight");
    CHECK(t && t->offset == 28 + 512 * 64 * 4);
    t = lb_source_find(s, "output_norm.weight");
    CHECK(t && t->offset + t->nbytes == 1056540 - 2 * 512 * 4 * 4);
    for (int64_t i = 1; i < s->n_tensors; i++) CHECK(s->tensors[i].offset == s->tensors[i - 1].offset + s->tensors[i - 1].nbytes);

    if (lb_read_file(stories(), &g_legacy, &g_legacy_len) == LB_OK) {
        test_variant(write_v1(s, true), s, 1, true);
        test_variant(write_v1(s, false), s, 1, false);
        test_variant(write_legacy_separate(s), s, 0, false);
        free(g_legacy);
    }

    /* the parser on its own, on the mapped file */
    lb_mapping m;
    if (lb_map_file(stories(), &m) == LB_OK) {
        lb_llama2c_header h;
        lb_tensor_info *ts = NULL;
        int64_t n = 0;
        st = lb_llama2c_parse(&m, &h, &ts, &n);
        CHECKF(st == LB_OK && n == 47 && h.dim == 64, "parse: %s", lb_errmsg());
        for (int64_t i = 0; i < n; i++) free(ts[i].name);
        free(ts);
        lb_unmap(&m);
    }
    lb_source_close(s);
    return lb_test_finish();
}
