/* Importance matrix (llama.cpp imatrix): per linear weight, the sum over calibration tokens of
 * each input column's square, and the token count. The public API is in lowbit.h
 * (lb_imatrix_*); this header exposes the struct to other modules (quantizers read sum2/count
 * directly) and the forward-pass observer that fills it. */
#ifndef LB_CALIB_IMATRIX_H
#define LB_CALIB_IMATRIX_H

#include "core/core.h"

typedef struct lb_imatrix_slot {
    char *name;   /* GGUF tensor name */
    int64_t n_in;
    int64_t count;
    double *sum2; /* [n_in] */
} lb_imatrix_slot;

struct lb_imatrix {
    lb_imatrix_slot *e; /* [n], sorted by name (strcmp) */
    int64_t n;
    int64_t chunk_count, chunk_size;
    char **datasets;
    int64_t n_datasets;
};

/* Adds the squares of rows x[n_rows][n] to sum2[n], column by column in row order (so the
 * result does not depend on how columns are split over threads). */
void lb_imatrix_accumulate(double *sum2, const float *x, int64_t n_rows, int64_t n, int n_threads);

#endif
