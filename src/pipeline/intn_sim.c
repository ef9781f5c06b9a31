/* Simulated INT-N weights (see intn_sim.h). */
#include "pipeline/intn_sim.h"
#include "quant/grid.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

bool lb_intn_type(const char *type, int *bits)
{
    int b = 0, n = 0;
    if (!type || strncasecmp(type, "INT", 3) != 0 || sscanf(type + 3, "%d%n", &b, &n) != 1 || type[3 + n] || b < 2 ||
        b > 8)
        return false;
    *bits = b;
    return true;
}

lb_intn_params lb_intn_for_cols(const lb_quantize_params *p, int64_t cols)
{
    int bits = 4;
    lb_intn_type(p->type, &bits);
    int64_t g = p->group_size > 0 ? p->group_size : p->group_size < 0 ? -1 : 128;
    if (g > 0 && cols % g != 0) g = -1;
    return (lb_intn_params){.bits = bits, .group_size = g, .sym = !p->asym};
}

lb_status lb_intn_round_rows(const lb_intn_params *ip, float *x, int64_t rows, int64_t cols)
{
    lb_grid *g = NULL;
    lb_grid_spec spec = {.intn = *ip};
    lb_status st = lb_grid_create(&spec, rows, cols, &g);
    if (st) return st;
    int64_t gs = lb_grid_group_size(g);
    for (int64_t r = 0; r < rows; r++) {
        float *w = x + r * cols;
        for (int64_t c0 = 0; c0 < cols; c0 += gs) {
            lb_grid_fit(g, r, c0 / gs, w + c0, NULL);
            for (int64_t c = c0; c < c0 + gs; c++) w[c] = lb_grid_round(g, r, c, w[c]);
        }
    }
    lb_grid_free(g);
    return LB_OK;
}

double lb_intn_bpw(const lb_intn_params *ip, int64_t cols)
{
    double per_group = 16.0 + ip->bits;
    return ip->bits + per_group / (double)(ip->group_size > 0 ? ip->group_size : cols);
}
