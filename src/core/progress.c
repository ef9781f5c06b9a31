/* Time, core count, and a one-line progress bar with rate and ETA on stderr. The bar is
 * drawn only for work that runs longer than a second, and only on a terminal unless
 * LOWBIT_PROGRESS=1, so logs and pipes stay clean. */
#include "core/core.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double lb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lb_n_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

void lb_progress_begin(lb_progress *p, const char *label, int64_t total, bool quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->t_start = p->t_last = lb_now_s();
    const char *env = getenv("LOWBIT_PROGRESS");
    p->enabled = !quiet && ((env && strcmp(env, "1") == 0) || isatty(STDERR_FILENO));
}

static void draw(lb_progress *p, int64_t done, double now)
{
    double el = now - p->t_start;
    double frac = p->total > 0 ? (double)done / (double)p->total : 0.0;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double eta = (frac > 0 && frac < 1) ? el * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld %5.1f%% %.1fs eta %.1fs ", p->label, bar, (long long)done,
            (long long)p->total, 100 * frac, el, eta);
    fflush(stderr);
}

void lb_progress_update(lb_progress *p, int64_t done)
{
    if (!p->enabled) return;
    double now = lb_now_s();
    if (now - p->t_start < 1.0 || now - p->t_last < 0.1) return;
    p->t_last = now;
    draw(p, done, now);
}

void lb_progress_end(lb_progress *p)
{
    if (!p->enabled) return;
    double now = lb_now_s();
    if (now - p->t_start >= 1.0) {
        draw(p, p->total, now);
        fputc('\n', stderr);
    }
}
