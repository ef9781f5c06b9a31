/* The CLI (built with AddressSanitizer + UBSan) on bad input: every case must end with a clear
 * message and the documented exit code (1 for bad files, 2 for bad usage), never a crash or a
 * sanitizer report. Models are altered in a temporary directory: copies of the small JSON files,
 * symlinks to the weights. */
#include "test_util.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has(const char *out, const char *s) { return strstr(out, s) != NULL; }

/* Runs the CLI, then checks: the exit status, no sanitizer report, and that the output names
 * every string in the NULL-terminated list. */
static void expect_cli(int want_rc, const char *what, const char *args, ...)
{
    char *out;
    int rc = lb_test_run_cli(args, &out);
    bool ok = EXPECT(rc == want_rc, "%s: exit %d, want %d", what, rc, want_rc);
    ok &= EXPECT(!has(out, "AddressSanitizer") && !has(out, "runtime error:") && !has(out, "LeakSanitizer"),
                 "%s: sanitizer report", what);
    va_list ap;
    va_start(ap, args);
    for (const char *s; (s = va_arg(ap, const char *));) ok &= EXPECT(has(out, s), "%s: output lacks '%s'", what, s);
    va_end(ap);
    if (!ok) fprintf(stderr, "---- %s: lowbit %s ----\n%s\n----\n", what, args, out);
    else printf("  ok %-40s %.*s\n", what, (int)strcspn(out, "\n"), out); /* first line as evidence */
    free(out);
}

static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "setup command failed: %s\n", cmd);
        exit(2);
    }
}

int main(void)
{
    const char *tmp = lb_test_tmpdir();
    char src[PATH_MAX], text[PATH_MAX], args[16384];
    /* absolute paths: the setup commands below cd into the temporary directory */
    if (!realpath(lb_test_shared("models/tinystories-656k-hf"), src) ||
        !realpath(lb_test_shared("data/tinystories/tinystories_validation_head.txt"), text)) {
        fprintf(stderr, "shared models/data not found under %s\n", lb_test_shared(""));
        return 2;
    }

    // ---- unknown architecture: config.json says gpt_neox ----
    sh("mkdir -p '%s/neox' && cd '%s/neox' && for f in '%s'/*; do ln -s \"$f\" .; done && rm config.json && "
       "sed 's/\"model_type\": \"llama\"/\"model_type\": \"gpt_neox\"/; s/LlamaForCausalLM/GPTNeoXForCausalLM/' "
       "'%s/config.json' > config.json && grep -q gpt_neox config.json",
       tmp, tmp, src, src);
    snprintf(args, sizeof args, "info '%s/neox'", tmp);
    expect_cli(1, "unknown architecture (info)", args, "lowbit: ", "config.json", "gpt_neox", NULL);
    snprintf(args, sizeof args, "ppl '%s/neox' --text '%s' --chunks 1", tmp, text);
    expect_cli(1, "unknown architecture (ppl)", args, "config.json", "gpt_neox", NULL);

    // ---- missing tokenizer: info works, ppl/generate name the directory ----
    sh("mkdir -p '%s/notok' && cd '%s/notok' && for f in '%s'/*; do ln -s \"$f\" .; done && rm tokenizer.json", tmp, tmp,
       src);
    snprintf(args, sizeof args, "info '%s/notok'", tmp);
    expect_cli(0, "missing tokenizer (info)", args, "llama", "656000", NULL);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/notok", tmp);
    snprintf(args, sizeof args, "ppl '%s' --text '%s' --chunks 1", dir, text);
    expect_cli(1, "missing tokenizer (ppl)", args, "lowbit: ", dir, "tokenizer", NULL);
    snprintf(args, sizeof args, "generate '%s' -p hello -n 2", dir);
    expect_cli(1, "missing tokenizer (generate)", args, dir, "tokenizer", NULL);

    // ---- missing or broken model files ----
    expect_cli(1, "missing model path", "info /nonexistent/lowbit-model", "lowbit: ", "/nonexistent/lowbit-model", NULL);
    sh("head -c 1000 '%s/model.safetensors' > '%s/truncated.safetensors'", src, tmp);
    snprintf(args, sizeof args, "info '%s/truncated.safetensors'", tmp);
    expect_cli(1, "truncated safetensors", args, "truncated.safetensors", NULL);
    sh("head -c 4096 /dev/urandom > '%s/garbage.gguf'", tmp);
    snprintf(args, sizeof args, "info '%s/garbage.gguf'", tmp);
    expect_cli(1, "garbage gguf", args, "garbage.gguf", NULL);

    // ---- text files ----
    snprintf(args, sizeof args, "ppl '%s' --text /nonexistent/text.txt", src);
    expect_cli(1, "missing text file", args, "/nonexistent/text.txt", NULL);
    sh(": > '%s/empty.txt'", tmp);
    snprintf(args, sizeof args, "ppl '%s' --text '%s/empty.txt'", src, tmp);
    expect_cli(1, "empty text file", args, "lowbit: ", NULL);

    // ---- a context longer than the training context: allowed, with a warning ----
    snprintf(args, sizeof args, "ppl '%s' --text '%s' --ctx 1024 --chunks 1", src, text);
    expect_cli(0, "ctx beyond training context", args, "warning", "1024", "512", "PPL = ", NULL);

    // ---- sanitized happy paths through sampling and generation (memory errors show here) ----
    snprintf(args, sizeof args, "generate '%s' -p 'Once upon a time' -n 16 --temp 0.9 --top-k 40 --top-p 0.9 --seed 1", src);
    expect_cli(0, "generate sampled (sanitized)", args, "Once upon a time", "generated: ", NULL);
    snprintf(args, sizeof args, "generate '%s/stories260K.bin' -p 'Lily' -n 16 --temp 1.2 --top-p 0.5 --seed 2",
             lb_test_shared("models/stories260K-llama2c"));
    expect_cli(0, "generate llama2c sampled (sanitized)", args, "Lily", "generated: ", NULL);

    // ---- malformed numbers and options: usage errors, exit 2 ----
    struct {
        const char *args, *names;
    } usage[] = {
        {"ppl M --text F --ctx 12x", "--ctx"},
        {"ppl M --text F --ctx -5", "--ctx"},
        {"ppl M --text F --ctx ''", "--ctx"},
        {"ppl M --text F --ctx 99999999999999999999", "--ctx"},
        {"ppl M --text F --chunks 0", "--chunks"},
        {"ppl M --text F --batch 1.5", "--batch"},
        {"ppl M --text F --threads abc", "--threads"},
        {"ppl M --text F --protocol wiki", "--protocol"},
        {"ppl M --text", "--text"},
        {"ppl M", "--text"},
        {"ppl M N --text F", "unexpected argument"},
        {"ppl M --text F --json=1", "--json"},
        {"generate M", "-p"},
        {"generate M -p hi -n 1e3", "-n"},
        {"generate M -p hi --temp abc", "--temp"},
        {"generate M -p hi --temp -1", "--temp"},
        {"generate M -p hi --temp nan", "--temp"},
        {"generate M -p hi --top-p 1.5", "--top-p"},
        {"generate M -p hi --top-k -3", "--top-k"},
        {"generate M -p hi --seed -1", "--seed"},
        {"generate M -p hi --seed 0x", "--seed"},
        {"info M --frob", "--frob"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) expect_cli(2, usage[i].args, usage[i].args, usage[i].names, "usage", NULL);

    return lb_test_finish();
}
