/* Links each FP8 weight of a source to its scale tensor, the way FP8 checkpoints store them:
 * compressed-tensors "float-quantized" (vLLM / llm-compressor) writes `<name>_scale`
 * (weight -> weight_scale), DeepSeek-V3 writes `<name>_scale_inv` (the same quantity: the
 * factor that multiplies the decoded codes). The layout is read from the scale's shape:
 *   [1] (or a scalar, or [1, 1])        one scale for the tensor
 *   [rows, 1] or [rows]                 one per output channel
 *   [ceil(rows/128), ceil(cols/128)]    one per 128 x 128 block (edge blocks partial)
 * Anything else is refused, naming the weight, the scale, file and offset: a scale that does
 * not fit its weight would otherwise decode to plausible garbage. Not here: decoding
 * (model/weights.c applies the scale). */
#include "io/source.h"
#include "quant/fp8.h"
#include "quant/types.h"

#include <inttypes.h>
#include <string.h>

static bool is_fp8(lb_type t) { return t == LB_TYPE_F8_E4M3 || t == LB_TYPE_F8_E5M2; }

static const lb_tensor_info *find_suffixed(const lb_source *s, const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    char *key = lb_malloc(n + k + 1, "scale name");
    if (!key) return NULL;
    memcpy(key, name, n);
    memcpy(key + n, suffix, k + 1);
    const lb_tensor_info *t = lb_source_find(s, key);
    free(key);
    return t;
}

static void shape_str(const lb_tensor_info *t, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->n_dims && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", t->shape[i]);
}

/* The scaling of weight w from the shape of its scale sc; -1 when it fits none. */
static int scaling_of(const lb_tensor_info *w, const lb_tensor_info *sc)
{
    int64_t rows = w->n_dims == 1 ? 1 : w->n_elements / w->shape[w->n_dims - 1];
    int64_t cols = w->shape[w->n_dims - 1];
    if (sc->n_elements == 1) return LB_FP8_SCALE_TENSOR;
    bool column = (sc->n_dims == 2 && sc->shape[1] == 1) || sc->n_dims == 1;
    if (column && sc->shape[0] == rows && w->n_dims == 2) return LB_FP8_SCALE_CHANNEL;
    int64_t br = (rows + LB_FP8_BLOCK - 1) / LB_FP8_BLOCK, bc = (cols + LB_FP8_BLOCK - 1) / LB_FP8_BLOCK;
    if (sc->n_dims == 2 && sc->shape[0] == br && sc->shape[1] == bc && w->n_dims == 2) return LB_FP8_SCALE_BLOCK;
    return -1;
}

lb_status lb_source_link_scales(lb_source *s)
{
    for (int64_t i = 0; i < s->n_tensors; i++) {
        lb_tensor_info *w = &s->tensors[i];
        if (!is_fp8(w->type)) continue;
        const lb_tensor_info *sc = find_suffixed(s, w->name, "_scale");
        if (!sc) sc = find_suffixed(s, w->name, "_scale_inv");
        if (!sc) continue; /* a bare FP8 tensor: its codes are its values */
        if (sc->type != LB_TYPE_F32 && sc->type != LB_TYPE_F16 && sc->type != LB_TYPE_BF16)
            return lb_fail(LB_ERR_FORMAT, "%s: tensor '%s' at offset %" PRIu64 ": scale of FP8 tensor '%s' has dtype %s (F32, F16 or BF16 expected)",
                           sc->file, sc->name, sc->offset, w->name, lb_type_traits_of(sc->type)->name);
        int scaling = scaling_of(w, sc);
        if (scaling < 0) {
            char got[96], want[96];
            shape_str(sc, got, sizeof got);
            shape_str(w, want, sizeof want);
            int64_t cols = w->shape[w->n_dims - 1], rows = w->n_elements / cols;
            return lb_fail(LB_ERR_FORMAT,
                           "%s: tensor '%s' at offset %" PRIu64 ": scale shape [%s] fits FP8 tensor '%s' [%s] neither per tensor [1], "
                           "per channel [%" PRId64 ", 1] nor per 128x128 block [%" PRId64 ", %" PRId64 "]",
                           sc->file, sc->name, sc->offset, got, w->name, want, rows, (rows + 127) / 128, (cols + 127) / 128);
        }
        w->scale = sc;
        w->fp8_scaling = scaling;
    }
    return LB_OK;
}
