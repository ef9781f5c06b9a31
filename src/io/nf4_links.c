/* Links each bitsandbytes NF4 weight of a source to the tensors it decodes with, as
 * bitsandbytes' Params4bit serializes them (QuantState.as_dict(packed=True)):
 *   X.weight                              U8, ceil(n/2) bytes of packed codes, any shape
 *   X.weight.absmax                       F32[ceil(n/64)], or U8 codes under double quant
 *   X.weight.quant_map                    F32[16], the value of each 4-bit code
 *   X.weight.nested_absmax                F32[ceil(blocks/256)]    (double quant only)
 *   X.weight.nested_quant_map             F32[256]                 (double quant only)
 *   X.weight.quant_state.bitsandbytes__nf4  U8 bytes of a JSON object: quant_type, blocksize,
 *                                         shape (the logical [out, in]), dtype, and under double
 *                                         quant nested_blocksize, nested_offset
 * The weight is then presented as type NF4 with its logical shape, so that shape checks and
 * byte accounting see a linear [out, in]. Only nf4 with blocksize 64 (nested 256) is read: the
 * codec (quant/nf4.h) is that one. A U8 tensor that belongs to no such group is refused, as the
 * safetensors reader used to refuse every U8: lowbit has no meaning for it. Every mismatch
 * between the parts is LB_ERR_FORMAT naming file, tensor and offset: a part that does not fit
 * its weight would otherwise decode to plausible garbage. Not here: decoding (model/weights.c). */
#include "io/source.h"
#include "quant/nf4.h"
#include "quant/types.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define STATE_NF4 ".quant_state.bitsandbytes__nf4"
#define STATE_FP4 ".quant_state.bitsandbytes__fp4"
#define NAME_SHOWN 200

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const lb_tensor_info *sibling(const lb_source *s, const char *name, const char *suffix)
{
    char key[512];
    if ((size_t)snprintf(key, sizeof key, "%s%s", name, suffix) >= sizeof key) return NULL;
    return lb_source_find(s, key);
}

/* LB_ERR_FORMAT at tensor t, a part of NF4 weight w (or w itself). */
static lb_status bad(const lb_tensor_info *t, const char *what, const lb_tensor_info *w)
{
    if (t == w)
        return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": NF4 weight: %s", t->file, NAME_SHOWN, t->name,
                       t->offset, what);
    return lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": %s (a part of NF4 weight '%.*s')", t->file, NAME_SHOWN,
                   t->name, t->offset, what, NAME_SHOWN, w->name);
}

/* A part that must be F32 with exactly n elements. */
static lb_status check_f32(const lb_tensor_info *t, int64_t n, const char *what, const lb_tensor_info *w)
{
    char msg[160];
    if (t->type != LB_TYPE_F32 || t->n_elements != n) {
        snprintf(msg, sizeof msg, "%s is %s with %" PRId64 " elements (F32 with %" PRId64 " expected)", what,
                 lb_type_traits_of(t->type)->name, t->n_elements, n);
        return bad(t, msg, w);
    }
    return LB_OK;
}

static bool json_int(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= 1) || j->valuedouble > 9007199254740992.0 ||
        floor(j->valuedouble) != j->valuedouble)
        return false;
    *out = (int64_t)j->valuedouble;
    return true;
}

/* The quant_state JSON: nf4, blocksize 64, a 2-D shape; nested fields when nested. */
static lb_status parse_state(const lb_tensor_info *qs, const lb_tensor_info *w, bool nested, int64_t shape[2], float *offset)
{
    char *text = lb_malloc((size_t)qs->nbytes + 1, "quant_state");
    if (!text) return LB_ERR_NOMEM;
    memcpy(text, qs->data, (size_t)qs->nbytes);
    text[qs->nbytes] = '\0';
    cJSON *j = cJSON_ParseWithLength(text, (size_t)qs->nbytes);
    free(text);
    lb_status st = LB_OK;
    const cJSON *qt = cJSON_GetObjectItemCaseSensitive(j, "quant_type");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    int64_t bs = 0, nbs = 0;
    if (!cJSON_IsObject(j)) st = bad(qs, "quant_state is not a JSON object", w);
    else if (!cJSON_IsString(qt)) st = bad(qs, "quant_state has no \"quant_type\" string", w);
    else if (strcmp(qt->valuestring, "nf4") != 0)
        st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' at offset %" PRIu64 ": quant_type '%.20s' of weight '%.*s' is not supported (only nf4)",
                     qs->file, NAME_SHOWN, qs->name, qs->offset, qt->valuestring, NAME_SHOWN, w->name);
    else if (!json_int(j, "blocksize", &bs) || bs != LB_NF4_BLOCK)
        st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' at offset %" PRIu64 ": blocksize of NF4 weight '%.*s' is not %d (only 64 is supported)",
                     qs->file, NAME_SHOWN, qs->name, qs->offset, NAME_SHOWN, w->name, LB_NF4_BLOCK);
    else if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(sh, 0)) ||
             !cJSON_IsNumber(cJSON_GetArrayItem(sh, 1)))
        st = bad(qs, "quant_state \"shape\" is not two integers", w);
    else {
        for (int k = 0; k < 2 && !st; k++) {
            double d = cJSON_GetArrayItem(sh, k)->valuedouble;
            if (!(d >= 1) || d > 2147483648.0 || floor(d) != d) st = bad(qs, "quant_state \"shape\" is not two positive integers", w);
            else shape[k] = (int64_t)d;
        }
    }
    if (!st && nested) {
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "nested_offset");
        if (!json_int(j, "nested_blocksize", &nbs) || nbs != LB_NF4_DQ_BLOCK)
            st = bad(qs, "quant_state \"nested_blocksize\" is not 256 (double-quantized absmax)", w);
        else if (!cJSON_IsNumber(off) || !isfinite((float)off->valuedouble))
            st = bad(qs, "quant_state has no finite \"nested_offset\" (double-quantized absmax)", w);
        else *offset = (float)off->valuedouble;
    }
    cJSON_Delete(j);
    return st;
}

