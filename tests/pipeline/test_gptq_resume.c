/* Checkpoint and resume of block-wise GPTQ: a run killed (SIGKILL, as a crash or the OOM killer
 * would) right after block k's checkpoint and then resumed writes the same bytes as a run that
 * was never interrupted; a killed run leaves no output; the checkpoint refuses a fresh start
 * over it and a resume with other options; it is removed after success; a --mem-limit the
 * memory plan cannot meet is refused up front. Real model, real text. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static char model[1024], calib[1024];

/* quantize with GPTQ into out; extra options appended; returns the exit status */
static int quantize(const char *out, const char *extra, char **log)
{
    char args[4096];
    snprintf(args, sizeof args,
             "quantize %s -o %s --type Q4_0 --method gptq --calib %s --calib-samples 8 --calib-len 128 --threads 2 %s",
             model, out, calib, extra);
    return lb_test_run_cli(args, log);
}

static bool same_bytes(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = lb_test_read_file(a, &na), *y = lb_test_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void kill_after(int block)
{
    char v[16];
    snprintf(v, sizeof v, "%d", block);
    setenv("LOWBIT_TEST_KILL_AFTER_BLOCK", v, 1);
}

int main(void)
{
    snprintf(model, sizeof model, "%s", lb_test_shared("models/tinystories-656k-hf"));
    snprintf(calib, sizeof calib, "%s", lb_test_shared("data/tinystories/tinystories_train_head.txt"));
    const char *dir = lb_test_tmpdir();
    char straight[1200], resumed[1200], ckpt[1300], manifest[1400];
    snprintf(straight, sizeof straight, "%s/straight.gguf", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.gguf", dir);
    snprintf(ckpt, sizeof ckpt, "%s.lowbit-ckpt", resumed);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", ckpt);
    char *log = NULL;

    int rc = quantize(straight, "", &log);
    CHECKF(rc == 0, "straight run failed (%d): %s", rc, log);
    free(log);
    snprintf(ckpt, sizeof ckpt, "%s.lowbit-ckpt", straight);
    CHECKF(!lb_test_file_exists(ckpt), "the checkpoint directory %s was not removed after success", ckpt);
    snprintf(ckpt, sizeof ckpt, "%s.lowbit-ckpt", resumed);

    /* killed after block 1 of 2 */
    kill_after(1);
    rc = quantize(resumed, "", &log);
    unsetenv("LOWBIT_TEST_KILL_AFTER_BLOCK");
    CHECKF(rc == -1 || rc == 128 + 9, "the run was not killed (exit %d): %s", rc, log);
    free(log);
    CHECKF(!lb_test_file_exists(resumed), "a killed run left %s", resumed);
    CHECKF(lb_test_file_exists(manifest), "no manifest after block 1: %s", manifest);

    /* a fresh start over the checkpoint is refused, and so is a resume with other options */
    rc = quantize(resumed, "", &log);
    CHECKF(rc != 0 && strstr(log, "--resume"), "a fresh run over a checkpoint was not refused (exit %d): %s", rc, log);
    free(log);
    rc = quantize(resumed, "--resume --seed 7", &log);
    CHECKF(rc != 0 && strstr(log, "fingerprint"), "a resume with another seed was not refused (exit %d): %s", rc, log);
    free(log);
    CHECKF(!lb_test_file_exists(resumed), "a refused run wrote %s", resumed);

    /* the resume finishes the job with the very bytes of the straight run */
    rc = quantize(resumed, "--resume", &log);
    CHECKF(rc == 0 && strstr(log, "resuming after block 1"), "resume failed (exit %d): %s", rc, log);
    free(log);
    CHECKF(same_bytes(straight, resumed), "resumed output %s differs from the straight run's %s", resumed, straight);
    CHECKF(!lb_test_file_exists(ckpt), "the checkpoint directory %s was not removed after the resume", ckpt);

    /* --resume with nothing to resume says so */
    rc = quantize(resumed, "--resume", &log);
    CHECKF(rc != 0 && strstr(log, "no checkpoint"), "resume without a checkpoint (exit %d): %s", rc, log);
    free(log);
    /* a memory limit the plan cannot meet is refused before any work, naming the plan */
    char limited[1200];
    snprintf(limited, sizeof limited, "%s/limited.gguf", dir);
    rc = quantize(limited, "--mem-limit 64K", &log);
    CHECKF(rc != 0 && strstr(log, "memory plan") && strstr(log, "--mem-limit"), "mem-limit not refused (exit %d): %s", rc,
           log);
    free(log);
    CHECKF(!lb_test_file_exists(limited), "a refused run left %s", limited);

    return lb_test_finish();
}
