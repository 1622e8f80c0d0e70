/* Running import's Python helper (pt_helper.h). */
#include "pt_helper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

extern const char bmst_pt_helper_source[]; /* tools/pt_to_safetensors.py (build/pt_helper.c) */

int bmst_pt_is_pickle(const char *path) {
    size_t n = strlen(path);
    if ((n > 3 && strcmp(path + n - 3, ".pt") == 0) || (n > 4 && strcmp(path + n - 4, ".pth") == 0))
        return 1;
    /* torch.save's zip archive under any other name (a model hub's
     * pytorch_model.bin); a safetensors file starts with its header's length */
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* the safetensors reader says why */
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, "PK\x03\x04", sizeof magic) == 0;
}

/* The last non-empty line of text (modified in place). */
static const char *last_line(char *text) {
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = 0;
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

int bmst_pt_to_safetensors(const char *in, char *out, size_t size) {
    if (access(in, R_OK) != 0) return bmst_error("cannot read %s: %s", in, strerror(errno));
    const char *tmpdir = getenv("TMPDIR");
    snprintf(out, size, "%s/bmst_import_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(out);
    if (fd < 0) return bmst_error("cannot make a temporary file %s: %s", out, strerror(errno));
    close(fd);
    const char *python = getenv("BMST_PYTHON");
    if (!python || !*python) python = "python3";
    int pipe_fd[2];
    if (pipe(pipe_fd) != 0) {
        unlink(out);
        return bmst_error("cannot start %s: %s", python, strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* the child: its stderr (the helper's one line) into the pipe */
        close(pipe_fd[0]);
        dup2(pipe_fd[1], STDERR_FILENO);
        dup2(pipe_fd[1], STDOUT_FILENO);
        execlp(python, python, "-c", bmst_pt_helper_source, in, out, (char *)NULL);
        dprintf(STDERR_FILENO,
                "reading %s (a PyTorch pickle) needs Python with PyTorch: cannot "
                "run %s: %s\n",
                in, python, strerror(errno));
        _exit(127);
    }
    close(pipe_fd[1]);
    char text[4096];
    size_t used = 0;
    ssize_t got;
    /* keep the end: the helper's message is its last line */
    while ((got = read(pipe_fd[0], text + used, sizeof text - 1 - used)) > 0) {
        used += (size_t)got;
        if (used == sizeof text - 1) {
            memmove(text, text + used / 2, used - used / 2);
            used -= used / 2;
        }
    }
    close(pipe_fd[0]);
    text[used] = 0;
    int wstatus = 0;
    if (pid < 0 || waitpid(pid, &wstatus, 0) < 0 || !WIFEXITED(wstatus) ||
        WEXITSTATUS(wstatus) != 0) {
        unlink(out);
        if (pid < 0) return bmst_error("cannot start %s: %s", python, strerror(errno));
        const char *line = last_line(text);
        return bmst_error("%s", *line ? line : "the PyTorch pickle helper failed without a word");
    }
    return 0;
}
