/* Checkpoint directory and manifest (see checkpoint.h). */
#include "pipeline/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_VERSION 1

static uint64_t hash_str(uint64_t h, const char *s) { return lb_fnv1a(h, s ? s : "", s ? strlen(s) + 1 : 1); }
static uint64_t hash_u64(uint64_t h, uint64_t v) { return lb_fnv1a(h, &v, sizeof v); }
static uint64_t hash_f64(uint64_t h, double v) { return lb_fnv1a(h, &v, sizeof v); }

uint64_t lb_fingerprint_of(const lb_fingerprint *f)
{
    uint64_t h = hash_str(LB_FNV_OFFSET, "lowbit block-wise v2");
    const lb_source *s = f->model;
    h = hash_u64(h, (uint64_t)s->n_tensors);
    for (int64_t i = 0; i < s->n_tensors; i++) {
        const lb_tensor_info *t = &s->tensors[i];
        h = hash_str(h, t->name);
        h = hash_u64(h, (uint64_t)t->type);
        for (int d = 0; d < t->n_dims; d++) h = hash_u64(h, (uint64_t)t->shape[d]);
        h = hash_u64(h, t->offset);
        h = hash_u64(h, t->nbytes);
    }
    h = hash_u64(h, f->text_hash);
    const lb_quantize_params *p = f->params;
    h = hash_str(h, p->type);
    h = hash_u64(h, p->pure);
    h = hash_str(h, p->imatrix);
    h = hash_str(h, p->method);
    h = hash_u64(h, (uint64_t)p->calib_samples);
    h = hash_u64(h, (uint64_t)p->calib_seq_len);
    h = hash_u64(h, p->seed);
    h = hash_u64(h, p->no_sequential);
    h = hash_u64(h, p->act_order);
    h = hash_f64(h, p->damp);
    h = hash_u64(h, (uint64_t)p->gptq_block);
    /* the INT-N grid and the scaling methods change every block's output too */
    h = hash_u64(h, (uint64_t)p->group_size);
    h = hash_u64(h, p->asym);
    h = hash_u64(h, (uint64_t)p->awq_grid);
    h = hash_u64(h, (uint64_t)p->awq_tokens);
    h = hash_u64(h, p->awq_no_clip);
    h = hash_f64(h, p->smooth_alpha);
    h = hash_u64(h, p->smooth_down);
    h = hash_u64(h, p->fold_only);
    h = hash_u64(h, p->online_hadamard);
    return h;
}

static lb_status sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return lb_fail(LB_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    (void)fsync(fd); /* best effort: some file systems refuse directory fsync */
    close(fd);
    return LB_OK;
}

static lb_status read_manifest(lb_checkpoint *ck)
{
    char *text = NULL;
    size_t len = 0;
    lb_status st = lb_read_file(ck->manifest_path, &text, &len);
    if (st) return lb_fail(LB_ERR_ARG, "--resume: no checkpoint to resume (%s cannot be read)", ck->manifest_path);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *v = cJSON_GetObjectItem(j, "version"), *fp = cJSON_GetObjectItem(j, "fingerprint"),
                *bd = cJSON_GetObjectItem(j, "blocks_done"), *td = cJSON_GetObjectItem(j, "tensors_done"),
                *off = cJSON_GetObjectItem(j, "offset"), *xf = cJSON_GetObjectItem(j, "x_file");
    if (!cJSON_IsNumber(v) || v->valueint != MANIFEST_VERSION || !cJSON_IsString(fp) || !cJSON_IsNumber(bd) ||
        !cJSON_IsNumber(td) || !cJSON_IsString(off) || !cJSON_IsNumber(xf) || bd->valuedouble < 1 ||
        td->valuedouble < 1 || (xf->valueint != 0 && xf->valueint != 1)) {
        cJSON_Delete(j);
        return lb_fail(LB_ERR_FORMAT, "%s: not a lowbit checkpoint manifest (version %d)", ck->manifest_path,
                       MANIFEST_VERSION);
    }
    uint64_t fingerprint = strtoull(fp->valuestring, NULL, 16);
    if (fingerprint != ck->fingerprint) {
        cJSON_Delete(j);
        return lb_fail(LB_ERR_ARG, "--resume: the checkpoint in %s was made from another model, calibration text or "
                                   "options (fingerprint %016" PRIx64 ", this run %016" PRIx64 "); run the same command "
                                   "again, or delete the directory to start over",
                       ck->dir, fingerprint, ck->fingerprint);
    }
    ck->blocks_done = (int64_t)bd->valuedouble;
    ck->tensors_done = (int64_t)td->valuedouble;
    ck->offset = strtoull(off->valuestring, NULL, 10);
    ck->x_cur = xf->valueint;
    cJSON_Delete(j);
    return LB_OK;
}

