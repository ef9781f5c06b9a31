/* Layer streaming (see stream.h): the memory plan, the units read from disk, the slots they are
 * read into, and the prefetch thread.
 *
 * Plan: fixed costs (forward scratch for the planned batch, KV cache, final norm) plus the
 * streaming machinery (one or two slots as big as the biggest unit, the f32 buffer a decoded
 * linear needs, the NaN-scan buffer) form the minimum; blocks are then pinned in layer order
 * while their resident size fits, then the output head. The embedding is never pinned when
 * anything streams: a token needs one row, read from disk on demand.
 *
 * Prefetch protocol: at most one read is in flight. Acquiring unit u waits for it (reading it
 * first if no slot holds it), then asks the thread for the unit after u, in pass order and
 * wrapping to the next pass, into the other slot; the slot of u is untouched until the next
 * acquire, which is when the caller is done with it. */
#define _GNU_SOURCE /* O_DIRECT */
#include "model/stream.h"
#include "model/weights.h"
#include "quant/types.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define IO_ALIGN 4096u            /* O_DIRECT alignment of offsets, lengths and buffers */
#define READ_CHUNK (16u << 20)    /* bytes per pread call */
#define MERGE_GAP (1u << 20)      /* tensors this close in one file are read as one range */
#define CHECK_FLOATS (1u << 18)   /* floats decoded at a time for the NaN scan */
#define AUTO_FRACTION 0.85        /* of MemAvailable, for mem_auto */
/* What the plan cannot itemize: OpenBLAS's per-thread packing buffers, the weight tiles and
 * activations lb_matmul_q's sgemm path allocates per product, the logits tile, the tokenizer,
 * malloc arenas. Measured: a streamed 13B Q4_K_M perplexity run peaked 190 MiB above the
 * itemized plan with 2 threads. */
#define RUNTIME_BYTES(n_threads) ((uint64_t)(64 + 64 * (n_threads)) << 20)

typedef struct stream_file {
    const char *path; /* borrowed from the source's tensors */
    int fd, fd_direct;
} stream_file;

typedef struct read_range {
    int file;
    uint64_t off, len; /* IO_ALIGN-aligned file range */
    uint64_t need;     /* bytes of it that must exist (the rest may lie past the end of the file) */
    uint64_t pos;      /* where it lands in a slot */
} read_range;

/* A unit's parts: the tensors by role, then for k < LB_WEIGHT_N_AUX each role's k-th auxiliary
 * tensor (FP8 scale; NF4 absmax, quant_map, nested absmax and map: lb_weight_aux), read with
 * its weight so that a streamed FP8 or NF4 linear decodes from the slot alone. */
#define N_PARTS ((1 + LB_WEIGHT_N_AUX) * LB_ROLE_COUNT)
#define AUX_PART(k, role) (LB_ROLE_COUNT * (1 + (k)) + (role))

typedef struct unit {
    int64_t layer;                   /* block index; -1 = output head (in t[0]) */
    const lb_tensor_info *t[N_PARTS]; /* by role for a block, aux parts at AUX_PART(k, role); NULL = absent */
    uint64_t pos[N_PARTS];           /* where each tensor's bytes sit in a slot */
    read_range r[N_PARTS];
    int n_ranges;
    uint64_t slot_bytes, read_bytes;
    bool checked; /* scanned for NaN/Inf (touched only by whoever reads units) */
} unit;

typedef enum slot_state { SLOT_EMPTY = 0, SLOT_LOADING, SLOT_READY, SLOT_FAILED } slot_state;

typedef struct slot {
    uint8_t *buf;  /* [slot_cap], IO_ALIGN-aligned */
    float *small;  /* norms and biases of the unit, decoded */
    int64_t unit;  /* held or being read; -1 none */
    slot_state state;
    lb_status st;
    char err[512];
    lb_block block; /* views into buf / small */
    lb_weight head;
} slot;

struct lb_stream {
    const lb_source *src;
    lb_llama_config cfg;
    bool llamacpp, direct;
    unit *units;
    int64_t n_units;
    int64_t *unit_of_layer; /* [n_layer]; -1 = resident */
    int64_t head_unit;      /* -1 = resident */
    stream_file *files;
    int n_files;
    slot slots[2];
    int n_slots, cur; /* cur: slot of the last unit handed out, -1 before the first */
    float *check;     /* [CHECK_FLOATS] */
    const lb_tensor_info *embd;
    uint8_t *embd_row;
    int embd_file;

