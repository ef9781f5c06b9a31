/* Thread-local failure messages (after SQLite's errmsg) and the always-on invariant check. */
#include "core/core.h"

#include <stdarg.h>
#include <string.h>

#define MSG_CAP 2048
static _Thread_local char g_msg[MSG_CAP];

const char *lb_errmsg(void) { return g_msg; }

void lb_clear_error(void) { g_msg[0] = '\0'; }

const char *lb_status_name(lb_status s)
{
    static const char *names[LB_STATUS_COUNT] = {
        [LB_OK] = "ok",
        [LB_ERR_IO] = "I/O error",
        [LB_ERR_FORMAT] = "malformed input",
        [LB_ERR_UNSUPPORTED] = "unsupported",
        [LB_ERR_NOMEM] = "out of memory",
        [LB_ERR_ARG] = "invalid argument",
        [LB_ERR_NUMERIC] = "non-finite value",
    };
    return (s >= 0 && s < LB_STATUS_COUNT) ? names[s] : "unknown status";
}

lb_status lb_fail(lb_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, MSG_CAP, fmt, ap);
    va_end(ap);
    return s;
}

lb_status lb_fail_context(lb_status s, const char *fmt, ...)
{
    char old[MSG_CAP];
    memcpy(old, g_msg, MSG_CAP);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_msg, MSG_CAP, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < MSG_CAP - 3) {
        size_t k = (size_t)n;
        g_msg[k++] = ':';
        g_msg[k++] = ' ';
        size_t room = MSG_CAP - k - 1, len = strnlen(old, room);
        memcpy(g_msg + k, old, len);
        g_msg[k + len] = '\0';
    }
    return s;
}

_Noreturn void lb_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "lowbit: internal invariant failed at %s:%d: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

void *lb_malloc(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p) lb_fail(LB_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *lb_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) lb_fail(LB_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

char *lb_strdup(const char *s) { return lb_strndup(s, strlen(s)); }

char *lb_strndup(const char *s, size_t n)
{
    char *p = lb_malloc(n + 1, "string");
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