static lb_status open_x(lb_checkpoint *ck, int i, bool create, uint64_t x_bytes)
{
    ck->x_fd[i] = open(ck->x_path[i], create ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDWR | O_CLOEXEC, 0666);
    if (ck->x_fd[i] < 0)
        return lb_fail(LB_ERR_IO, "%s: cannot %s: %s", ck->x_path[i], create ? "create" : "open", strerror(errno));
    struct stat sb;
    if (!create && (fstat(ck->x_fd[i], &sb) != 0 || (uint64_t)sb.st_size != x_bytes))
        return lb_fail(LB_ERR_FORMAT, "%s: activation file has the wrong size for this run (expected %" PRIu64 " bytes)",
                       ck->x_path[i], x_bytes);
    /* reserve the space now: a full disk fails here, not hours later */
    if (create) {
        int e = posix_fallocate(ck->x_fd[i], 0, (off_t)x_bytes);
        if (e == EOPNOTSUPP || e == EINVAL) e = ftruncate(ck->x_fd[i], (off_t)x_bytes) ? errno : 0;
        if (e)
            return lb_fail(LB_ERR_IO, "%s: cannot reserve %" PRIu64 " bytes for activations: %s", ck->x_path[i], x_bytes,
                           strerror(e));
    }
    return LB_OK;
}

lb_status lb_checkpoint_open(lb_checkpoint *ck, const char *out_path, uint64_t fingerprint, bool resume, uint64_t x_bytes)
{
    memset(ck, 0, sizeof *ck);
    ck->x_fd[0] = ck->x_fd[1] = -1;
    ck->fingerprint = fingerprint;
    size_t n = strlen(out_path) + 16;
    ck->dir = lb_malloc(n, "checkpoint path");
    if (!ck->dir) return LB_ERR_NOMEM;
    snprintf(ck->dir, n, "%s.lowbit-ckpt", out_path);
    ck->manifest_path = lb_path_join(ck->dir, "manifest.json");
    ck->partial_path = lb_path_join(ck->dir, "out.partial");
    ck->x_path[0] = lb_path_join(ck->dir, "x0.f32");
    ck->x_path[1] = lb_path_join(ck->dir, "x1.f32");
    if (!ck->manifest_path || !ck->partial_path || !ck->x_path[0] || !ck->x_path[1]) return LB_ERR_NOMEM;
    lb_status st;
    if (resume) {
        if ((st = read_manifest(ck))) return st;
        if ((st = open_x(ck, 0, false, x_bytes)) || (st = open_x(ck, 1, false, x_bytes))) return st;
        ck->resumed = true;
        return LB_OK;
    }
    if (lb_file_exists(ck->manifest_path))
        return lb_fail(LB_ERR_ARG, "%s holds the checkpoint of an interrupted run: add --resume to continue it, or "
                                   "delete the directory to start over", ck->dir);
    if (mkdir(ck->dir, 0777) != 0 && errno != EEXIST)
        return lb_fail(LB_ERR_IO, "%s: cannot create the checkpoint directory: %s", ck->dir, strerror(errno));
    if ((st = open_x(ck, 0, true, x_bytes)) || (st = open_x(ck, 1, true, x_bytes))) return st;
    return LB_OK;
}

lb_status lb_checkpoint_commit(lb_checkpoint *ck, int64_t blocks_done, int64_t tensors_done, uint64_t offset)
{
    int next = 1 - ck->x_cur;
    if (fsync(ck->x_fd[next]) != 0)
        return lb_fail(LB_ERR_IO, "%s: fsync failed: %s", ck->x_path[next], strerror(errno));
    char text[512], off[32];
    snprintf(off, sizeof off, "%" PRIu64, offset);
    snprintf(text, sizeof text,
             "{\n  \"version\": %d,\n  \"fingerprint\": \"%016" PRIx64 "\",\n  \"blocks_done\": %lld,\n"
             "  \"tensors_done\": %lld,\n  \"offset\": \"%s\",\n  \"x_file\": %d\n}\n",
             MANIFEST_VERSION, ck->fingerprint, (long long)blocks_done, (long long)tensors_done, off, next);
    size_t n = strlen(ck->manifest_path) + 8;
    char *tmp = lb_malloc(n, "manifest path");
    if (!tmp) return LB_ERR_NOMEM;
    snprintf(tmp, n, "%s.tmp", ck->manifest_path);
    lb_status st = LB_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        st = lb_fail(LB_ERR_IO, "%s: writing the checkpoint manifest failed: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    if (!st && rename(tmp, ck->manifest_path) != 0)
        st = lb_fail(LB_ERR_IO, "%s: cannot rename to %s: %s", tmp, ck->manifest_path, strerror(errno));
    if (st) unlink(tmp);
    free(tmp);
    if (!st) st = sync_dir(ck->dir);
    if (st) return st;
    ck->x_cur = next;
    ck->blocks_done = blocks_done;
    ck->tensors_done = tensors_done;
    ck->offset = offset;
    return LB_OK;
}

void lb_checkpoint_close(lb_checkpoint *ck, bool success)
{
    for (int i = 0; i < 2; i++)
        if (ck->x_fd[i] >= 0) close(ck->x_fd[i]);
    if (success && ck->dir) {
        const char *files[] = {ck->manifest_path, ck->partial_path, ck->x_path[0], ck->x_path[1]};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
            if (files[i]) unlink(files[i]);
        rmdir(ck->dir);
    }
    free(ck->dir);
    free(ck->manifest_path);
    free(ck->partial_path);
    free(ck->x_path[0]);
    free(ck->x_path[1]);
    memset(ck, 0, sizeof *ck);
    ck->x_fd[0] = ck->x_fd[1] = -1;
}
