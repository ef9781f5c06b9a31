/* The type-traits table. Decoders live beside their block layouts (dequant_*.c). */
#include "quant/types.h"
#include "core/core.h"
#include "quant/dequant.h"

#include <string.h>

static const lb_type_traits g_traits[LB_TYPE_COUNT] = {
    [LB_TYPE_F32] = {"F32", 1, 4, false, true, lb_dequant_f32},
    [LB_TYPE_F16] = {"F16", 1, 2, false, true, lb_dequant_f16},
    [LB_TYPE_BF16] = {"BF16", 1, 2, false, true, lb_dequant_bf16},
    [LB_TYPE_F64] = {"F64", 1, 8, false, true, lb_dequant_f64},
    [LB_TYPE_F8_E4M3] = {"F8_E4M3", 1, 1, false, true, lb_dequant_f8_e4m3},
    [LB_TYPE_F8_E5M2] = {"F8_E5M2", 1, 1, false, true, lb_dequant_f8_e5m2},
    /* NF4 decodes only with its linked absmax and quant_map (model/weights.c), so no to_f32 */
    [LB_TYPE_U8] = {"U8", 1, 1, false, false, NULL},
    [LB_TYPE_NF4] = {"NF4", 2, 1, true, false, NULL},
    [LB_TYPE_I8] = {"I8", 1, 1, false, false, NULL},
    [LB_TYPE_I16] = {"I16", 1, 2, false, false, NULL},
    [LB_TYPE_I32] = {"I32", 1, 4, false, false, NULL},
    [LB_TYPE_I64] = {"I64", 1, 8, false, false, NULL},
    [LB_TYPE_Q4_0] = {"Q4_0", 32, 18, true, true, lb_dequant_q4_0},
    [LB_TYPE_Q4_1] = {"Q4_1", 32, 20, true, true, lb_dequant_q4_1},
    [LB_TYPE_Q5_0] = {"Q5_0", 32, 22, true, true, lb_dequant_q5_0},
    [LB_TYPE_Q5_1] = {"Q5_1", 32, 24, true, true, lb_dequant_q5_1},
    [LB_TYPE_Q8_0] = {"Q8_0", 32, 34, true, true, lb_dequant_q8_0},
    [LB_TYPE_Q8_1] = {"Q8_1", 32, 36, true, false, NULL},
    [LB_TYPE_Q2_K] = {"Q2_K", 256, 84, true, true, lb_dequant_q2_k},
    [LB_TYPE_Q3_K] = {"Q3_K", 256, 110, true, true, lb_dequant_q3_k},
    [LB_TYPE_Q4_K] = {"Q4_K", 256, 144, true, true, lb_dequant_q4_k},
    [LB_TYPE_Q5_K] = {"Q5_K", 256, 176, true, true, lb_dequant_q5_k},
    [LB_TYPE_Q6_K] = {"Q6_K", 256, 210, true, true, lb_dequant_q6_k},
    [LB_TYPE_Q8_K] = {"Q8_K", 256, 292, true, false, NULL},
    [LB_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, true, true, lb_dequant_iq4_nl},
    [LB_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, true, true, lb_dequant_iq4_xs},
};

const lb_type_traits *lb_type_traits_of(int64_t t)
{
    if (t < 0 || t >= LB_TYPE_COUNT || !g_traits[t].name) return NULL;
    return &g_traits[t];
}

bool lb_type_from_name(const char *name, lb_type *out)
{
    for (int t = 0; t < LB_TYPE_COUNT; t++) {
        if (g_traits[t].name && strcmp(g_traits[t].name, name) == 0) {
            *out = (lb_type)t;
            return true;
        }
    }
    return false;
}

bool lb_type_nbytes(lb_type t, uint64_t n, uint64_t *out)
{
    const lb_type_traits *tr = lb_type_traits_of(t);
    if (!tr || n % (uint64_t)tr->block_size != 0) return false;
    return lb_mul_ok(n / (uint64_t)tr->block_size, tr->type_size, out);
}