    pthread_t thread;
    bool thread_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int64_t req_unit; /* asked of the thread; -1 none */
    int req_slot;

    uint64_t bytes_read; /* under mu */
    double read_seconds, wait_seconds;
};

static double gib(uint64_t b) { return (double)b / (double)(1ull << 30); }

/* "1.23 GiB", "45.6 MiB", "789 KiB" into buf[16]. */
static const char *human(uint64_t b, char *buf)
{
    if (b >= (1ull << 30)) snprintf(buf, 16, "%.2f GiB", gib(b));
    else if (b >= (1ull << 20)) snprintf(buf, 16, "%.1f MiB", (double)b / (double)(1ull << 20));
    else snprintf(buf, 16, "%.0f KiB", (double)b / 1024.0);
    return buf;
}
static uint64_t align_up(uint64_t x) { return (x + IO_ALIGN - 1) & ~(uint64_t)(IO_ALIGN - 1); }

// ---- files ----

/* The index of path among the stream's files, registering it when new (opened later, by
 * open_files, so a plan that only lays units out opens nothing). */
static lb_status file_index(lb_stream *s, const char *path, int *out)
{
    for (int i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i].path, path) == 0) return *out = i, LB_OK;
    stream_file *f = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *f);
    if (!f) return lb_fail(LB_ERR_NOMEM, "out of memory listing model files for streaming");
    s->files = f;
    s->files[s->n_files] = (stream_file){.path = path, .fd = -1, .fd_direct = -1};
    *out = s->n_files++;
    return LB_OK;
}

