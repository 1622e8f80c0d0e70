/* The GPU suite: the CUDA backend against the CPU backend, the oracle, in
 * fp32, fp16 and bf16 (groups in gpu_ops.c and gpu_steps.c).
 *
 * Every group runs in a child process of its own, under a time limit, so that
 * a fatal CUDA error (which ends the process), a crash or a hang in one group
 * is reported with its group and the others still run: one call on a
 * borrowed GPU shows every failure, not only the first. The parent never
 * touches CUDA, since a CUDA context does not survive fork; whether a GPU is
 * usable is asked in a child too.
 *
 * Without a usable GPU it prints why and exits 77, which CTest reports as
 * skipped; but where a GPU is visible (an NVIDIA device node or driver entry)
 * or BMST_GPU_REQUIRED=1 says one must be, not being able to use it is a
 * failure: a build without CUDA, or a broken driver, must not pass as a skip. */
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "gpu_suite.h"

#define SKIP 77
#define GROUP_SECONDS 300 /* a group still running after this is taken as hung */

/* Why this machine should have a usable GPU, or NULL where nothing says so. */
static const char *gpu_expected(void) {
    const char *required = getenv("BMST_GPU_REQUIRED");
    if (required && strcmp(required, "1") == 0) return "BMST_GPU_REQUIRED=1";
    static const char *const traces[] = {"/dev/nvidia[0-9]*", "/proc/driver/nvidia/gpus/*"};
    for (size_t i = 0; i < sizeof traces / sizeof *traces; i++) {
        glob_t g;
        int found = glob(traces[i], 0, NULL, &g) == 0 && g.gl_pathc > 0;
        globfree(&g);
        if (found) return "an NVIDIA GPU is visible";
    }
    return NULL;
}

/* In a child: 0 where the CUDA backend opens, else SKIP with the reason. */
static int probe_gpu(enum bmst_dtype precision) {
    char why[256] = "";
    struct bmst_backend *gpu = bmst_backend_cuda_create(0, precision, 0, why, sizeof why);
    if (!gpu) {
        printf("no usable GPU: %s\n", why);
        return SKIP;
    }
    printf("GPU: %s\n", gpu->name);
    gpu->destroy(gpu);
    return 0;
}

/* Runs one group (or the probe) in a child; returns its exit status, or 128 +
 * the signal that ended it, after one line saying how it ended. */
static int in_child(const char *name, enum bmst_dtype precision,
                    void (*group)(enum bmst_dtype), int (*probe)(enum bmst_dtype)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        alarm(GROUP_SECONDS);
        if (probe) _exit(probe(precision));
        group(precision);
        fflush(stderr);
        printf("%s %s: %d passed, %d failed\n", name, bmst_dtype_name(precision), check_passed,
               check_failed);
        fflush(stdout);
        _exit(check_failed == 0 && check_passed > 0 ? 0 : 1);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) continue;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        printf("FAIL %s %s: ended by signal %d (%s)%s\n", name, bmst_dtype_name(precision), sig,
               strsignal(sig), sig == SIGALRM ? ": still running after the time limit" : "");
        return 128 + sig;
    }
    int code = WEXITSTATUS(status);
    if (code != 0 && !probe)
        printf("FAIL %s %s: exit status %d (a CUDA error ends the group: see above)\n", name,
               bmst_dtype_name(precision), code);
    return code;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in order with the children's */
    int usable = in_child("probe", BMST_F32, NULL, probe_gpu);
    if (usable != 0) {
        const char *expected = gpu_expected();
        if (expected) {
            printf("FAIL: %s, but the CUDA backend cannot use it\n", expected);
            return 1;
        }
        printf("SKIP: no GPU to test the CUDA backend on\n");
        return SKIP;
    }
    static const struct {
        const char *name;
        void (*run)(enum bmst_dtype);
    } groups[] = {
        {"ops", gpu_ops_group},
        {"resnet18 steps", gpu_steps_group},
        {"deterministic", gpu_deterministic_group},
        {"relu-mask codec", gpu_codec_group},
    };
    const enum bmst_dtype precisions[] = {BMST_F32, BMST_F16, BMST_BF16};
    int failed = 0, ran = 0;
    for (size_t p = 0; p < sizeof precisions / sizeof *precisions; p++)
        for (size_t k = 0; k < sizeof groups / sizeof *groups; k++, ran++)
            failed += in_child(groups[k].name, precisions[p], groups[k].run, NULL) != 0;
    printf("gpu_backend: %d of %d groups passed\n", ran - failed, ran);
    return failed ? 1 : 0;
}
