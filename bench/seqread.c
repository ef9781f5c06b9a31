/* seqread: this machine's sequential read bandwidth on given files (a model's shards), read
 * the ways a layer stream can read them, each from a cold page cache:
 *   pread    buffered pread of CHUNK bytes into one reusable buffer, each range dropped from the
 *            page cache after it is read (what lowbit's stream does by default)
 *   direct   pread with O_DIRECT into an aligned buffer (lowbit --direct-io)
 *   mmap     mmap, MADV_WILLNEED one chunk ahead, every page copied out and released
 *            afterwards (MADV_SEQUENTIAL made it slower here)
 * Before each method every file is dropped from the page cache (posix_fadvise DONTNEED works on
 * clean pages without root), so the numbers are the disk's, not memory's. The "pread" line is
 * the denominator of bench/stream.sh's disk-bound ratio.
 *
 * Usage: seqread [--chunk MiB] [--method pread|direct|mmap|all] [--max-gb G] FILE... */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void drop_cache(char **files, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = open(files[i], O_RDONLY);
        if (fd < 0) continue;
        fdatasync(fd);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* Reads up to *budget bytes of path with method m; returns bytes read or -1. */
static int64_t read_file(const char *path, const char *m, uint8_t *buf, size_t chunk, uint64_t *budget)
{
    bool direct = strcmp(m, "direct") == 0;
    int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        fprintf(stderr, "seqread: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    fstat(fd, &st);
    uint64_t size = (uint64_t)st.st_size, done = 0;
    if (size > *budget) size = *budget;
    if (strcmp(m, "mmap") == 0) {
        uint8_t *p = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
        if (size && p == MAP_FAILED) {
            close(fd);
            return -1;
        }
        for (; done < size; done += chunk) {
            size_t n = size - done < chunk ? (size_t)(size - done) : chunk;
            /* ask for the next chunk before touching this one */
            if (done + n < size) madvise(p + done + n, size - done - n < chunk ? size - done - n : chunk, MADV_WILLNEED);
            memcpy(buf, p + done, n);
            madvise(p + done, n, MADV_DONTNEED);
        }
        if (size) munmap(p, size);
        done = size;
    } else {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        while (done < size) {
            ssize_t got = pread(fd, buf, chunk, (off_t)done);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            if (!direct) (void)posix_fadvise(fd, (off_t)done, got, POSIX_FADV_DONTNEED);
            done += (uint64_t)got;
        }
    }
    close(fd);
    *budget -= done < *budget ? done : *budget;
    return (int64_t)done;
}

int main(int argc, char **argv)
{
    size_t chunk = 16u << 20;
    const char *method = "all";
    double max_gb = 1e9;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first += 2) {
        if (first + 1 >= argc) break;
        if (strcmp(argv[first], "--chunk") == 0) chunk = (size_t)atol(argv[first + 1]) << 20;
        else if (strcmp(argv[first], "--method") == 0) method = argv[first + 1];
        else if (strcmp(argv[first], "--max-gb") == 0) max_gb = atof(argv[first + 1]);
        else break;
    }
    if (first >= argc || chunk == 0) {
        fprintf(stderr, "usage: seqread [--chunk MiB] [--method pread|direct|mmap|all] [--max-gb G] FILE...\n");
        return 2;
    }
    uint8_t *buf = aligned_alloc(4096, chunk);
    if (!buf) return 1;
    const char *methods[] = {"pread", "direct", "mmap"};
    for (int k = 0; k < 3; k++) {
        if (strcmp(method, "all") != 0 && strcmp(method, methods[k]) != 0) continue;
        drop_cache(argv + first, argc - first);
        uint64_t budget = (uint64_t)(max_gb * 1e9), total = 0;
        double t0 = now_s();
        for (int i = first; i < argc && budget > 0; i++) {
            int64_t n = read_file(argv[i], methods[k], buf, chunk, &budget);
            if (n < 0) return 1;
            total += (uint64_t)n;
        }
        double dt = now_s() - t0;
        printf("seqread %-6s %8.3f GB in %7.2f s = %7.1f MB/s (chunk %zu MiB)\n", methods[k], (double)total / 1e9, dt,
               (double)total / 1e6 / dt, chunk >> 20);
        fflush(stdout);
    }
    free(buf);
    return 0;
}