static lb_status open_files(lb_stream *s)
{
    for (int i = 0; i < s->n_files; i++) {
        stream_file *f = &s->files[i];
        if ((f->fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0)
            return lb_fail(LB_ERR_IO, "%s: cannot open for streaming: %s", f->path, strerror(errno));
        (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        if (s->direct && (f->fd_direct = open(f->path, O_RDONLY | O_CLOEXEC | O_DIRECT)) < 0)
            return lb_fail(LB_ERR_IO, "%s: cannot open with O_DIRECT (--direct-io): %s", f->path, strerror(errno));
    }
    return LB_OK;
}

/* Reads range r into dst; then drops it from the page cache (buffered reads). */
static lb_status read_range_into(lb_stream *s, const read_range *r, uint8_t *dst)
{
    const stream_file *f = &s->files[r->file];
    int fd = s->direct ? f->fd_direct : f->fd;
    uint64_t done = 0;
    while (done < r->len) {
        size_t n = r->len - done < READ_CHUNK ? (size_t)(r->len - done) : READ_CHUNK;
        ssize_t got = pread(fd, dst + done, n, (off_t)(r->off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return lb_fail(LB_ERR_IO, "%s: reading %zu bytes at offset %llu failed: %s", f->path, n,
                           (unsigned long long)(r->off + done), strerror(errno));
        if (got == 0) break;
        done += (uint64_t)got;
    }
    if (done < r->need)
        return lb_fail(LB_ERR_FORMAT, "%s: the file ends at byte %llu, inside tensor data that runs to byte %llu "
                                      "(truncated since it was opened?)",
                       f->path, (unsigned long long)(r->off + done), (unsigned long long)(r->off + r->need));
    if (!s->direct) (void)posix_fadvise(fd, (off_t)r->off, (off_t)r->len, POSIX_FADV_DONTNEED);
    return LB_OK;
}

// ---- units ----

/* Groups the unit's tensors into aligned file ranges (sorted by file and offset, near ones
 * merged) and places each range in the slot. */
static lb_status layout_unit(lb_stream *s, unit *u)
{
    int idx[N_PARTS], n = 0, file_of[N_PARTS];
    for (int k = 0; k < LB_WEIGHT_N_AUX; k++)
        for (int i = 0; i < LB_ROLE_COUNT; i++) u->t[AUX_PART(k, i)] = u->t[i] ? lb_weight_aux(u->t[i], k) : NULL;
    for (int i = 0; i < N_PARTS; i++) {
        if (!u->t[i]) continue;
        lb_status st = file_index(s, u->t[i]->file, &file_of[i]);
        if (st) return st;
        idx[n++] = i;
    }
    for (int a = 1; a < n; a++) /* insertion sort by (file, offset) */
        for (int b = a; b > 0; b--) {
            int x = idx[b - 1], y = idx[b];
            if (file_of[x] < file_of[y] || (file_of[x] == file_of[y] && u->t[x]->offset <= u->t[y]->offset)) break;
            idx[b - 1] = y;
            idx[b] = x;
        }
    uint64_t pos = 0, end = 0;
    read_range *cur = NULL;
    u->n_ranges = 0;
    for (int k = 0; k < n; k++) {
        const lb_tensor_info *t = u->t[idx[k]];
        bool joins = cur && cur->file == file_of[idx[k]] && t->offset <= end + MERGE_GAP;
        if (!joins) {
            if (cur) {
                cur->need = end - cur->off;
                cur->len = align_up(cur->need);
                pos = cur->pos + cur->len;
            }
            cur = &u->r[u->n_ranges++];
            *cur = (read_range){.file = file_of[idx[k]], .off = t->offset & ~(uint64_t)(IO_ALIGN - 1), .pos = pos};
            end = t->offset;
        }
        if (t->offset + t->nbytes > end) end = t->offset + t->nbytes;
        u->pos[idx[k]] = cur->pos + (t->offset - cur->off);
    }
    u->read_bytes = 0;
    if (cur) {
        cur->need = end - cur->off;
        cur->len = align_up(cur->need);
        pos = cur->pos + cur->len;
    }
    for (int k = 0; k < u->n_ranges; k++) u->read_bytes += u->r[k].len;
    u->slot_bytes = pos;
    return LB_OK;
}

/* The stored view of role i's weight in a slot holding unit u. */
static lb_weight view_of(const unit *u, int i, const uint8_t *buf)
{
    const void *aux[LB_WEIGHT_N_AUX];
    for (int k = 0; k < LB_WEIGHT_N_AUX; k++) aux[k] = buf + u->pos[AUX_PART(k, i)];
    return lb_weight_stored(u->t[i], buf + u->pos[i], aux);
}

/* Decodes every tensor of the unit row group by row group and rejects NaN/Inf, naming it. An
 * NF4 weight is decoded with its parts (the only way it has values), which checks them too. */
static lb_status check_unit(lb_stream *s, const unit *u, const uint8_t *buf)
{
    for (int i = 0; i < N_PARTS; i++) {
        const lb_tensor_info *t = u->t[i];
        if (!t || (i >= LB_ROLE_COUNT && u->t[i % LB_ROLE_COUNT]->type == LB_TYPE_NF4)) continue;
        if (t->type == LB_TYPE_NF4) {
            lb_weight w = view_of(u, i, buf);
            int64_t n_in = t->shape[1], rows = t->shape[0];
            if (n_in > (int64_t)CHECK_FLOATS)
                return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %llu: rows of %lld cannot be streamed", t->file,
                               t->name, (unsigned long long)t->offset, (long long)n_in);
            int64_t group = (int64_t)CHECK_FLOATS / n_in;
            for (int64_t r0 = 0; r0 < rows; r0 += group) {
                int64_t nr = rows - r0 < group ? rows - r0 : group;
                lb_weight_decode_rows(&w, r0, nr, n_in, s->check);
                for (int64_t j = 0; j < nr * n_in; j++)
                    if (!isfinite(s->check[j]))
                        return lb_fail(LB_ERR_NUMERIC, "%s: tensor '%s' at offset %llu: element %lld is %g", t->file,
                                       t->name, (unsigned long long)t->offset, (long long)(r0 * n_in + j), s->check[j]);
            }
            continue;
        }
        const lb_type_traits *tr = lb_type_traits_of(t->type);
        int64_t n_in = t->shape[t->n_dims - 1], rows = t->n_elements / n_in;
        if (!tr || !tr->to_f32 || n_in > (int64_t)CHECK_FLOATS)
            return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %llu: type %s or rows of %lld cannot be streamed",
                           t->file, t->name, (unsigned long long)t->offset, tr ? tr->name : "?", (long long)n_in);
        uint64_t row_bytes = t->nbytes / (uint64_t)rows;
        int64_t group = (int64_t)CHECK_FLOATS / n_in;
        for (int64_t r0 = 0; r0 < rows; r0 += group) {
            int64_t nr = rows - r0 < group ? rows - r0 : group;
            tr->to_f32(buf + u->pos[i] + (uint64_t)r0 * row_bytes, s->check, nr * n_in);
            for (int64_t j = 0; j < nr * n_in; j++)
                if (!isfinite(s->check[j]))
                    return lb_fail(LB_ERR_NUMERIC, "%s: tensor '%s' at offset %llu: element %lld is %g", t->file, t->name,
                                   (unsigned long long)t->offset, (long long)(r0 * n_in + j), s->check[j]);
        }
    }
    return LB_OK;
}

/* Points the slot's block (or head) at the bytes just read; norms and biases decoded. */
static void build_view(const unit *u, slot *sl)
{
    if (u->layer < 0) {
        sl->head = view_of(u, 0, sl->buf);
        return;
    }
    lb_block *b = &sl->block;
    memset(b, 0, sizeof *b);
    float **vec[LB_ROLE_COUNT] = {[LB_ROLE_ATTN_NORM] = &b->attn_norm, [LB_ROLE_QB] = &b->bq, [LB_ROLE_KB] = &b->bk,
                                  [LB_ROLE_VB] = &b->bv, [LB_ROLE_FFN_NORM] = &b->ffn_norm};
    lb_weight *lin[LB_ROLE_COUNT] = {[LB_ROLE_Q] = &b->wq,       [LB_ROLE_K] = &b->wk,  [LB_ROLE_V] = &b->wv,
                                     [LB_ROLE_O] = &b->wo,       [LB_ROLE_GATE] = &b->w_gate,
                                     [LB_ROLE_UP] = &b->w_up,    [LB_ROLE_DOWN] = &b->w_down};
    float *small = sl->small;
    for (int i = 0; i < LB_ROLE_COUNT; i++) {
        const lb_tensor_info *t = u->t[i];
        if (!t) continue;
        const uint8_t *data = sl->buf + u->pos[i];
        if (lin[i]) {
            *lin[i] = view_of(u, i, sl->buf);
        } else {
            lb_type_traits_of(t->type)->to_f32(data, small, t->n_elements);
            *vec[i] = small;
            small += t->n_elements;
        }
    }
}

/* Reads unit k into sl (prefetch thread, or inline without it). */
static lb_status load_unit(lb_stream *s, int64_t k, slot *sl)
{
    unit *u = &s->units[k];
    double t0 = lb_now_s();
    for (int i = 0; i < u->n_ranges; i++) {
        lb_status st = read_range_into(s, &u->r[i], sl->buf + u->r[i].pos);
        if (st) return st;
    }
    double dt = lb_now_s() - t0;
    pthread_mutex_lock(&s->mu);
    s->bytes_read += u->read_bytes;
    s->read_seconds += dt;
    pthread_mutex_unlock(&s->mu);
    if (!u->checked) {
        lb_status st = check_unit(s, u, sl->buf);
        if (st) return st;
        u->checked = true;
    }
    build_view(u, sl);
    return LB_OK;
}

// ---- the prefetch thread ----

static void finish_load(lb_stream *s, slot *sl, lb_status st)
{
    sl->st = st;
    sl->state = st ? SLOT_FAILED : SLOT_READY;
    if (st) snprintf(sl->err, sizeof sl->err, "%s", lb_errmsg());
}

static void *prefetch_main(void *arg)
{
    lb_stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->req_unit < 0) pthread_cond_wait(&s->work, &s->mu);
        if (s->stop) break;
        int64_t k = s->req_unit;
        slot *sl = &s->slots[s->req_slot];
        s->req_unit = -1;
        pthread_mutex_unlock(&s->mu);
        lb_status st = load_unit(s, k, sl);
        pthread_mutex_lock(&s->mu);
        finish_load(s, sl, st);
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Caller holds mu. */
static int slot_holding(const lb_stream *s, int64_t k)
{
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].unit == k && s->slots[i].state != SLOT_EMPTY) return i;
    return -1;
}

