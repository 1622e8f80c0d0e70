/* Replacing a file whole (see atomic_file.h): temporary name, fsync, rename,
 * fsync of the folder, and the removal of dead writers' temporary files. */
#include "atomic_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* dir receives the folder of path ("." when it has none), *base its last part. */
static int split_path(const char *path, char *dir, size_t size, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) return snprintf(dir, size, ".") < 0;
    int len = slash == path ? 1 : (int)(slash - path);
    return (size_t)snprintf(dir, size, "%.*s", len, path) >= size;
}

/* A name "BASE.tmp.PID": the temporary file of writer PID. */
static int temp_pid(const char *name, const char *base, long *pid) {
    size_t len = strlen(base);
    if (strncmp(name, base, len) != 0 || strncmp(name + len, ".tmp.", 5) != 0) return 0;
    const char *digits = name + len + 5;
    char *end;
    errno = 0;
    long value = isdigit((unsigned char)*digits) ? strtol(digits, &end, 10) : -1;
    if (value <= 0 || value > INT_MAX || errno || *end) return 0;
    *pid = value;
    return 1;
}

/* EPERM: the process exists but belongs to someone else. */
static int process_alive(long pid) {
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* A writer killed while it wrote (SIGKILL, power loss) leaves BASE.tmp.PID,
 * as large as the file itself. Removed here: those whose process is gone
 * and whose lock nobody holds. The lock guards a live writer on another
 * machine of a shared file system, whose PID means nothing here; the PID
 * guards a live writer here that has not taken its lock yet. */
static void remove_stale(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return;
    int dfd = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        long pid;
        if (!temp_pid(e->d_name, base, &pid) || pid == (long)getpid() || process_alive(pid))
            continue;
        int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        if (!held) unlinkat(dfd, e->d_name, 0);
        close(fd);
    }
    closedir(d);
}

static int fail(const struct bmst_atomic_file *f, int err) {
    return bmst_error("cannot write %s %s: %s", f->what, f->name, strerror(err));
}

int bmst_atomic_open(struct bmst_atomic_file *f, const char *path, const char *what) {
    memset(f, 0, sizeof *f);
    f->what = what;
    f->name = path;
    f->fd = -1;
    /* through a symlink to the file it names, as a plain open would write */
    char real[PATH_MAX];
    const char *target = realpath(path, real) ? real : path;
    char dir[4096];
    const char *base;
    if ((size_t)snprintf(f->path, sizeof f->path, "%s", target) >= sizeof f->path ||
        (size_t)snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", target, (long)getpid()) >=
            sizeof f->tmp ||
        split_path(f->path, dir, sizeof dir, &base) != 0)
        return fail(f, ENAMETOOLONG);
    struct stat st;
    if (stat(f->path, &st) == 0 && S_ISDIR(st.st_mode)) return fail(f, EISDIR);
    remove_stale(dir, base);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (f->fd < 0) return fail(f, errno);
    /* best effort: file systems without locks still get the PID check */
    (void)flock(f->fd, LOCK_EX | LOCK_NB);
    return 0;
}

int bmst_atomic_write(struct bmst_atomic_file *f, const void *data, size_t bytes) {
    const char *p = data;
    while (bytes > 0) {
        ssize_t n = write(f->fd, p, bytes < ((size_t)1 << 30) ? bytes : (size_t)1 << 30);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(f, n < 0 ? errno : EIO);
        p += n;
        bytes -= (size_t)n;
    }
    return 0;
}

/* The rename is in the folder's data: without this a power loss can bring
 * back the previous file, or no file at all where there was none. */
static int sync_folder(const struct bmst_atomic_file *f) {
    char dir[4096];
    const char *base;
    split_path(f->path, dir, sizeof dir, &base);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(f, errno);
    int err = fsync(fd) == 0 || errno == EINVAL ? 0 : errno; /* EINVAL: not supported there */
    close(fd);
    return err ? fail(f, err) : 0;
}

int bmst_atomic_commit(struct bmst_atomic_file *f) {
    /* the data reaches the disk before the rename makes it the file */
    int err = fsync(f->fd) == 0 ? 0 : errno;
    if (close(f->fd) != 0 && !err) err = errno; /* NFS reports write errors here */
    f->fd = -1;
    if (!err && rename(f->tmp, f->path) != 0) err = errno;
    if (err) {
        unlink(f->tmp);
        return fail(f, err);
    }
    return sync_folder(f);
}

void bmst_atomic_abort(struct bmst_atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    unlink(f->tmp);
}
