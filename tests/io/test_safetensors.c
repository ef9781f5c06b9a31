/* safetensors reader and Hugging Face directory detection against independent truth:
 * the real TinyStories-656K checkpoint (expected values from python safetensors.numpy,
 * hard-coded here) and the sharded fixture written by torch + safetensors.torch
 * (tests/golden/io/gen_io_fixtures.py: every dtype lowbit reads, a scalar, an empty tensor). */
#include "io/source.h"
#include "test_util.h"

#include <string.h>

static const char *tiny_dir(void) { return lb_test_shared("models/tinystories-656k-hf"); }

static void check_shape(const lb_tensor_info *t, int n_dims, int64_t d0, int64_t d1)
{
    bool ok = t && t->n_dims == n_dims && t->shape[0] == d0 && (n_dims < 2 || t->shape[1] == d1);
    CHECKF(ok, "%s: n_dims %d shape [%lld, %lld], want %d [%lld, %lld]", t ? t->name : "(null)", t ? t->n_dims : -1,
           t ? (long long)t->shape[0] : 0, t ? (long long)t->shape[1] : 0, n_dims, (long long)d0, (long long)d1);
}

static float f32_at(const lb_tensor_info *t, int64_t i)
{
    float v;
    memcpy(&v, t->data + 4 * i, 4);
    return v;
}

/* Element i of t against want, bit for bit (the file's values are bf16-exact floats). */
static void check_f32(const lb_tensor_info *t, int64_t i, float want)
{
    if (!t) return;
    float got = f32_at(t, i);
    char what[256];
    snprintf(what, sizeof what, "%s[%lld]", t->name, (long long)i);
    lb_test_bits_equal(what, &got, &want, 1);
}

static double f32_sum(const lb_tensor_info *t)
{
    double s = 0;
    for (int64_t i = 0; i < t->n_elements; i++) s += f32_at(t, i);
    return s;
}

// ---- TinyStories-656K ----

static void check_tiny(const lb_source *s)
{
    CHECKF(s->n_tensors == 20, "n_tensors %lld", (long long)s->n_tensors);
    int64_t n_params = 0;
    for (int64_t i = 0; i < s->n_tensors; i++) {
        n_params += s->tensors[i].n_elements;
        CHECK(s->tensors[i].type == LB_TYPE_F32);
        if (i) CHECK(s->tensors[i].offset >= s->tensors[i - 1].offset + s->tensors[i - 1].nbytes); /* file order */
    }
    CHECKF(n_params == 656000, "params %lld", (long long)n_params);

    /* header is 2160 bytes, so the data section starts at 8 + 2160 */
    const lb_tensor_info *t = lb_source_find(s, "lm_head.weight");
    check_shape(t, 2, 2048, 128);
    if (t) {
        CHECK(t->offset == 2168 && t->nbytes == 1048576 && t->n_elements == 262144);
        check_f32(t, 0, -0.68359375f);
        check_f32(t, 1, -0.02587890625f);
        check_f32(t, 2, 0.58984375f);
        check_f32(t, 1000, 0.50390625f);
        check_f32(t, t->n_elements - 1, -0.421875f);
        double sum = f32_sum(t);
        CHECKF(sum > 2512.8344 && sum < 2512.8345, "lm_head sum %.10f want 2512.834466814995", sum);
    }
    t = lb_source_find(s, "model.layers.1.mlp.down_proj.weight");
    check_shape(t, 2, 128, 384);
    if (t) {
        CHECK(t->offset == 2168 + 1836544 && t->nbytes == 196608);
        check_f32(t, 0, -0.17578125f);
        check_f32(t, 1000, -0.1875f);
        check_f32(t, t->n_elements - 1, -0.1376953125f);
    }
    t = lb_source_find(s, "model.layers.0.self_attn.k_proj.weight");
    check_shape(t, 2, 64, 128);
    if (t) {
        check_f32(t, 0, -1.1328125f);
        double sum = f32_sum(t);
        CHECKF(sum > 12.65989 && sum < 12.65990, "k_proj sum %.10f want 12.659892082214355", sum);
    }
    t = lb_source_find(s, "model.norm.weight");
    check_shape(t, 1, 128, 0);
    if (t) {
        check_f32(t, 0, 0.640625f);
        check_f32(t, 127, 0.8359375f);
        CHECK(t->offset + t->nbytes == 2626168); /* last tensor ends the file */
    }
    check_shape(lb_source_find(s, "model.layers.0.mlp.gate_proj.weight"), 2, 384, 128);
    check_shape(lb_source_find(s, "model.layers.1.input_layernorm.weight"), 1, 128, 0);
    CHECK(lb_source_find(s, "model.embed_tokens.weight") == NULL); /* tied: only lm_head stored */
    CHECK(lb_source_find(s, "nope") == NULL);

    /* __metadata__ kept */
    const cJSON *fmt = s->st_metadata ? cJSON_GetObjectItemCaseSensitive(s->st_metadata, "format") : NULL;
    CHECK(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "pt") == 0);
    const cJSON *tie = s->st_metadata ? cJSON_GetObjectItemCaseSensitive(s->st_metadata, "model.embed_tokens.weight") : NULL;
    CHECK(cJSON_IsString(tie) && strcmp(tie->valuestring, "lm_head.weight") == 0);
    /* config.json */
    const cJSON *hs = s->config ? cJSON_GetObjectItemCaseSensitive(s->config, "hidden_size") : NULL;
    CHECK(cJSON_IsNumber(hs) && hs->valuedouble == 128);
    const cJSON *kv = s->config ? cJSON_GetObjectItemCaseSensitive(s->config, "num_key_value_heads") : NULL;
    CHECK(cJSON_IsNumber(kv) && kv->valuedouble == 4);
}

