/* Checkpoint and resume of a block-wise quantization run.
 *
 * "<out>.lowbit-ckpt/" holds: out.partial (the GGUF being written), x0.f32 and x1.f32 (the
 * activations entering the next block and the ones being produced), and manifest.json:
 * {version, fingerprint, blocks_done, tensors_done, offset, x_file}. A commit fsyncs the
 * activations and the output first and then replaces the manifest atomically (temp file, fsync,
 * rename, fsync of the directory), so the manifest never claims data that is not on disk; the
 * two activation files alternate, so the one the manifest names is never being overwritten. A
 * run killed at any moment resumes from the last commit: the output is cut back to the
 * manifest's offset and the rest is recomputed from the same inputs, byte for byte. */
#ifndef LB_PIPELINE_CHECKPOINT_H
#define LB_PIPELINE_CHECKPOINT_H

#include "core/core.h"
#include "io/source.h"
#include "lowbit.h"

typedef struct lb_checkpoint {
    char *dir, *manifest_path, *partial_path, *x_path[2];
    int x_fd[2];
    int x_cur;            /* the file holding the input of block blocks_done */
    int64_t blocks_done;  /* blocks whose tensors are all in the output */
    int64_t tensors_done; /* tensors complete in the output ... */
    uint64_t offset;      /* ... ending at this byte */
    uint64_t fingerprint;
    bool resumed;
} lb_checkpoint;

/* What a run's result depends on: the model's tensor table (names, types, shapes, places), the
 * calibration text and every option that changes bytes. */
typedef struct lb_fingerprint {
    const lb_source *model;
    uint64_t text_hash;
    const lb_quantize_params *params;
} lb_fingerprint;
uint64_t lb_fingerprint_of(const lb_fingerprint *f);

/* Fresh run: creates the directory and activation files (x_bytes each); an existing manifest
 * there is refused (resume it or delete the directory). resume: reads the manifest; a missing
 * one or another fingerprint is refused with a message that says why. */
lb_status lb_checkpoint_open(lb_checkpoint *ck, const char *out_path, uint64_t fingerprint, bool resume,
                             uint64_t x_bytes);
/* After the output holds tensors_done tensors ending at offset (already fsync'd by the caller)
 * and the other activation file holds the input of block blocks_done: makes it durable and
 * records it. */
lb_status lb_checkpoint_commit(lb_checkpoint *ck, int64_t blocks_done, int64_t tensors_done, uint64_t offset);
/* success: removes the directory's files and the directory; otherwise only closes them. */
void lb_checkpoint_close(lb_checkpoint *ck, bool success);

#endif