/* Links weight w (U8) to the group around qs; marks each part's index in used[]. */
static lb_status link_group(lb_source *s, lb_tensor_info *w, const lb_tensor_info *qs, bool *used)
{
    const lb_tensor_info *am = sibling(s, w->name, ".absmax"), *qm = sibling(s, w->name, ".quant_map");
    const lb_tensor_info *na = sibling(s, w->name, ".nested_absmax"), *nm = sibling(s, w->name, ".nested_quant_map");
    if (!am) return bad(w, "no '.absmax' tensor beside the weight", w);
    if (!qm) return bad(w, "no '.quant_map' tensor beside the weight", w);
    bool nested = am->type == LB_TYPE_U8;
    if (!nested && am->type != LB_TYPE_F32) return bad(am, "absmax is neither F32 nor U8 (double quant)", w);
    if (nested && (!na || !nm)) return bad(am, "U8 (double-quantized) absmax without '.nested_absmax' and '.nested_quant_map'", w);
    if (!nested && (na || nm)) return bad(na ? na : nm, "nested tensor beside an F32 (not double-quantized) absmax", w);

    int64_t shape[2] = {0, 0};
    float offset = 0;
    lb_status st = parse_state(qs, w, nested, shape, &offset);
    if (st) return st;
    uint64_t n = (uint64_t)shape[0] * (uint64_t)shape[1], nb = (n + LB_NF4_BLOCK - 1) / LB_NF4_BLOCK;
    char msg[200];
    if (w->nbytes != (n + 1) / 2) {
        snprintf(msg, sizeof msg, "%" PRIu64 " bytes of packed codes, but shape [%" PRId64 ", %" PRId64 "] needs %" PRIu64,
                 w->nbytes, shape[0], shape[1], (n + 1) / 2);
        return bad(w, msg, w);
    }
    if (am->n_elements != (int64_t)nb) {
        snprintf(msg, sizeof msg, "%" PRId64 " absmax values, but %" PRIu64 " elements in blocks of 64 need %" PRIu64,
                 am->n_elements, n, nb);
        return bad(am, msg, w);
    }
    if ((st = check_f32(qm, 16, "quant_map", w))) return st;
    if (nested && ((st = check_f32(na, (int64_t)((nb + LB_NF4_DQ_BLOCK - 1) / LB_NF4_DQ_BLOCK), "nested_absmax", w)) ||
                   (st = check_f32(nm, 256, "nested_quant_map", w))))
        return st;

    w->type = LB_TYPE_NF4;
    w->n_dims = 2;
    memset(w->shape, 0, sizeof w->shape);
    w->shape[0] = shape[0];
    w->shape[1] = shape[1];
    w->n_elements = (int64_t)n;
    w->scale = am;
    w->quant_map = qm;
    w->nested_absmax = nested ? na : NULL;
    w->nested_quant_map = nested ? nm : NULL;
    w->nested_offset = offset;
    used[am - s->tensors] = used[qs - s->tensors] = true;
    return LB_OK;
}

lb_status lb_source_link_nf4(lb_source *s)
{
    bool *used = lb_calloc((size_t)s->n_tensors + 1, sizeof *used, "NF4 links");
    if (!used) return LB_ERR_NOMEM;
    lb_status st = LB_OK;
    /* the weights first: a U8 tensor with a quant_state beside it */
    for (int64_t i = 0; i < s->n_tensors && !st; i++) {
        lb_tensor_info *w = &s->tensors[i];
        if (w->type != LB_TYPE_U8 || ends_with(w->name, ".absmax") || ends_with(w->name, STATE_NF4) ||
            ends_with(w->name, STATE_FP4))
            continue;
        const lb_tensor_info *qs = sibling(s, w->name, STATE_NF4), *fp4 = sibling(s, w->name, STATE_FP4);
        if (fp4)
            st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' at offset %" PRIu64 ": bitsandbytes FP4 weight '%.*s' is not supported (only NF4)",
                         fp4->file, NAME_SHOWN, fp4->name, fp4->offset, NAME_SHOWN, w->name);
        else if (qs) {
            if (qs->type != LB_TYPE_U8) st = bad(qs, "quant_state is not U8 (JSON bytes)", w);
            else if (!(st = link_group(s, w, qs, used))) used[i] = true;
        } else if (sibling(s, w->name, ".absmax") || sibling(s, w->name, ".quant_map"))
            st = bad(w, "it has '.absmax' / '.quant_map' but no '.quant_state.bitsandbytes__nf4' beside it (missing quant_state)", w);
    }
    /* then any U8 left over: a part without its weight, or a tensor lowbit cannot interpret */
    for (int64_t i = 0; i < s->n_tensors && !st; i++) {
        const lb_tensor_info *t = &s->tensors[i];
        if (t->type != LB_TYPE_U8 || used[i]) continue;
        if (ends_with(t->name, STATE_NF4) || ends_with(t->name, ".absmax"))
            st = lb_fail(LB_ERR_FORMAT, "%s: tensor '%.*s' at offset %" PRIu64 ": NF4 part without a U8 weight it belongs to",
                         t->file, NAME_SHOWN, t->name, t->offset);
        else
            st = lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%.*s' at offset %" PRIu64 ": dtype U8 is not supported "
                                             "(only as part of a bitsandbytes NF4 weight)",
                         t->file, NAME_SHOWN, t->name, t->offset);
    }
    free(used);
    return st;
}
