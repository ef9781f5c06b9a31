/* lowbit stats: the report as one self-contained HTML page. No scripts, fonts or style sheets
 * from elsewhere: the plots are inline SVG drawn here, so the file can be mailed, archived and
 * opened offline. Plots (each <svg class="plot"> with a <title> and a visible label, axis labels
 * and ticks):
 *   - per-channel max |x| (bars) and mean |x| (line) of every linear group's input for the first,
 *     middle and last block, as LLMC's channel plots: outlier channels stand out as spikes;
 *   - activation kurtosis and max/median by layer (one line per linear group);
 *   - weight kurtosis by layer and each method's relative output error by layer (one line per
 *     weight: q k v o gate up down).
 * Then the numbers as tables. Every string that comes from outside (paths, tensor names) is
 * escaped. Kurtosis spans decades (3 for a Gaussian, thousands with massive activations), so a
 * y axis whose data spans more than a decade is logarithmic. */
#include "eval/stats.h"

#include <math.h>
#include <string.h>

static const char *const COLORS[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                     "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

#define PLOT_W 560
#define PLOT_H 280
#define M_LEFT 64
#define M_RIGHT 16
#define M_TOP 48
#define M_BOTTOM 44
#define MAX_BINS 480 /* channel plots: at most one bar per plot-area pixel */

// ---- axes ----

/* One axis: data range [lo, hi] to pixels [p0, p1], linear or log10. */
typedef struct axis {
    double lo, hi, p0, p1;
    bool log;
} axis;

static double to_px(const axis *a, double v)
{
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

/* 1, 2 or 5 times a power of ten, about range / target. */
static double nice_step(double range, int target)
{
    double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

/* A y axis over the finite values: log when they are all positive and span more than a decade
 * (allow_log), else linear from 0 (all our quantities are magnitudes) to a rounded maximum. */
static axis y_axis(double mn, double mx, bool allow_log)
{
    axis a = {.p0 = PLOT_H - M_BOTTOM, .p1 = M_TOP};
    if (!(mx >= mn)) mn = 0, mx = 1; /* no finite value */
    if (allow_log && mn > 0 && mx / mn > 10) {
        a.log = true;
        a.lo = pow(10, floor(log10(mn)));
        a.hi = pow(10, ceil(log10(mx)));
        return a;
    }
    a.lo = mn < 0 ? mn : 0;
    double step = nice_step(mx > a.lo ? mx - a.lo : 1, 5);
    a.hi = a.lo + step * ceil((mx - a.lo) / step);
    if (a.hi <= a.lo) a.hi = a.lo + step;
    return a;
}

static void fmt_tick(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.6g", fabs(v) < 1e-12 ? 0.0 : v);
}

/* The frame, grid lines, ticks and their numbers, axis labels, title and legend. */
static void draw_frame(lb_sbuf *b, const char *title, const char *xlabel, const char *ylabel, const axis *x,
                       const axis *y, double x_step, const char *const *legend, int n_legend)
{
    lb_sbuf_printf(b, "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                      "viewBox=\"0 0 %d %d\" role=\"img\"><title>",
                   PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    lb_sbuf_html(b, title);
    lb_sbuf_printf(b, "</title>\n<text class=\"ptitle\" x=\"%d\" y=\"18\">", M_LEFT);
    lb_sbuf_html(b, title);
    lb_sbuf_puts(b, "</text>\n");
    char t[32];
    /* y ticks: decades on a log axis, else a nice step */
    if (y->log) {
        for (double v = y->lo; v <= y->hi * 1.0001; v *= 10) {
            double py = to_px(y, v);
            fmt_tick(t, sizeof t, v);
            lb_sbuf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                              "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                           M_LEFT, py, PLOT_W - M_RIGHT, py, M_LEFT - 5, py + 4, t);
        }
    } else {
        double step = nice_step(y->hi - y->lo, 5);
        for (double v = y->lo; v <= y->hi + step * 1e-6; v += step) {
            double py = to_px(y, v);
            fmt_tick(t, sizeof t, v);
            lb_sbuf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                              "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                           M_LEFT, py, PLOT_W - M_RIGHT, py, M_LEFT - 5, py + 4, t);
        }
    }
    for (double v = ceil(x->lo / x_step) * x_step; v <= x->hi + x_step * 1e-6; v += x_step) {
        double px = to_px(x, v);
        fmt_tick(t, sizeof t, v);
        lb_sbuf_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                          "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                       px, PLOT_H - M_BOTTOM, px, PLOT_H - M_BOTTOM + 5, px, PLOT_H - M_BOTTOM + 17, t);
    }
    lb_sbuf_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", M_LEFT, M_TOP,
                   PLOT_W - M_LEFT - M_RIGHT, PLOT_H - M_TOP - M_BOTTOM);
    lb_sbuf_printf(b, "<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (PLOT_W + M_LEFT - M_RIGHT) / 2,
                   PLOT_H - 8);
    lb_sbuf_html(b, xlabel);
    lb_sbuf_printf(b, "</text>\n<text class=\"label\" transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">",
                   (PLOT_H - M_BOTTOM + M_TOP) / 2);
    lb_sbuf_html(b, ylabel);
    lb_sbuf_puts(b, "</text>\n");
    int lx = M_LEFT;
    for (int i = 0; i < n_legend; i++) {
        lb_sbuf_printf(b, "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"%s\"/><text class=\"legend\" x=\"%d\" y=\"37\">",
                       lx, COLORS[i % 8], lx + 13);
        lb_sbuf_html(b, legend[i]);
        lb_sbuf_puts(b, "</text>\n");
        lx += 22 + 7 * (int)strlen(legend[i]);
    }
}

// ---- by-layer line plots ----

/* One line per series over the layers: y[series * n_layer + layer] (NaN: no point). */
static void layer_plot(lb_sbuf *b, const char *title, const char *ylabel, const double *y, int n_series,
                       const char *const *names, int64_t n_layer, bool allow_log)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < n_series * n_layer; i++)
        if (isfinite(y[i])) mn = fmin(mn, y[i]), mx = fmax(mx, y[i]);
    axis ya = y_axis(mn, mx, allow_log);
    axis xa = {.lo = -0.5, .hi = (double)n_layer - 0.5, .p0 = M_LEFT, .p1 = PLOT_W - M_RIGHT};
    double step = n_layer <= 10 ? 1 : ceil(nice_step((double)n_layer, 8));
    draw_frame(b, title, "layer", ylabel, &xa, &ya, step, names, n_series);
    for (int s = 0; s < n_series; s++) {
        const double *ys = y + (int64_t)s * n_layer;
        lb_sbuf_printf(b, "<g class=\"series\" stroke=\"%s\" fill=\"%s\">", COLORS[s % 8], COLORS[s % 8]);
        bool pen = false;
        lb_sbuf_puts(b, "<path fill=\"none\" stroke-width=\"1.5\" d=\"");
        for (int64_t l = 0; l < n_layer; l++) {
            if (!isfinite(ys[l]) || (ya.log && ys[l] <= 0)) {
                pen = false;
                continue;
            }
            lb_sbuf_printf(b, "%c%.1f %.1f ", pen ? 'L' : 'M', to_px(&xa, (double)l), to_px(&ya, ys[l]));
            pen = true;
        }
        lb_sbuf_puts(b, "\"/>");
        if (n_layer <= 64)
            for (int64_t l = 0; l < n_layer; l++)
                if (isfinite(ys[l]) && !(ya.log && ys[l] <= 0))
                    lb_sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", to_px(&xa, (double)l),
                                   to_px(&ya, ys[l]));
        lb_sbuf_puts(b, "</g>\n");
    }
    lb_sbuf_puts(b, "</svg>\n");
}