static void test_tiny(void)
{
    lb_source *s = NULL;
    lb_status st = lb_source_open(tiny_dir(), &s);
    CHECKF(st == LB_OK, "%s: %s", tiny_dir(), lb_errmsg());
    if (s) {
        CHECK(s->kind == LB_SOURCE_HF_DIR && strcmp(lb_source_kind_name(s->kind), "hf-dir") == 0);
        CHECK(strcmp(s->dir, tiny_dir()) == 0 && s->n_maps == 1 && s->gguf == NULL);
        check_tiny(s);
    }
    lb_source_close(s);

    /* the single file: same tensors, config.json beside it is picked up */
    char *file = lb_path_join(tiny_dir(), "model.safetensors");
    st = lb_source_open(file, &s);
    CHECKF(st == LB_OK, "%s: %s", file, lb_errmsg());
    if (s) {
        CHECK(s->kind == LB_SOURCE_SAFETENSORS && strcmp(lb_source_kind_name(s->kind), "safetensors") == 0);
        CHECK(strcmp(s->dir, tiny_dir()) == 0 && s->config != NULL);
        CHECK(s->n_tensors > 0 && strcmp(s->tensors[0].file, file) == 0);
        check_tiny(s);
    }
    lb_source_close(s);

    /* the parser on its own, appending to an existing list */
    lb_mapping m;
    st = lb_map_file(file, &m);
    CHECKF(st == LB_OK, "%s", lb_errmsg());
    if (!st) {
        lb_tensor_info *t = NULL;
        int64_t n = 0;
        cJSON *meta = NULL;
        st = lb_safetensors_parse(&m, &t, &n, &meta);
        CHECKF(st == LB_OK && n == 20 && meta != NULL, "parse: %s", lb_errmsg());
        st = lb_safetensors_parse(&m, &t, &n, NULL);
        CHECKF(st == LB_OK && n == 40, "second parse: n %lld %s", (long long)n, lb_errmsg());
        for (int64_t i = 0; i < n; i++) free(t[i].name);
        free(t);
        cJSON_Delete(meta);
        lb_unmap(&m);
    }
    free(file);
}

// ---- sharded fixture ----

static void check_bytes(const lb_source *s, const char *name, lb_type type, const char *hex)
{
    const lb_tensor_info *t = lb_source_find(s, name);
    CHECKF(t != NULL, "%s missing", name);
    if (!t) return;
    size_t n = strlen(hex) / 2;
    bool ok = t->type == type && t->nbytes == n;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        ok = t->data[i] == v;
    }
    CHECKF(ok, "%s: type %d nbytes %llu, want type %d bytes %s", name, t->type, (unsigned long long)t->nbytes, type, hex);
}

