/* Reading bitsandbytes NF4 directories back (io/nf4_links.c, the NF4 decode in
 * model/weights.c, layer streaming):
 *   - tinystories-656k (HF, F32) -> NF4 with and without double quant (lb_export_hf): every
 *     linear opens as NF4 [out, in] and decodes to exactly lb_nf4_dequantize(lb_nf4_quantize(
 *     source values)), recomputed here (double quant: absmax through lb_nf4_dq_quantize /
 *     lb_nf4_dq_dequantize); logits close to the source (relative RMS printed); per-product
 *     decode == decode at open (llamacpp numerics decode NF4 at open), bit for bit; the engine
 *     keeps 0.5 byte a weight plus its parts.
 *   - SmolLM2-135M (GGUF) -> NF4 double quant: streamed at the minimum budget == resident, bit
 *     for bit (tinystories is smaller than the streaming machinery: it never streams).
 *   - a hand-made group whose blocks of 64 straddle rows ([5, 40], odd rows): decode row by row
 *     == whole tensor == lb_nf4_dequantize.
 *   - bad input: absmax count != ceil(n/64), packed bytes != ceil(n/2), quant_map of 8, quant_state
 *     deleted (renamed in the header), quant_type fp4 (edited in the exported file), a bare U8
 *     tensor: refused, naming file, tensor and offset. */
#define _GNU_SOURCE /* memmem */
#include "io/safetensors_write.h"
#include "io/source.h"
#include "lowbit.h"
#include "model/weights.h"
#include "quant/nf4.h"
#include "quant/types.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TS "models/tinystories-656k-hf"
#define N_TOK 24