// ---- channel plots ----

/* max |x| per channel as bars (binned to the plot's pixels, a bin showing its largest channel so
 * that no spike is averaged away), mean |x| as a line, the three largest channels labelled. */
static void channel_plot(lb_sbuf *b, const stats_input *in)
{
    char title[128];
    snprintf(title, sizeof title, "Layer %lld, %s input: per-channel max|x| and mean|x|", (long long)in->layer,
             lb_stats_role_name(in->role));
    int64_t n = in->n_in, bins = n < MAX_BINS ? n : MAX_BINS;
    double mx = in->n_top ? in->top[0].value : 0;
    axis ya = y_axis(0, mx > 0 ? mx : 1, false);
    axis xa = {.lo = -0.5, .hi = (double)n - 0.5, .p0 = M_LEFT, .p1 = PLOT_W - M_RIGHT};
    static const char *const legend[] = {"max|x|", "mean|x|"};
    draw_frame(b, title, "input channel", "|x|", &xa, &ya, nice_step((double)n, 6), legend, 2);
    double bar_w = (xa.p1 - xa.p0) / (double)bins, base = to_px(&ya, 0);
    lb_sbuf_printf(b, "<path stroke=\"%s\" stroke-width=\"%.2f\" d=\"", COLORS[0], bar_w > 1.2 ? bar_w * 0.8 : 1.0);
    for (int64_t k = 0; k < bins; k++) {
        int64_t j0 = k * n / bins, j1 = (k + 1) * n / bins;
        float v = 0;
        for (int64_t j = j0; j < j1; j++) v = in->ch_max[j] > v ? in->ch_max[j] : v;
        lb_sbuf_printf(b, "M%.1f %.1fV%.1f", xa.p0 + (k + 0.5) * bar_w, base, to_px(&ya, v));
    }
    lb_sbuf_printf(b, "\"/>\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" d=\"", COLORS[1]);
    for (int64_t k = 0; k < bins; k++) {
        int64_t j0 = k * n / bins, j1 = (k + 1) * n / bins;
        double v = 0;
        for (int64_t j = j0; j < j1; j++) v += in->ch_mean[j];
        lb_sbuf_printf(b, "%c%.1f %.1f", k ? 'L' : 'M', xa.p0 + (k + 0.5) * bar_w, to_px(&ya, v / (double)(j1 - j0)));
    }
    lb_sbuf_puts(b, "\"/>\n");
    /* labels above their bars, inside the frame, stacked when two would overlap */
    double lx[3], ly[3];
    for (int i = 0; i < in->n_top && i < 3; i++) {
        lx[i] = fmin(fmax(xa.p0 + ((double)(in->top[i].index * bins / n) + 0.5) * bar_w, xa.p0 + 14), xa.p1 - 16);
        ly[i] = fmax(to_px(&ya, in->top[i].value) - 4, M_TOP + 11);
        for (int j = 0; j < i; j++)
            if (fabs(lx[i] - lx[j]) < 28 && fabs(ly[i] - ly[j]) < 13) ly[i] = ly[j] + 13;
        lb_sbuf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">#%lld</text>\n", lx[i],
                       ly[i], (long long)in->top[i].index);
    }
    lb_sbuf_puts(b, "</svg>\n");
}

