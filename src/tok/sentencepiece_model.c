/* SentencePiece tokenizer.model reader: just enough protobuf (wire format: varint, fixed32/64,
 * length-delimited) to read ModelProto (sentencepiece_model.proto):
 *   1 pieces { 1 piece, 2 score (float), 3 type (NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4
 *              UNUSED=5 BYTE=6) }
 *   2 trainer_spec { 3 model_type (UNIGRAM=1 BPE=2 ...), 24 treat_whitespace_as_suffix,
 *                    35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id }
 *   3 normalizer_spec { 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                       4 remove_extra_whitespaces, 5 escape_whitespaces }
 * Everything else is skipped. Only BPE models with an identity normalizer (no precompiled
 * character map: Llama, Llama 2, Mistral, TinyLlama) are accepted; anything else is reported as
 * unsupported rather than tokenized differently from sentencepiece. Every length is checked
 * against the file; errors name the byte offset. */
#include "tok/tok_internal.h"

#include <stdlib.h>

typedef struct pb {
    const uint8_t *d;
    size_t off, end;
    const char *path;
} pb;

static lb_status truncated(const pb *p, const char *what)
{
    return lb_fail(LB_ERR_FORMAT, "%s: protobuf: %s truncated at offset %zu", p->path, what, p->off);
}

static lb_status varint(pb *p, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p->off >= p->end) return truncated(p, "varint");
        uint8_t c = p->d[p->off++];
        r |= (uint64_t)(c & 0x7F) << shift;
        if (c < 0x80) {
            *v = r;
            return LB_OK;
        }
    }
    return lb_fail(LB_ERR_FORMAT, "%s: protobuf: varint longer than 10 bytes at offset %zu", p->path, p->off);
}

/* Reads one field header and, for the caller's convenience, its scalar or bytes payload. */
typedef struct field {
    uint32_t num, wire;
    uint64_t v;           /* varint / fixed value */
    size_t at, len;       /* length-delimited payload */
} field;

static lb_status next_field(pb *p, field *f)
{
    uint64_t key;
    size_t at = p->off;
    lb_status st = varint(p, &key);
    if (st != LB_OK) return st;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0:
        return varint(p, &f->v);
    case 1:
        if (p->end - p->off < 8) return truncated(p, "fixed64");
        memcpy(&f->v, p->d + p->off, 8);
        p->off += 8;
        return LB_OK;
    case 5: {
        if (p->end - p->off < 4) return truncated(p, "fixed32");
        uint32_t x;
        memcpy(&x, p->d + p->off, 4);
        f->v = x;
        p->off += 4;
        return LB_OK;
    }
    case 2: {
        uint64_t len;
        if ((st = varint(p, &len)) != LB_OK) return st;
        if (len > p->end - p->off)
            return lb_fail(LB_ERR_FORMAT, "%s: protobuf: field %u at offset %zu has length %llu past its end (%zu)",
                           p->path, f->num, at, (unsigned long long)len, p->end);
        f->at = p->off;
        f->len = (size_t)len;
        p->off += (size_t)len;
        return LB_OK;
    }
    default:
        return lb_fail(LB_ERR_FORMAT, "%s: protobuf: field %u at offset %zu has unsupported wire type %u", p->path,
                       f->num, at, f->wire);
    }
}

typedef struct spm_spec {
    int model_type;
    bool byte_fallback, ws_suffix, dummy_prefix, remove_ws, escape_ws;
    int64_t unk_id, bos_id, eos_id;
    size_t charsmap_len;
    char name[64];
} spm_spec;

static lb_status read_trainer(pb p, spm_spec *s)
{
    field f;
    while (p.off < p.end) {
        lb_status st = next_field(&p, &f);
        if (st != LB_OK) return st;
        if (f.wire != 0) continue;
        switch (f.num) {
        case 3: s->model_type = (int)f.v; break;
        case 24: s->ws_suffix = f.v != 0; break;
        case 35: s->byte_fallback = f.v != 0; break;
        case 40: s->unk_id = (int32_t)f.v; break;
        case 41: s->bos_id = (int32_t)f.v; break;
        case 42: s->eos_id = (int32_t)f.v; break;
        }
    }
    return LB_OK;
}

static lb_status read_normalizer(pb p, spm_spec *s)
{
    field f;
    while (p.off < p.end) {
        lb_status st = next_field(&p, &f);
        if (st != LB_OK) return st;
        if (f.num == 1 && f.wire == 2) {
            size_t n = f.len < sizeof s->name - 1 ? f.len : sizeof s->name - 1;
            memcpy(s->name, p.d + f.at, n);
            s->name[n] = '\0';
        } else if (f.num == 2 && f.wire == 2) s->charsmap_len = f.len;
        else if (f.num == 3 && f.wire == 0) s->dummy_prefix = f.v != 0;
        else if (f.num == 4 && f.wire == 0) s->remove_ws = f.v != 0;
        else if (f.num == 5 && f.wire == 0) s->escape_ws = f.v != 0;
    }
    return LB_OK;
}

