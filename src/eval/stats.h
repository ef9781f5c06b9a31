/* Outlier statistics (lowbit stats), internal side: the report's data as the collector fills it,
 * the numeric helpers the tests check against hand-computed values, and the writers' entry
 * points. The public view (lb_stats_input, lb_stats_weight) is read through lowbit.h. */
#ifndef LB_EVAL_STATS_H
#define LB_EVAL_STATS_H

#include "model/model.h"

#define LB_STATS_ROLES 4       /* the block's linear groups: LB_LINEAR_QKV .. LB_LINEAR_DOWN */
#define LB_STATS_WEIGHTS 7     /* q, k, v, o, gate, up, down */
#define LB_STATS_MAX_METHODS 8 /* "float" and the --after methods */

// ---- numeric helpers ----

/* Pearson kurtosis E[(x - mu)^4] / sigma^4 (3 for a Gaussian, 1.8 for a uniform; not the
 * excess), accumulated in double; NaN when n < 2 or every value is equal. */
double lb_stats_kurtosis(const float *x, int64_t n);
/* max / median of v[n] (non-negative magnitudes); the median of an even count is the mean of
 * the middle two. NaN when n < 1 or the median is 0 (the ratio is unbounded). */
double lb_stats_max_median(const float *v, int64_t n);
/* The k largest of v[n] (ties: the lower index first), in descending order; returns how many
 * (min(k, n)). */
int lb_stats_top_k(const float *v, int64_t n, int k, lb_stats_channel *out);

// ---- the report ----

/* One linear group's input activations over every calibration token. */
typedef struct stats_input {
    int64_t layer;
    lb_linear_role role;
    int64_t n_in, n_tokens;
    float *ch_max;            /* [n_in] max over tokens of |x_j| */
    float *ch_mean;           /* [n_in] mean over tokens of |x_j| */
    double kurt_mean, kurt_std; /* per-token kurtosis across channels, over the tokens that have one */
    int64_t kurt_n;
    double max_median;        /* of ch_max */
    lb_stats_channel top[LB_STATS_TOP];
    int n_top;
} stats_input;

/* One linear weight [n_out][n_in]. */
typedef struct stats_weight {
    int64_t layer;
    int kind;                 /* index into lb_stats_weight_names(): q k v o gate up down */
    char *name;               /* tensor name in the source */
    int64_t n_out, n_in;
    double kurt;              /* over all elements */
    double max_median;        /* of the per-input-column max |W| */
    lb_stats_channel top[LB_STATS_TOP]; /* input columns with the largest max |W| */
    int n_top;
    double rel_err[LB_STATS_MAX_METHODS]; /* ||(W - Q) X|| / ||W X|| per method (NaN: not applicable) */
} stats_weight;

struct lb_stats {
    char *model, *calib, *arch;
    int64_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim;
    int64_t n_windows, calib_len, n_tokens, n_sampled;
    bool bos;                 /* each window starts with BOS */
    int n_methods;            /* method 0 is "float" (error 0 by definition) */
    const char *methods[LB_STATS_MAX_METHODS];
    double seconds;
    stats_input *inputs;      /* [n_layer * LB_STATS_ROLES], layer-major */
    stats_weight *weights;    /* [n_layer * LB_STATS_WEIGHTS], layer-major */
};

// ---- methods (--after, stats_methods.c) ----

/* What a method sees of a linear group's input: the retained rows and the statistics of all
 * tokens (AWQ's scales come from ch_mean, SmoothQuant's from ch_max). */
typedef struct stats_group {
    const float *x; /* [n_rows][n_in] */
    int64_t n_rows, n_in;
    const stats_input *in;
} stats_group;

/* "rtn,awq" -> method indices (order kept, duplicates dropped, "none" skipped); LB_ERR_ARG
 * naming an unknown one. */
lb_status lb_stats_parse_after(const char *after, int *idx, int *n);
const char *lb_stats_method_name(int k);
/* Method k on weight w[n_out][n_in]: q <- the weight it runs and xq (X_s on entry) <- the input
 * it runs, both in the original input basis (a transform folded into neighbours, AWQ's diag(s)
 * or a rotation, is undone), so that X_q Q^T is its output. *applies false when the weight's
 * shape does not allow the method. */
lb_status lb_stats_method_run(int k, const stats_group *g, const float *w, int64_t n_out, float *q, float *xq,
                              int n_threads, bool *applies);

/* Short names: "qkv" "o" "gate_up" "down" / "q" "k" "v" "o" "gate" "up" "down". */
const char *lb_stats_role_name(lb_linear_role r);
const char *lb_stats_weight_kind_name(int kind);
/* The linear group (input) weight kind k reads. */
lb_linear_role lb_stats_weight_role(int kind);

// ---- writers (stats_json.c, stats_html.c) ----

/* A growing text buffer with a sticky out-of-memory flag (writers check it once at the end). */
typedef struct lb_sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} lb_sbuf;

void lb_sbuf_printf(lb_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_sbuf_put(lb_sbuf *b, const char *s, size_t n);
void lb_sbuf_puts(lb_sbuf *b, const char *s);
/* s with & < > " ' as HTML entities (also safe inside SVG text and attributes). */
void lb_sbuf_html(lb_sbuf *b, const char *s);

/* Writes data to path.tmp.PID, fsyncs and renames it over path; on failure path is untouched
 * and the message names it. */
lb_status lb_stats_write_file(const char *path, const char *data, size_t len);
/* The HTML report into b. */
void lb_stats_html(const lb_stats *s, lb_sbuf *b);

#endif