// ---- page ----

static const char *STYLE =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1180px}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}"
    ".grid{display:flex;flex-wrap:wrap;gap:12px}"
    "svg.plot{background:#fff;border:1px solid #ddd}"
    "svg.plot text{font-size:11px;fill:#333}svg.plot .ptitle{font-size:13px;font-weight:bold}"
    "svg.plot .grid{stroke:#eee}svg.plot .axis{stroke:#888}svg.plot .frame{fill:none;stroke:#888}"
    "table{border-collapse:collapse;font-size:12px;margin:8px 0}"
    "td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}"
    ".note{color:#555;font-size:13px}";

static void num_cell(lb_sbuf *b, double v)
{
    if (isfinite(v)) lb_sbuf_printf(b, "<td>%.4g</td>", v);
    else lb_sbuf_puts(b, "<td>n/a</td>");
}

static void top_cell(lb_sbuf *b, const lb_stats_channel *top, int n)
{
    lb_sbuf_puts(b, "<td class=\"l\">");
    for (int i = 0; i < n; i++) lb_sbuf_printf(b, "%s%lld: %.3g", i ? ", " : "", (long long)top[i].index, top[i].value);
    lb_sbuf_puts(b, "</td>");
}

static const char *method_title(const char *m) { return strcmp(m, "rtn") == 0 ? "RTN (Q4_0)" : m; }

