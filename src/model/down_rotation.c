/* The online down_proj rotation's GGUF record (see down_rotation.h). */
#include "model/down_rotation.h"
#include "io/gguf.h"

#include <string.h>

lb_status lb_down_rotation_read(const lb_source *src, int64_t n_ff, lb_kron_rotation *r, bool *present)
{
    memset(r, 0, sizeof *r);
    *present = false;
    const lb_gguf *g = src->gguf;
    if (!g || lb_gguf_find(g, LB_KEY_DOWN_ROT_M) < 0) return LB_OK;
    int64_t m = 0, iq = lb_gguf_find(g, LB_KEY_DOWN_ROT_Q), is = lb_gguf_find(g, LB_KEY_DOWN_ROT_SIGN);
    if (!lb_gguf_get_i64(g, LB_KEY_DOWN_ROT_M, &m) || m < 1 || m > n_ff)
        return lb_fail(LB_ERR_FORMAT, "%s: %s is not an integer from 1 to n_ff = %lld", src->path, LB_KEY_DOWN_ROT_M,
                       (long long)n_ff);
    if (iq < 0 || lb_gguf_kv_type(g, iq) != LB_GGUF_ARRAY || lb_gguf_arr_len(g, iq) != (uint64_t)(m * m))
        return lb_fail(LB_ERR_FORMAT, "%s: %s must be an array of m * m = %lld numbers", src->path, LB_KEY_DOWN_ROT_Q,
                       (long long)(m * m));
    if (is < 0 || lb_gguf_kv_type(g, is) != LB_GGUF_ARRAY || lb_gguf_arr_len(g, is) != (uint64_t)n_ff)
        return lb_fail(LB_ERR_FORMAT, "%s: %s must be an array of n_ff = %lld signs", src->path, LB_KEY_DOWN_ROT_SIGN,
                       (long long)n_ff);
    float *q = lb_malloc((size_t)(m * m) * sizeof *q, "online rotation"), *s = lb_malloc((size_t)n_ff * sizeof *s, "signs");
    lb_status st = q && s ? LB_OK : LB_ERR_NOMEM;
    for (int64_t i = 0; !st && i < m * m; i++) {
        double d;
        if (!lb_gguf_arr_f64(g, iq, (uint64_t)i, &d))
            st = lb_fail(LB_ERR_FORMAT, "%s: %s[%lld] is not a number", src->path, LB_KEY_DOWN_ROT_Q, (long long)i);
        else
            q[i] = (float)d;
    }
    for (int64_t i = 0; !st && i < n_ff; i++) {
        int64_t v;
        if (!lb_gguf_arr_i64(g, is, (uint64_t)i, &v))
            st = lb_fail(LB_ERR_FORMAT, "%s: %s[%lld] is not an integer", src->path, LB_KEY_DOWN_ROT_SIGN, (long long)i);
        else
            s[i] = (float)v;
    }
    if (!st) st = lb_kron_rotation_from(n_ff, m, q, s, src->path, r);
    free(q);
    free(s);
    if (!st) *present = true;
    return st;
}

lb_status lb_down_rotation_write(lb_gguf_writer *w, const lb_kron_rotation *r)
{
    int8_t *s = lb_malloc((size_t)r->n, "signs");
    if (!s) return LB_ERR_NOMEM;
    for (int64_t i = 0; i < r->n; i++) s[i] = r->sign[i] < 0 ? -1 : 1;
    lb_gguf_add_u32(w, LB_KEY_DOWN_ROT_M, (uint32_t)r->m);
    lb_gguf_add_arr(w, LB_KEY_DOWN_ROT_Q, LB_GGUF_FLOAT32, r->q, (uint64_t)(r->m * r->m));
    lb_gguf_add_arr(w, LB_KEY_DOWN_ROT_SIGN, LB_GGUF_INT8, s, (uint64_t)r->n);
    free(s);
    return lb_gguf_writer_status(w);
}