static bool loading(const lb_stream *s)
{
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_LOADING) return true;
    return false;
}

/* Caller holds mu; the thread is idle. */
static void request(lb_stream *s, int64_t k, int i)
{
    s->slots[i].unit = k;
    s->slots[i].state = SLOT_LOADING;
    s->req_unit = k;
    s->req_slot = i;
    pthread_cond_signal(&s->work);
}

static lb_status acquire(lb_stream *s, int64_t k, slot **out)
{
    double t0 = lb_now_s();
    pthread_mutex_lock(&s->mu);
    int i = slot_holding(s, k);
    if (i < 0) {
        while (loading(s)) pthread_cond_wait(&s->done, &s->mu);
        i = s->n_slots == 2 && s->cur == 0 ? 1 : 0;
        if (s->thread_started) {
            request(s, k, i);
        } else { /* no prefetch: read it here */
            s->slots[i].unit = k;
            pthread_mutex_unlock(&s->mu);
            lb_status st = load_unit(s, k, &s->slots[i]);
            pthread_mutex_lock(&s->mu);
            finish_load(s, &s->slots[i], st);
        }
    }
    while (s->slots[i].state == SLOT_LOADING) pthread_cond_wait(&s->done, &s->mu);
    slot *sl = &s->slots[i];
    lb_status st = sl->st;
    if (sl->state == SLOT_FAILED) {
        sl->state = SLOT_EMPTY;
        st = lb_fail(st, "%s", sl->err);
    } else {
        s->cur = i;
        int64_t next = (k + 1) % s->n_units;
        if (s->thread_started && slot_holding(s, next) < 0) request(s, next, 1 - i);
    }
    s->wait_seconds += lb_now_s() - t0;
    pthread_mutex_unlock(&s->mu);
    *out = sl;
    return st;
}