static void header(lb_sbuf *b, const lb_stats *s)
{
    lb_sbuf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>lowbit stats: ");
    lb_sbuf_html(b, s->model);
    lb_sbuf_printf(b, "</title>\n<style>%s</style></head><body>\n<h1>Outlier statistics: ", STYLE);
    lb_sbuf_html(b, s->model);
    lb_sbuf_printf(b, "</h1>\n<p class=\"note\">Architecture ");
    lb_sbuf_html(b, s->arch);
    lb_sbuf_printf(b, ", %lld layers, n_embd %lld, n_ff %lld, %lld heads (%lld KV) of %lld. Calibration text ",
                   (long long)s->n_layer, (long long)s->n_embd, (long long)s->n_ff, (long long)s->n_head,
                   (long long)s->n_head_kv, (long long)s->head_dim);
    lb_sbuf_html(b, s->calib);
    lb_sbuf_printf(b, ": %lld windows of %lld tokens%s, %lld tokens per linear; errors on %lld sampled rows. Methods: ",
                   (long long)s->n_windows, (long long)s->calib_len, s->bos ? " (BOS first)" : "",
                   (long long)s->n_tokens, (long long)s->n_sampled);
    for (int k = 0; k < s->n_methods; k++) lb_sbuf_printf(b, "%s%s", k ? ", " : "", method_title(s->methods[k]));
    lb_sbuf_printf(b, ". Computed by lowbit %s in %.1f s.</p>\n", LOWBIT_VERSION, s->seconds);
    lb_sbuf_printf(b, "<p class=\"note\">Kurtosis is Pearson's E[(x-&mu;)<sup>4</sup>]/&sigma;<sup>4</sup>: 3 for a "
                      "Gaussian, 1.8 for a uniform, large when a few values dominate. Activation kurtosis is taken "
                      "per token across channels (mean and standard deviation over tokens); max/median compares the "
                      "largest per-channel max|x| with the median one. The error of a method is "
                      "&#8214;(W&minus;Q)X&#8214; / &#8214;WX&#8214; on the sampled input rows.</p>\n");
}

static void plots(lb_sbuf *b, const lb_stats *s)
{
    int64_t L = s->n_layer, reps[3] = {0, L / 2, L - 1};
    lb_sbuf_puts(b, "<h2>Input channel magnitudes</h2>\n<div class=\"grid\">\n");
    for (int i = 0; i < 3; i++) {
        if ((i > 0 && reps[i] == reps[i - 1]) || (i == 2 && reps[2] == reps[0])) continue;
        for (int r = 0; r < LB_STATS_ROLES; r++) channel_plot(b, &s->inputs[reps[i] * LB_STATS_ROLES + r]);
    }
    lb_sbuf_puts(b, "</div>\n<h2>By layer</h2>\n<div class=\"grid\">\n");
    double *y = calloc((size_t)(L * LB_STATS_WEIGHTS), sizeof *y);
    if (!y) {
        b->oom = true;
        return;
    }
    const char *roles[LB_STATS_ROLES], *kinds[LB_STATS_WEIGHTS];
    for (int r = 0; r < LB_STATS_ROLES; r++) roles[r] = lb_stats_role_name((lb_linear_role)r);
    for (int k = 0; k < LB_STATS_WEIGHTS; k++) kinds[k] = lb_stats_weight_kind_name(k);
    for (int64_t l = 0; l < L; l++)
        for (int r = 0; r < LB_STATS_ROLES; r++) y[r * L + l] = s->inputs[l * LB_STATS_ROLES + r].kurt_mean;
    layer_plot(b, "Activation kurtosis by layer (mean over tokens)", "kurtosis", y, LB_STATS_ROLES, roles, L, true);
    for (int64_t l = 0; l < L; l++)
        for (int r = 0; r < LB_STATS_ROLES; r++) y[r * L + l] = s->inputs[l * LB_STATS_ROLES + r].max_median;
    layer_plot(b, "Activation max/median of per-channel max|x| by layer", "max / median", y, LB_STATS_ROLES, roles, L,
               true);
    for (int64_t l = 0; l < L; l++)
        for (int k = 0; k < LB_STATS_WEIGHTS; k++) y[k * L + l] = s->weights[l * LB_STATS_WEIGHTS + k].kurt;
    layer_plot(b, "Weight kurtosis by layer", "kurtosis", y, LB_STATS_WEIGHTS, kinds, L, true);
    for (int m = 1; m < s->n_methods; m++) {
        char title[96];
        snprintf(title, sizeof title, "%s error by layer", method_title(s->methods[m]));
        for (int64_t l = 0; l < L; l++)
            for (int k = 0; k < LB_STATS_WEIGHTS; k++) y[k * L + l] = s->weights[l * LB_STATS_WEIGHTS + k].rel_err[m];
        layer_plot(b, title, "||(W-Q)X|| / ||WX||", y, LB_STATS_WEIGHTS, kinds, L, false);
    }
    free(y);
    lb_sbuf_puts(b, "</div>\n");
    if (s->n_methods < 2)
        lb_sbuf_printf(b, "<p class=\"note\">No quantization method was measured: run with --after rtn for the "
                          "error by layer.</p>\n");
}

