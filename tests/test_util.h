/* Test helpers: paths to shared models/data and to the repo, checks that print evidence
 * (max difference and the first mismatching pairs, after llm.c's check_tensor), running the
 * CLI, and the closing "N passed, N failed" line. */
#ifndef LB_TEST_UTIL_H
#define LB_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int lb_test_passed, lb_test_failed;

/* ../shared (LOWBIT_SHARED overrides) joined with rel; static buffer rotates over 8 calls. */
const char *lb_test_shared(const char *rel);
/* Repository root joined with rel (e.g. "tests/golden/logits.json"). */
const char *lb_test_source(const char *rel);
/* Path of the lowbit CLI under test. */
const char *lb_test_cli(void);
/* A fresh temporary directory for this test (removed at lb_test_finish). */
const char *lb_test_tmpdir(void);

/* Runs `cli args` with the shell, captures stdout+stderr into *out (malloc'd), returns the
 * exit status (or -1 when killed by a signal: a crash). */
int lb_test_run_cli(const char *args, char **out);

#define CHECK(cond)                                                                            \
    lb_test_check((cond), __FILE__, __LINE__, #cond, NULL)
#define CHECKF(cond, ...)                                                                      \
    do {                                                                                       \
        char msg_[1024];                                                                       \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                              \
        lb_test_check((cond), __FILE__, __LINE__, #cond, msg_);                                \
    } while (0)

bool lb_test_check(bool ok, const char *file, int line, const char *expr, const char *msg);

/* Compares got vs want elementwise: |g - w| <= atol + rtol * |w|. Prints max abs/rel diff and
 * the first mismatches. NaN matches NaN only when nan_ok. */
bool lb_test_close(const char *what, const float *got, const float *want, int64_t n, double rtol, double atol);
/* Bitwise equality of float arrays (NaNs compared by bits). */
bool lb_test_bits_equal(const char *what, const float *got, const float *want, int64_t n);
bool lb_test_i32_equal(const char *what, const int32_t *got, const int32_t *want, int64_t n_got, int64_t n_want);

/* Prints "N passed, N failed" and returns the process exit code. */
int lb_test_finish(void);

#endif
