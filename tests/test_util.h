/* Test helpers: paths to shared models/data and to the repo, checks that print evidence
 * (max difference and the first mismatching pairs, after llm.c's check_tensor), running the
 * CLI, reading files and golden JSON, and the closing "N passed, N failed" line. Uses only the
 * public lowbit.h (nothing here), stdio and cJSON. */
#ifndef LB_TEST_UTIL_H
#define LB_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct lb_open_params; /* lowbit.h */

extern int lb_test_passed, lb_test_failed;

/* ../shared (LOWBIT_SHARED overrides) joined with rel; static buffer rotates over 8 calls. */
const char *lb_test_shared(const char *rel);
/* Repository root joined with rel (e.g. "tests/golden/logits.json"). */
const char *lb_test_source(const char *rel);
/* Path of the lowbit CLI under test. */
const char *lb_test_cli(void);
/* A fresh temporary directory for this test (removed at lb_test_finish). */
const char *lb_test_tmpdir(void);
/* lb_test_tmpdir()/name; static buffer rotates over 8 calls. */
const char *lb_test_tmp(const char *name);

/* Runs `cli args` with the shell, captures stdout+stderr into *out (malloc'd), returns the
 * exit status (or -1 when killed by a signal: a crash). */
int lb_test_run_cli(const char *args, char **out);

#define CHECK(cond)                                                                            \
    lb_test_check((cond), __FILE__, __LINE__, #cond, NULL)
#define CHECKF(cond, ...) ((void)lb_test_expectf((cond), __FILE__, __LINE__, #cond, __VA_ARGS__))
/* CHECKF that is an expression: records the check and returns cond. */
#define EXPECT(cond, ...) lb_test_expectf((cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

bool lb_test_check(bool ok, const char *file, int line, const char *expr, const char *msg);
/* lb_test_check with a printf-style message (at most 1023 bytes). */
__attribute__((format(printf, 5, 6))) bool lb_test_expectf(bool ok, const char *file, int line, const char *expr,
                                                           const char *fmt, ...);

/* Compares got vs want elementwise: |g - w| <= atol + rtol * |w|. Prints max abs/rel diff and
 * the first mismatches. NaN matches NaN only when nan_ok. */
bool lb_test_close(const char *what, const float *got, const float *want, int64_t n, double rtol, double atol);
/* Bitwise equality of float arrays (NaNs compared by bits). */
bool lb_test_bits_equal(const char *what, const float *got, const float *want, int64_t n);
bool lb_test_i32_equal(const char *what, const int32_t *got, const int32_t *want, int64_t n_got, int64_t n_want);

/* Largest over the n_rows rows of max_i |got - want| / max_i |want| (rows of n_vocab logits):
 * how the exactness tests of model transforms (rotation, scale folding) measure "same logits". */
double lb_test_worst_rel_row_diff(const float *got, const float *want, int64_t n_rows, int64_t n_vocab);
/* Logits [n][n_vocab] of ids through the model at path, opened with op (NULL: defaults) made
 * quiet; malloc'd, NULL after recording a failed check. */
float *lb_test_logits_of(const char *path, const struct lb_open_params *op, const int32_t *ids, int64_t n,
                         int64_t *n_vocab);
/* The same for the fixed ids ((i * 37 + 11) % (n_vocab - 3)) + 3, i < n: tokens that exist in
 * every vocabulary, special ones skipped. */
float *lb_test_logits_fixed(const char *path, const struct lb_open_params *op, int64_t n, int64_t *n_vocab);
/* sqrt(sum (a - b)^2 / sum b^2). */
double lb_test_rel_rms(const float *a, const float *b, int64_t n);

// ---- files and golden data ----

/* The whole file, NUL-terminated (malloc'd); NULL when it cannot be read. *len (when len is not
 * NULL) gets the byte count, 0 on failure. */
char *lb_test_read_file(const char *path, size_t *len);
/* lb_test_read_file + cJSON_Parse; NULL when unreadable or not JSON. Records no check. */
cJSON *lb_test_load_json(const char *path);
bool lb_test_file_exists(const char *path);
/* A golden file's path spec: "shared:models/x" -> lb_test_shared("models/x"), "source:.cache/x" ->
 * lb_test_source(".cache/x"), anything else as it is (NULL as ""). */
void lb_test_resolve(const char *spec, char *out, size_t cap);
/* o[k] (case-sensitive) as a number, NaN when absent or not a number; as an integer, -1 then;
 * as a string, "" when absent or not a string. */
double lb_test_jnum(const cJSON *o, const char *k);
int64_t lb_test_jint(const cJSON *o, const char *k);
const char *lb_test_jstr(const cJSON *o, const char *k);
/* FNV-1a 64 over token ids as int32 little-endian, as the golden scripts hash token streams. */
uint64_t lb_test_fnv1a64_ids(const int32_t *ids, int64_t n);

/* Prints "N passed, N failed" and returns the process exit code. */
int lb_test_finish(void);

#endif