lb_status lb_stream_block(lb_model *m, int64_t layer, const lb_block **out)
{
    lb_stream *s = m->stream;
    *out = &m->blocks[layer];
    if (s->unit_of_layer[layer] < 0) return LB_OK;
    slot *sl;
    lb_status st = acquire(s, s->unit_of_layer[layer], &sl);
    if (!st) *out = &sl->block;
    return st;
}

lb_status lb_stream_output(lb_model *m, const lb_weight **out)
{
    lb_stream *s = m->stream;
    *out = &m->output;
    if (s->head_unit < 0) return LB_OK;
    slot *sl;
    lb_status st = acquire(s, s->head_unit, &sl);
    if (!st) *out = &sl->head;
    return st;
}

lb_status lb_stream_embed(lb_model *m, int32_t token, float *dst)
{
    lb_stream *s = m->stream;
    const lb_tensor_info *t = s->embd;
    int64_t n_embd = m->cfg.n_embd;
    uint64_t row_bytes = t->nbytes / (uint64_t)m->cfg.n_vocab, off = t->offset + (uint64_t)token * row_bytes;
    const stream_file *f = &s->files[s->embd_file];
    uint64_t done = 0;
    while (done < row_bytes) {
        ssize_t got = pread(f->fd, s->embd_row + done, row_bytes - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return lb_fail(LB_ERR_IO, "%s: reading row %d of tensor '%s' at offset %llu: %s", f->path, token, t->name,
                           (unsigned long long)(off + done), got < 0 ? strerror(errno) : "end of file");
        done += (uint64_t)got;
    }
    lb_type_traits_of(t->type)->to_f32(s->embd_row, dst, n_embd);
    for (int64_t i = 0; i < n_embd; i++)
        if (!isfinite(dst[i]))
            return lb_fail(LB_ERR_NUMERIC, "%s: tensor '%s' at offset %llu: element %lld is %g", t->file, t->name,
                           (unsigned long long)t->offset, (long long)((int64_t)token * n_embd + i), dst[i]);
    pthread_mutex_lock(&s->mu);
    s->bytes_read += row_bytes;
    pthread_mutex_unlock(&s->mu);
    return LB_OK;
}

void lb_model_stream_stats(const lb_model *m, lb_stream_stats *out)
{
    *out = m->sstats;
    lb_stream *s = m->stream;
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    out->bytes_read = s->bytes_read;
    out->read_seconds = s->read_seconds;
    out->wait_seconds = s->wait_seconds;
    pthread_mutex_unlock(&s->mu);
}

void lb_stream_close(lb_stream *s)
{
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    for (int i = 0; i < 2; i++) {
        free(s->slots[i].buf);
        free(s->slots[i].small);
    }
    for (int i = 0; i < s->n_files; i++) {
        if (s->files[i].fd >= 0) close(s->files[i].fd);
        if (s->files[i].fd_direct >= 0) close(s->files[i].fd_direct);
    }
    free(s->files);
    free(s->units);
    free(s->unit_of_layer);
    free(s->check);
    free(s->embd_row);
    free(s);
}

// ---- the plan ----

/* 85% of MemAvailable, or 0 when /proc/meminfo cannot tell. */
static uint64_t auto_limit(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)((double)kb * 1024.0 * AUTO_FRACTION);
}

/* Everything the plan weighs, per block and overall. */
typedef struct plan {
    const lb_tensor_info *(*bt)[LB_ROLE_COUNT]; /* [n_layer] */
    uint64_t *resident;                         /* [n_layer] bytes of a pinned block */
    const lb_tensor_info *embd, *out_norm, *output;
    uint64_t fixed, embd_bytes, head_bytes, all;
    uint64_t decode, small; /* f32 bytes: biggest decoded linear; norms+biases of a unit */
    uint64_t resident_decode; /* f32 bytes: biggest linear that stays stored when resident but is
                                 decoded for prompt-sized products (16-bit, exact numerics) */
} plan;