static void tables(lb_sbuf *b, const lb_stats *s)
{
    lb_sbuf_printf(b, "<h2>Inputs</h2>\n<table><tr><th>layer</th><th class=\"l\">input</th><th>channels</th>"
                      "<th>kurtosis mean</th><th>kurtosis std</th><th>max/median</th>"
                      "<th class=\"l\">top channels (index: max|x|)</th></tr>\n");
    for (int64_t i = 0; i < s->n_layer * LB_STATS_ROLES; i++) {
        const stats_input *in = &s->inputs[i];
        lb_sbuf_printf(b, "<tr><td>%lld</td><td class=\"l\">%s</td><td>%lld</td>", (long long)in->layer,
                       lb_stats_role_name(in->role), (long long)in->n_in);
        num_cell(b, in->kurt_mean);
        num_cell(b, in->kurt_std);
        num_cell(b, in->max_median);
        top_cell(b, in->top, in->n_top);
        lb_sbuf_puts(b, "</tr>\n");
    }
    lb_sbuf_printf(b, "</table>\n<h2>Weights</h2>\n<table><tr><th>layer</th><th class=\"l\">tensor</th><th>shape</th>"
                      "<th>kurtosis</th><th>max/median</th><th class=\"l\">top columns (index: max|W|)</th>");
    for (int m = 1; m < s->n_methods; m++) lb_sbuf_printf(b, "<th>%s error</th>", method_title(s->methods[m]));
    lb_sbuf_puts(b, "</tr>\n");
    for (int64_t i = 0; i < s->n_layer * LB_STATS_WEIGHTS; i++) {
        const stats_weight *w = &s->weights[i];
        lb_sbuf_printf(b, "<tr><td>%lld</td><td class=\"l\">", (long long)w->layer);
        lb_sbuf_html(b, w->name ? w->name : "");
        lb_sbuf_printf(b, "</td><td>%lld&times;%lld</td>", (long long)w->n_out, (long long)w->n_in);
        num_cell(b, w->kurt);
        num_cell(b, w->max_median);
        top_cell(b, w->top, w->n_top);
        for (int m = 1; m < s->n_methods; m++) num_cell(b, w->rel_err[m]);
        lb_sbuf_puts(b, "</tr>\n");
    }
    lb_sbuf_puts(b, "</table>\n");
}

void lb_stats_html(const lb_stats *s, lb_sbuf *b)
{
    header(b, s);
    plots(b, s);
    tables(b, s);
    lb_sbuf_puts(b, "</body></html>\n");
}