static const char *const LINEARS[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

/* logits of the first N_TOK tokens of a fixed id sequence, one thread */
static float *logits_of(const char *path, const lb_open_params *op0, int64_t *n_vocab)
{
    lb_open_params op = op0 ? *op0 : (lb_open_params){0};
    op.n_threads = 1;
    return lb_test_logits_fixed(path, &op, N_TOK, n_vocab);
}

// ---- tinystories round trip ----

/* What an NF4 export of x must decode to, computed with the codec alone. */
static void expected(const float *x, int64_t n, bool dq, float *want)
{
    int64_t nb = (n + LB_NF4_BLOCK - 1) / LB_NF4_BLOCK, nb2 = (nb + LB_NF4_DQ_BLOCK - 1) / LB_NF4_DQ_BLOCK;
    uint8_t *packed = malloc((size_t)(n + 1) / 2), *codes = malloc((size_t)nb);
    float *am = malloc((size_t)nb * sizeof *am), *am2 = malloc((size_t)nb2 * sizeof *am2), offset;
    lb_nf4_quantize(x, n, packed, am);
    if (dq) {
        lb_nf4_dq_quantize(am, nb, codes, am2, &offset);
        lb_nf4_dq_dequantize(codes, am2, offset, nb, am);
    }
    lb_nf4_dequantize(packed, am, n, want);
    free(packed), free(codes), free(am), free(am2);
}

static void test_round_trip(bool dq, double *err_out)
{
    const char *name = dq ? "ts-nf4-dq" : "ts-nf4", *out = lb_test_tmp(name);
    lb_export_params ep = {.type = "NF4", .nf4_double_quant = dq, .quiet = true};
    if (!EXPECT(lb_export_hf(lb_test_shared(TS), out, &ep) == LB_OK, "export %s: %s", name, lb_errmsg())) return;
    lb_source *src, *dst;
    if (lb_source_open(lb_test_shared(TS), &src)) return;
    if (!EXPECT(lb_source_open(out, &dst) == LB_OK, "read back %s: %s", name, lb_errmsg())) return lb_source_close(src);
    int bad = 0;
    for (int l = 0; l < 2; l++)
        for (size_t k = 0; k < sizeof LINEARS / sizeof LINEARS[0]; k++) {
            char tn[128];
            snprintf(tn, sizeof tn, "model.layers.%d.%s.weight", l, LINEARS[k]);
            const lb_tensor_info *s = lb_source_find(src, tn), *d = lb_source_find(dst, tn);
            if (!EXPECT(s && d && d->type == LB_TYPE_NF4 && d->n_dims == 2 && d->shape[0] == s->shape[0] &&
                            d->shape[1] == s->shape[1] && d->scale && d->quant_map && (d->nested_absmax != NULL) == dq,
                        "%s: %s opens as NF4 [%lld, %lld]", name, tn, s ? (long long)s->shape[0] : -1LL,
                        s ? (long long)s->shape[1] : -1LL)) {
                bad++;
                continue;
            }
            int64_t n = s->n_elements;
            float *x, *got, *want = malloc((size_t)n * sizeof *want);
            lb_tensor_to_f32(s, &x);
            expected(x, n, dq, want);
            if (EXPECT(lb_tensor_to_f32(d, &got) == LB_OK, "%s: decode %s: %s", name, tn, lb_errmsg())) {
                if (!lb_test_bits_equal(tn, got, want, n)) bad++;
                free(got);
            } else bad++;
            /* kept stored: half a byte a weight plus its parts */
            uint64_t parts = d->scale->nbytes + d->quant_map->nbytes +
                             (dq ? d->nested_absmax->nbytes + d->nested_quant_map->nbytes : 0);
            CHECKF(lb_weight_resident_bytes(d, true, false) == (uint64_t)(n + 1) / 2 + parts, "%s: %s resident bytes", name, tn);
            free(x), free(want);
        }
    CHECKF(bad == 0, "%s: %d linears decode differently", name, bad);
    lb_source_close(src);
    lb_source_close(dst);

    int64_t nv;
    float *ref = logits_of(lb_test_shared(TS), NULL, &nv), *got = logits_of(out, NULL, &nv);
    lb_open_params at_open = {.llamacpp_numerics = true};
    float *dec = logits_of(out, &at_open, &nv);
    if (ref && got && dec) {
        *err_out = lb_test_rel_rms(got, ref, N_TOK * nv);
        CHECKF(*err_out < 0.25, "%s: logits rel RMS %.4f vs source", name, *err_out);
        char what[128];
        snprintf(what, sizeof what, "%s: per-product decode vs decoded at open", name);
        lb_test_bits_equal(what, got, dec, N_TOK * nv);
    }
    free(ref), free(got), free(dec);
}

/* Streaming needs a model bigger than the streaming machinery (tinystories fits in its minimum
 * budget whole): SmolLM2-135M exported to NF4 with double quant (every part kind), streamed at
 * the minimum budget == resident, bit for bit. */
static void test_streamed(void)
{
    const char *gguf = lb_test_source(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"), *out = lb_test_tmp("smol-nf4-dq");
    if (!lb_test_file_exists(gguf)) {
        printf("  skip streaming: %s missing\n", gguf);
        return;
    }
    lb_export_params ep = {.type = "NF4", .nf4_double_quant = true, .quiet = true};
    if (!EXPECT(lb_export_hf(gguf, out, &ep) == LB_OK, "export SmolLM2 NF4: %s", lb_errmsg())) return;
    int64_t nv;
    lb_open_params op = {.tokenizer_path = gguf, .plan_rows = N_TOK, .plan_ctx = N_TOK, .quiet = true, .n_threads = 1};
    float *got = logits_of(out, &op, &nv);
    lb_model *probe;
    lb_stream_stats ss = {0};
    if (lb_model_open(out, &op, &probe) == LB_OK) lb_model_stream_stats(probe, &ss), lb_model_close(probe);
    op.mem_limit = ss.min_bytes;
    float *streamed = logits_of(out, &op, &nv);
    if (lb_model_open(out, &op, &probe) == LB_OK) lb_model_stream_stats(probe, &ss), lb_model_close(probe);
    CHECKF(ss.n_resident < ss.n_layer, "SmolLM2 NF4: at the minimum budget %lld of %lld blocks stream",
           (long long)(ss.n_layer - ss.n_resident), (long long)ss.n_layer);
    if (got && streamed) {
        char what[128];
        snprintf(what, sizeof what, "SmolLM2 NF4: streamed (limit %llu, %lld/%lld resident) vs resident",
                 (unsigned long long)op.mem_limit, (long long)ss.n_resident, (long long)ss.n_layer);
        lb_test_bits_equal(what, streamed, got, N_TOK * nv);
    }
    free(got), free(streamed);
}

// ---- hand-made groups ----

#define ROWS 5
#define COLS 40 /* blocks of 64 straddle rows; 200 elements = 4 blocks, the last partial */
#define N (ROWS * COLS)
#define NB ((N + 63) / 64)

typedef struct group_spec {
    int64_t absmax_n, packed_n, qmap_n;
    const char *quant_type;
    bool no_state;
    bool bare_u8; /* a U8 tensor with no NF4 parts at all */
} group_spec;

static const char *write_group(const char *file, const group_spec *g, const float *x)
{
    const char *path = lb_test_tmp(file);
    uint8_t packed[(N + 1) / 2 + 8] = {0};
    float absmax[NB + 2] = {0};
    lb_nf4_quantize(x, N, packed, absmax);
    char state[128];
    int sl = snprintf(state, sizeof state, "{\"quant_type\": \"%s\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [%d, %d]}",
                      g->quant_type ? g->quant_type : "nf4", ROWS, COLS);
    lb_st_writer *w;
    if (lb_st_writer_open(path, &w) != LB_OK) return path;
    int64_t ps[2] = {g->packed_n, 1}, as[1] = {g->absmax_n}, qs[1] = {g->qmap_n}, ss[1] = {sl};
    lb_st_writer_declare(w, "w.weight", "U8", ps, 2, (uint64_t)ps[0]);
    if (!g->bare_u8) {
        lb_st_writer_declare(w, "w.weight.absmax", "F32", as, 1, 4 * (uint64_t)as[0]);
        lb_st_writer_declare(w, "w.weight.quant_map", "F32", qs, 1, 4 * (uint64_t)qs[0]);
        if (!g->no_state) lb_st_writer_declare(w, "w.weight.quant_state.bitsandbytes__nf4", "U8", ss, 1, (uint64_t)sl);
    }
    lb_st_writer_write(w, packed, (uint64_t)ps[0]);
    if (!g->bare_u8) {
        lb_st_writer_write(w, absmax, 4 * (uint64_t)as[0]);
        lb_st_writer_write(w, lb_nf4_table, 4 * (uint64_t)qs[0]);
        if (!g->no_state) lb_st_writer_write(w, state, (uint64_t)sl);
    }
    CHECKF(lb_st_writer_finish(w) == LB_OK, "write %s: %s", path, lb_errmsg());
    return path;
}

static void expect_refused(const char *what, const char *path, lb_status want, const char *tensor, const char *also)
{
    lb_source *s = NULL;
    lb_status st = lb_source_open(path, &s);
    const char *msg = lb_errmsg();
    CHECKF(st == want && !s && strstr(msg, path) && strstr(msg, tensor) && strstr(msg, " at offset ") &&
               (!also || strstr(msg, also)),
           "%s: status %s, message: %s", what, lb_status_name(st), msg);
    if (getenv("LOWBIT_TEST_VERBOSE")) printf("  %-22s %s\n", what, msg);
    lb_source_close(s);
}

static void test_hand_made(void)
{
    float x[N];
    uint64_t rng = 12345;
    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(rng >> 11) / 9007199254740992.0 - 0.5) * (i % 7 == 0 ? 8.0f : 1.0f);
    }
    group_spec good = {.absmax_n = NB, .packed_n = (N + 1) / 2, .qmap_n = 16};
    const char *p = write_group("nf4-good.safetensors", &good, x);
    lb_source *s;
    if (EXPECT(lb_source_open(p, &s) == LB_OK, "open %s: %s", p, lb_errmsg())) {
        const lb_tensor_info *t = lb_source_find(s, "w.weight");
        float want[N], whole[N], rows[N];
        expected(x, N, false, want);
        float *y;
        if (EXPECT(t && t->type == LB_TYPE_NF4 && t->shape[0] == ROWS && t->shape[1] == COLS && lb_tensor_to_f32(t, &y) == LB_OK,
                   "straddling group decodes: %s", lb_errmsg())) {
            memcpy(whole, y, sizeof whole);
            free(y);
            lb_test_bits_equal("straddling: whole tensor vs lb_nf4_dequantize", whole, want, N);
            const void *aux[LB_WEIGHT_N_AUX] = {t->scale->data, t->quant_map->data, NULL, NULL};
            lb_weight w = lb_weight_stored(t, t->data, aux);
            for (int64_t r = 0; r < ROWS; r++) lb_weight_decode_rows(&w, r, 1, COLS, rows + r * COLS);
            lb_test_bits_equal("straddling: row by row vs whole tensor", rows, whole, N);
        }
        lb_source_close(s);
    }

    group_spec g = good;
    g.absmax_n = NB - 1;
    expect_refused("absmax count", write_group("nf4-absmax.safetensors", &g, x), LB_ERR_FORMAT, "'w.weight.absmax'", "need 4");
    g = good, g.packed_n = (N + 1) / 2 - 4;
    expect_refused("packed bytes", write_group("nf4-packed.safetensors", &g, x), LB_ERR_FORMAT, "'w.weight'", "needs 100");
    g = good, g.qmap_n = 8;
    expect_refused("quant_map size", write_group("nf4-qmap.safetensors", &g, x), LB_ERR_FORMAT, "'w.weight.quant_map'", "16");
    g = good, g.no_state = true;
    expect_refused("no quant_state", write_group("nf4-nostate.safetensors", &g, x), LB_ERR_FORMAT, "'w.weight'", "quant_state");
    g = good, g.quant_type = "fp4";
    expect_refused("quant_type fp4", write_group("nf4-fp4.safetensors", &g, x), LB_ERR_UNSUPPORTED,
                   "'w.weight.quant_state.bitsandbytes__nf4'", "fp4");
    g = good, g.bare_u8 = true, g.packed_n = 7;
    expect_refused("bare U8", write_group("nf4-bare.safetensors", &g, x), LB_ERR_UNSUPPORTED, "'w.weight'", "U8 is not supported");
}