static lb_status make_plan(lb_model *m, plan *p)
{
    const lb_llama_config *c = &m->cfg;
    bool llamacpp = m->params.llamacpp_numerics;
    memset(p, 0, sizeof *p);
    lb_status st = lb_weights_find_globals(m->src, c, &p->embd, &p->out_norm, &p->output);
    if (st) return st;
    p->bt = lb_calloc((size_t)c->n_layer, sizeof *p->bt, "memory plan");
    p->resident = lb_calloc((size_t)c->n_layer, sizeof *p->resident, "memory plan");
    if (!p->bt || !p->resident) return LB_ERR_NOMEM;
    uint64_t blocks = 0;
    for (int64_t l = 0; l < c->n_layer; l++) {
        if ((st = lb_weights_find_block(m->src, c, (int)l, p->bt[l]))) return st;
        uint64_t small = 0;
        for (int r = 0; r < LB_ROLE_COUNT; r++) {
            const lb_tensor_info *t = p->bt[l][r];
            bool linear = lb_block_role_is_linear((lb_block_role)r);
            p->resident[l] += lb_weight_resident_bytes(t, linear, llamacpp);
            uint64_t dec = linear ? lb_weight_decode_bytes(t, llamacpp) : 0;
            if (dec > p->decode) p->decode = dec;
            if (t && lb_weight_keeps_stored(t->type, llamacpp) && dec > p->resident_decode) p->resident_decode = dec;
            if (!linear && t) small += (uint64_t)t->n_elements * sizeof(float);
        }
        if (small > p->small) p->small = small;
        blocks += p->resident[l];
    }
    uint64_t head_dec = lb_weight_decode_bytes(p->output, llamacpp);
    if (head_dec > p->decode) p->decode = head_dec;
    if (lb_weight_keeps_stored(p->output->type, llamacpp) && head_dec > p->resident_decode) p->resident_decode = head_dec;
    int64_t rows = m->params.plan_rows > 0 ? m->params.plan_rows : 512;
    int64_t ctx = m->params.plan_ctx > 0 ? m->params.plan_ctx : 512;
    int64_t seqs = m->params.plan_seqs > 0 ? m->params.plan_seqs : 1;
    uint64_t kv = (uint64_t)(seqs * ctx * c->n_layer * c->n_head_kv * c->head_dim) * 2 * sizeof(float);
    p->fixed = lb_scratch_bytes(c, m->n_threads, rows, ctx) + kv + (uint64_t)p->out_norm->n_elements * sizeof(float) +
               RUNTIME_BYTES(m->n_threads);
    p->embd_bytes = (uint64_t)p->embd->n_elements * sizeof(float);
    p->head_bytes = lb_weight_resident_bytes(p->output, true, llamacpp);
    bool head_shares_embd = p->output == p->embd && !lb_weight_keeps_stored(p->output->type, llamacpp);
    p->all = p->fixed + p->embd_bytes + (head_shares_embd ? 0 : p->head_bytes) + blocks + p->resident_decode;
    return LB_OK;
}

static void free_plan(plan *p)
{
    free(p->bt);
    free(p->resident);
}

/* Everything resident, as without a budget. */
static lb_status load_all(lb_model *m)
{
    const lb_llama_config *c = &m->cfg;
    bool keep_q = m->params.llamacpp_numerics;
    lb_status st = lb_weights_load_globals(m->src, c, keep_q, true, true, &m->tok_embd, &m->out_norm, &m->output);
    if (st) return st;
    lb_progress pr;
    lb_progress_begin(&pr, "loading", c->n_layer, m->params.quiet);
    for (int64_t l = 0; l < c->n_layer; l++) {
        if ((st = lb_weights_load_block(m->src, c, (int)l, keep_q ? LB_LOAD_LLAMACPP : LB_LOAD_EXACT, &m->blocks[l])))
            return st;
        lb_progress_update(&pr, l + 1);
    }
    lb_progress_end(&pr);
    return LB_OK;
}