/* One SentencePiece message: piece, score, type (NORMAL when absent). */
static lb_status read_piece(pb p, const char **s, size_t *n, float *score, int *type)
{
    field f;
    *s = NULL, *n = 0, *score = 0, *type = TOK_NORMAL;
    while (p.off < p.end) {
        lb_status st = next_field(&p, &f);
        if (st != LB_OK) return st;
        if (f.num == 1 && f.wire == 2) *s = (const char *)p.d + f.at, *n = f.len;
        else if (f.num == 2 && f.wire == 5) {
            uint32_t x = (uint32_t)f.v;
            memcpy(score, &x, 4);
        } else if (f.num == 3 && f.wire == 0) *type = (int)f.v;
    }
    return LB_OK;
}

lb_status tok_load_spm_model(lb_tokenizer *t, const char *path)
{
    char *d;
    size_t n;
    lb_status st = lb_read_file(path, &d, &n);
    if (st != LB_OK) return st;
    spm_spec spec = {.model_type = 1, .dummy_prefix = true, .remove_ws = true, .escape_ws = true,
                     .unk_id = 0, .bos_id = 1, .eos_id = 2};
    /* pass 1: count pieces and bytes, read the specs */
    pb p = {.d = (const uint8_t *)d, .off = 0, .end = n, .path = path};
    size_t n_pieces = 0, total = 0;
    field f;
    while (st == LB_OK && p.off < p.end) {
        if ((st = next_field(&p, &f)) != LB_OK) break;
        if (f.wire != 2) continue;
        pb sub = {.d = p.d, .off = f.at, .end = f.at + f.len, .path = path};
        if (f.num == 1) n_pieces++, total += f.len;
        else if (f.num == 2) st = read_trainer(sub, &spec);
        else if (f.num == 3) st = read_normalizer(sub, &spec);
    }
    if (st == LB_OK && n_pieces == 0) st = lb_fail(LB_ERR_FORMAT, "%s: no pieces (is this a SentencePiece model?)", path);
    if (st == LB_OK && n_pieces > INT32_MAX) st = lb_fail(LB_ERR_FORMAT, "%s: too many pieces", path);
    if (st == LB_OK && spec.model_type != 2)
        st = lb_fail(LB_ERR_UNSUPPORTED, "%s: SentencePiece model_type %d is not supported (only BPE = 2)", path,
                     spec.model_type);
    if (st == LB_OK && spec.charsmap_len > 0)
        st = lb_fail(LB_ERR_UNSUPPORTED, "%s: SentencePiece normalizer '%s' with a precompiled character map is not "
                     "supported (only identity normalization)", path, spec.name);
    if (st == LB_OK) st = tok_vocab_alloc(t, (int32_t)n_pieces, total, true);
    /* pass 2: the pieces */
    p.off = 0;
    size_t used = 0;
    int32_t k = 0;
    while (st == LB_OK && p.off < p.end) {
        size_t at = p.off;
        if ((st = next_field(&p, &f)) != LB_OK || f.num != 1 || f.wire != 2) continue;
        pb sub = {.d = p.d, .off = f.at, .end = f.at + f.len, .path = path};
        const char *s;
        size_t sl;
        float score;
        int type;
        if ((st = read_piece(sub, &s, &sl, &score, &type)) != LB_OK) break;
        if (!s || sl == 0) {
            st = lb_fail(LB_ERR_FORMAT, "%s: piece %d at offset %zu has no text", path, k, at);
            break;
        }
        if (type < TOK_NORMAL || type > TOK_BYTE) {
            st = lb_fail(LB_ERR_FORMAT, "%s: piece %d at offset %zu has unknown type %d", path, k, at, type);
            break;
        }
        if ((st = tok_vocab_set(t, k, s, sl, &used)) != LB_OK) break;
        t->score[k] = score;
        t->type[k] = (uint8_t)type;
        t->has_unused |= type == TOK_UNUSED;
        k++;
    }
    free(d);
    if (st != LB_OK) return st;
    t->kind = TOK_KIND_SPM_BPE;
    t->source = TOK_SRC_SPM_MODEL;
    t->model = TOK_MODEL_BPE_SCORE;
    t->byte_fallback = spec.byte_fallback;
    t->spm_dummy_prefix = spec.dummy_prefix;
    t->spm_remove_extra_ws = spec.remove_ws;
    t->spm_escape_ws = spec.escape_ws;
    t->spm_ws_suffix = spec.ws_suffix;
    t->unk_id = spec.unk_id >= 0 && spec.unk_id < t->n_vocab ? (int32_t)spec.unk_id : -1;
    t->bos = spec.bos_id >= 0 && spec.bos_id < t->n_vocab ? (int32_t)spec.bos_id : -1;
    t->eos = spec.eos_id >= 0 && spec.eos_id < t->n_vocab ? (int32_t)spec.eos_id : -1;
    if ((st = tok_vocab_index(t, true)) != LB_OK) return st;
    /* control and unknown pieces are special tokens; user-defined ones always match */
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int ty = t->type[i];
        if (ty == TOK_CONTROL || ty == TOK_UNKNOWN || ty == TOK_USER_DEFINED)
            if ((st = tok_add_added(t, i, ty != TOK_USER_DEFINED, false, false, false, false)) != LB_OK) return st;
    }
    int add_bos = 1, add_eos = 0;
    tok_read_side_configs(t, path, &add_bos, &add_eos);
    if ((st = tok_set_template(t, &t->bos, add_bos && t->bos >= 0, &t->eos, add_eos && t->eos >= 0)) != LB_OK)
        return st;
    return tok_set_spm_decoder(t);
}