/* The exported file with one header string replaced by another of the same length. */
static const char *edited_copy(const char *dir, const char *name, const char *from, const char *to)
{
    char src[600];
    snprintf(src, sizeof src, "%s/model.safetensors", dir);
    size_t len;
    char *buf = lb_test_read_file(src, &len);
    const char *path = lb_test_tmp(name);
    if (!EXPECT(buf && strlen(from) == strlen(to), "read %s", src)) return free(buf), path;
    char *hit = memmem(buf, len, from, strlen(from));
    if (EXPECT(hit != NULL, "%s: '%s' not found", src, from)) memcpy(hit, to, strlen(to));
    FILE *f = fopen(path, "wb");
    if (f) fwrite(buf, 1, len, f), fclose(f);
    free(buf);
    return path;
}

static void test_corrupt_export(void)
{
    const char *dir = lb_test_tmp("ts-nf4");
    /* the state of q_proj of layer 0 renamed: the weight has absmax but no quant_state */
    const char *p = edited_copy(dir, "nf4-renamed.safetensors", "layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4",
                                "layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__xx4");
    expect_refused("export: quant_state deleted", p, LB_ERR_FORMAT, "'model.layers.0.self_attn.q_proj.weight'", "quant_state");
    /* the first quant_state (layer 0 q_proj, first in file order) says fp4 */
    p = edited_copy(dir, "nf4-fp4.safetensors", "\"quant_type\": \"nf4\"", "\"quant_type\": \"fp4\"");
    expect_refused("export: quant_type fp4", p, LB_ERR_UNSUPPORTED,
                   "'model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4'", "fp4");
}

int main(void)
{
    if (!lb_test_file_exists(lb_test_shared(TS "/model.safetensors"))) {
        fprintf(stderr, "skip: %s missing\n", lb_test_shared(TS));
        return 77;
    }
    double err[2] = {0};
    test_round_trip(false, &err[0]);
    test_round_trip(true, &err[1]);
    printf("  tinystories NF4:              logits rel RMS vs source %.5f\n", err[0]);
    printf("  tinystories NF4 double quant: logits rel RMS vs source %.5f\n", err[1]);
    test_hand_made();
    test_corrupt_export();
    test_streamed();
    return lb_test_finish();
}