static lb_status stream_new(lb_model *m, const plan *p, lb_stream **out)
{
    lb_stream *s = lb_calloc(1, sizeof *s, "stream");
    if (!s) return LB_ERR_NOMEM;
    *out = s;
    s->src = m->src;
    s->cfg = m->cfg;
    s->llamacpp = m->params.llamacpp_numerics;
    s->direct = m->params.direct_io;
    s->cur = -1;
    s->head_unit = -1;
    s->req_unit = -1;
    for (int i = 0; i < 2; i++) s->slots[i].unit = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    s->units = lb_calloc((size_t)m->cfg.n_layer + 1, sizeof *s->units, "stream units");
    s->unit_of_layer = lb_malloc((size_t)m->cfg.n_layer * sizeof *s->unit_of_layer, "stream units");
    s->check = lb_malloc(CHECK_FLOATS * sizeof(float), "NaN scan buffer");
    s->embd = p->embd;
    /* embedding rows are read and decoded one at a time: that needs codes that are their values */
    const lb_type_traits *etr = lb_type_traits_of(p->embd->type);
    if (!etr || !etr->to_f32 || p->embd->scale)
        return lb_fail(LB_ERR_UNSUPPORTED, "%s: tensor '%s' at offset %llu: a %s embedding%s cannot be read row by row for streaming",
                       p->embd->file, p->embd->name, (unsigned long long)p->embd->offset, etr ? etr->name : "?",
                       p->embd->scale ? " with a separate scale tensor" : "");
    s->embd_row = lb_malloc(p->embd->nbytes / (uint64_t)m->cfg.n_vocab, "embedding row");
    if (!s->units || !s->unit_of_layer || !s->check || !s->embd_row) return LB_ERR_NOMEM;
    return file_index(s, p->embd->file, &s->embd_file);
}

/* The model's files opened, slots as big as the biggest unit, and the prefetch thread when
 * there are two units or more. */
static lb_status stream_start(lb_stream *s, const plan *p, bool prefetch)
{
    lb_status st = open_files(s); /* the embedding's file too, even when no unit streams */
    if (st) return st;
    uint64_t cap = 0;
    for (int64_t k = 0; k < s->n_units; k++)
        if (s->units[k].slot_bytes > cap) cap = s->units[k].slot_bytes;
    if (s->n_units == 0) return LB_OK;
    s->n_slots = prefetch && s->n_units > 1 ? 2 : 1;
    for (int i = 0; i < s->n_slots; i++) {
        s->slots[i].buf = aligned_alloc(IO_ALIGN, (size_t)cap);
        s->slots[i].small = lb_malloc((size_t)p->small + sizeof(float), "stream slot (norms)");
        if (!s->slots[i].buf) return lb_fail(LB_ERR_NOMEM, "out of memory allocating a stream buffer of %.2f GiB", gib(cap));
        if (!s->slots[i].small) return LB_ERR_NOMEM;
    }
    if (s->n_slots == 2) {
        if (pthread_create(&s->thread, NULL, prefetch_main, s) != 0)
            return lb_fail(LB_ERR_NOMEM, "cannot start the prefetch thread");
        s->thread_started = true;
    }
    return LB_OK;
}

