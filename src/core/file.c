/* Read-only file mappings and small path helpers. Files are mapped whole: readers check
 * every offset against the mapping size, so a lying header can never read past the end. */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

lb_status lb_map_file(const char *path, lb_mapping *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lb_fail(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lb_fail(LB_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lb_fail(LB_ERR_IO, "%s: not a regular file", path);
    }
    out->path = lb_strdup(path);
    if (!out->path) {
        close(fd);
        return LB_ERR_NOMEM;
    }
    out->size = (uint64_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(out->path);
            memset(out, 0, sizeof *out);
            return lb_fail(LB_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
        }
        out->data = p;
    }
    close(fd);
    return LB_OK;
}

void lb_unmap(lb_mapping *m)
{
    if (!m) return;
    if (m->data && m->size) munmap((void *)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

lb_status lb_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return lb_fail(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = lb_malloc(cap + 1, path);
    if (!buf) {
        fclose(f);
        return LB_ERR_NOMEM;
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return lb_fail(LB_ERR_NOMEM, "%s: out of memory reading file", path);
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return lb_fail(LB_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return LB_OK;
}

bool lb_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool lb_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *lb_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = lb_malloc(a + b + 2, "path");
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

char *lb_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return lb_strdup(".");
    if (slash == path) return lb_strdup("/");
    return lb_strndup(path, (size_t)(slash - path));
}

void lb_release_pages(const void *p, size_t n)
{
    if (!p || !n) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(page - 1), b = ((uintptr_t)p + n + page - 1) & ~(page - 1);
    (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