static void check_sharded(const lb_source *s)
{
    CHECKF(s->n_tensors == 12, "n_tensors %lld", (long long)s->n_tensors);
    CHECK(s->n_maps == 2);
    /* shard order, then file order */
    for (int64_t i = 0; i < s->n_tensors; i++) {
        const char *want = i < 5 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        size_t a = strlen(s->tensors[i].file), b = strlen(want);
        CHECKF(a >= b && strcmp(s->tensors[i].file + a - b, want) == 0, "%s in %s", s->tensors[i].name, s->tensors[i].file);
    }
    /* raw bytes as torch wrote them (printed by gen_io_fixtures.py) */
    check_bytes(s, "a.f32", LB_TYPE_F32, "000080bf000040bf000000bf000080be000000000000803e");
    check_bytes(s, "b.bf16", LB_TYPE_BF16, "803f00c0003f4940");
    check_bytes(s, "c.f16", LB_TYPE_F16, "003c00bc00340064");
    check_bytes(s, "d.i64", LB_TYPE_I64, "0000000000ffffff00000000000000000100000000010000");
    check_bytes(s, "e.scalar", LB_TYPE_F32, "00002a42");
    check_bytes(s, "f.f8e4m3", LB_TYPE_F8_E4M3, "38c0307e");
    check_bytes(s, "g.f8e5m2", LB_TYPE_F8_E5M2, "3cc0387b");
    check_bytes(s, "h.i8", LB_TYPE_I8, "80ff00017f");
    check_bytes(s, "i.i16", LB_TYPE_I16, "d4fe2c01");
    check_bytes(s, "j.i32", LB_TYPE_I32, "90eefeff70110100");
    check_bytes(s, "k.f64", LB_TYPE_F64, "59f3f8c21f6ea5019a9999999999b9bf");
    check_bytes(s, "l.empty", LB_TYPE_F32, "");
    check_shape(lb_source_find(s, "a.f32"), 2, 2, 3);
    check_shape(lb_source_find(s, "c.f16"), 2, 2, 2);
    check_shape(lb_source_find(s, "e.scalar"), 1, 1, 0); /* rank 0 reads as [1] */
    const lb_tensor_info *e = lb_source_find(s, "l.empty");
    check_shape(e, 2, 0, 3);
    CHECK(e && e->n_elements == 0);
    const cJSON *note = s->st_metadata ? cJSON_GetObjectItemCaseSensitive(s->st_metadata, "note") : NULL;
    CHECKF(cJSON_IsString(note) && strcmp(note->valuestring, "shard one") == 0, "metadata of the first shard");
    const cJSON *mt = s->config ? cJSON_GetObjectItemCaseSensitive(s->config, "model_type") : NULL;
    CHECK(cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") == 0);
}

static void test_sharded(void)
{
    const char *dir = lb_test_source("tests/golden/io/sharded");
    lb_source *s = NULL;
    lb_status st = lb_source_open(dir, &s);
    CHECKF(st == LB_OK, "%s: %s", dir, lb_errmsg());
    if (s) {
        CHECK(s->kind == LB_SOURCE_HF_DIR);
        check_sharded(s);
    }
    lb_source_close(s);

    const char *index = lb_test_source("tests/golden/io/sharded/model.safetensors.index.json");
    st = lb_source_open(index, &s);
    CHECKF(st == LB_OK, "%s: %s", index, lb_errmsg());
    if (s) {
        CHECK(s->kind == LB_SOURCE_SAFETENSORS);
        check_sharded(s);
    }
    lb_source_close(s);
    lb_source_close(NULL);

    /* a shard on its own, detected by its extension; no config.json problem */
    const char *one = lb_test_source("tests/golden/io/sharded/model-00002-of-00002.safetensors");
    st = lb_source_open(one, &s);
    CHECKF(st == LB_OK && s && s->n_tensors == 7, "%s: %s", one, lb_errmsg());
    lb_source_close(s);
}

int main(void)
{
    test_tiny();
    test_sharded();
    return lb_test_finish();
}