lb_status lb_stream_load_weights(lb_model *m)
{
    const lb_llama_config *c = &m->cfg;
    const lb_open_params *op = &m->params;
    bool llamacpp = op->llamacpp_numerics, prefetch = !op->no_prefetch;
    m->blocks = lb_calloc((size_t)c->n_layer, sizeof(lb_block), "blocks");
    if (!m->blocks) return LB_ERR_NOMEM;
    m->output_now = &m->output;
    plan p;
    lb_status st = make_plan(m, &p);
    if (st) goto done;

    /* the streaming machinery's own cost, for the biggest unit */
    lb_stream *s = NULL;
    uint64_t unit_max = 0;
    {
        lb_stream probe = {.direct = false};
        unit u;
        for (int64_t l = 0; l <= c->n_layer && !st; l++) {
            memset(&u, 0, sizeof u);
            if (l < c->n_layer) memcpy(u.t, p.bt[l], sizeof p.bt[l]);
            else u.t[0] = p.output;
            if (!(st = layout_unit(&probe, &u)) && u.slot_bytes > unit_max) unit_max = u.slot_bytes;
        }
        free(probe.files);
        if (st) goto done;
    }
    int n_slots = prefetch ? 2 : 1;
    uint64_t machinery = (uint64_t)n_slots * (unit_max + p.small) + p.decode + CHECK_FLOATS * sizeof(float);
    uint64_t limit = op->mem_auto ? auto_limit() : op->mem_limit;
    lb_stream_stats *ss = &m->sstats;
    char h[6][16];
    ss->mem_limit = limit;
    ss->all_resident_bytes = p.all;
    ss->min_bytes = p.fixed + machinery;
    ss->n_layer = c->n_layer;
    ss->prefetch = prefetch;
    ss->direct_io = op->direct_io;
    if (!limit || p.all <= limit) {
        ss->plan_bytes = p.all;
        ss->n_resident = c->n_layer;
        if (limit && !op->quiet)
            fprintf(stderr, "memory plan: everything resident, about %s of the %s limit\n", human(p.all, h[0]),
                    human(limit, h[1]));
        st = load_all(m);
        if (!st && p.resident_decode && !(m->wdec = lb_malloc((size_t)p.resident_decode, "decoded linear")))
            st = LB_ERR_NOMEM;
        goto done;
    }
    if (limit < ss->min_bytes) {
        st = lb_fail(LB_ERR_ARG,
                     "memory plan: a limit of %s is below the %s that streaming one block at a time needs "
                     "(scratch, kv cache and runtime %s, %d stream buffer%s of %s, decoded linear %s); raise --mem-limit%s",
                     human(limit, h[0]), human(ss->min_bytes, h[1]), human(p.fixed, h[2]), n_slots, n_slots > 1 ? "s" : "",
                     human(unit_max, h[3]), human(p.decode, h[4]),
                     prefetch ? " or drop the prefetch buffer with --no-prefetch" : "");
        goto done;
    }
    uint64_t avail = limit - ss->min_bytes, pinned = 0;
    int64_t n_pin = 0;
    while (n_pin < c->n_layer && p.resident[n_pin] <= avail - pinned) pinned += p.resident[n_pin++];
    bool head_pinned = n_pin == c->n_layer && p.head_bytes <= avail - pinned;
    if (head_pinned) pinned += p.head_bytes;
    ss->n_resident = n_pin;
    ss->output_streamed = !head_pinned;
    ss->embd_streamed = true;
    ss->plan_bytes = ss->min_bytes + pinned;

    if ((st = stream_new(m, &p, &s))) goto done;
    m->stream = s;
    for (int64_t l = 0; l < c->n_layer; l++) {
        s->unit_of_layer[l] = -1;
        if (l < n_pin) {
            if ((st = lb_weights_load_block(m->src, c, (int)l, llamacpp ? LB_LOAD_LLAMACPP : LB_LOAD_EXACT,
                                            &m->blocks[l])))
                goto done;
            continue;
        }
        unit *u = &s->units[s->n_units];
        u->layer = l;
        memcpy(u->t, p.bt[l], sizeof p.bt[l]); /* layout_unit adds the scales */
        if ((st = layout_unit(s, u))) goto done;
        s->unit_of_layer[l] = s->n_units++;
    }
    if (!head_pinned) {
        unit *u = &s->units[s->n_units];
        u->layer = -1;
        u->t[0] = p.output;
        if ((st = layout_unit(s, u))) goto done;
        s->head_unit = s->n_units++;
    }
    if ((st = lb_weights_load_globals(m->src, c, llamacpp, false, head_pinned, &m->tok_embd, &m->out_norm, &m->output)))
        goto done;
    if (head_pinned && p.output == p.embd && m->output.f32) { /* the tied head, decoded, is the embedding */
        m->tok_embd = m->output.f32;
        ss->embd_streamed = false;
    }
    if (p.decode && !(m->wdec = lb_malloc((size_t)p.decode, "decoded linear"))) {
        st = LB_ERR_NOMEM;
        goto done;
    }
    if ((st = stream_start(s, &p, prefetch))) goto done;
    if (!op->quiet)
        fprintf(stderr,
                "memory plan: limit %s: %lld/%lld blocks resident (%s), %lld streamed from disk through %d buffer%s of "
                "%s%s; output head %s; embedding rows %s; scratch, kv cache and runtime %s, decoded linear %s; about %s in all\n",
                human(limit, h[0]), (long long)n_pin, (long long)c->n_layer,
                human(pinned - (head_pinned ? p.head_bytes : 0), h[1]), (long long)(c->n_layer - n_pin), s->n_slots,
                s->n_slots > 1 ? "s" : "", human(unit_max, h[2]), s->thread_started ? " (prefetched)" : "",
                head_pinned ? "resident" : "streamed", ss->embd_streamed ? "read on demand" : "resident",
                human(p.fixed, h[3]), human(p.decode, h[4]), human(ss->plan_bytes, h[5]));
done:
    free_plan(&p);
    return st;
}
