/* Checks on the files of a training run (see output_paths.h). */
#include "output_paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

enum use {
    READ,     /* --data, --resume */
    REPLACED, /* written beside and renamed over (atomic_file.h): must be a regular file */
    APPENDED, /* written in place (the CSV): a pipe or /dev/stdout will do */
    FOLDER,   /* a folder files are made in (--tensorboard), made when missing */
};

struct named_file {
    const char *option, *path, *what;
    enum use use;
};
#define MAX_FILES 10

/* Where a file is: its device and inode when it exists, and always its
 * canonical name (symlinks and "." resolved; for a file still to be made,
 * its folder's canonical name and its own). */
struct place {
    int exists;
    dev_t dev;
    ino_t ino;
    char name[PATH_MAX * 2];
};

/* dir receives the folder part of path ("." for none), *base the last part. */
static void split(const char *path, char *dir, size_t size, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
}

/* Follows a dangling symlink to the file it names (opening it for writing
 * creates that file), as the kernel does, up to 40 links. */
static void locate(const char *path, struct place *p) {
    char at[PATH_MAX], dir[PATH_MAX], link[PATH_MAX];
    const char *base;
    memset(p, 0, sizeof *p);
    snprintf(at, sizeof at, "%s", path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (stat(at, &st) == 0) {
            p->exists = 1;
            p->dev = st.st_dev;
            p->ino = st.st_ino;
            if (realpath(at, p->name)) return;
        }
        split(at, dir, sizeof dir, &base);
        ssize_t n = hops < 40 ? readlink(at, link, sizeof link - 1) : -1;
        if (n <= 0) break;
        link[n] = '\0';
        char next[PATH_MAX];
        int len = link[0] == '/' ? snprintf(next, sizeof next, "%s", link)
                                 : snprintf(next, sizeof next, "%s/%s", dir, link);
        if (len < 0 || (size_t)len >= sizeof next) break;
        memcpy(at, next, (size_t)len + 1);
    }
    char real_dir[PATH_MAX];
    if (realpath(dir, real_dir))
        snprintf(p->name, sizeof p->name, "%s/%s", strcmp(real_dir, "/") ? real_dir : "", base);
    else
        snprintf(p->name, sizeof p->name, "%s", at);
}

static int same_place(const struct place *a, const struct place *b) {
    if (a->exists && b->exists) return a->dev == b->dev && a->ino == b->ino;
    return strcmp(a->name, b->name) == 0;
}

/* The one pair allowed to share a file: resuming from the checkpoint the run
 * goes on to overwrite. */
static int may_share(const struct named_file *a, const struct named_file *b) {
    return (strcmp(a->option, "--save") == 0 && strcmp(b->option, "--resume") == 0) ||
           (strcmp(a->option, "--resume") == 0 && strcmp(b->option, "--save") == 0);
}

static int check_distinct(const struct named_file *files, int n) {
    struct place places[MAX_FILES];
    BMST_ASSERT(n <= MAX_FILES);
    for (int i = 0; i < n; i++)
        locate(files[i].path, &places[i]);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (same_place(&places[i], &places[j]) && !may_share(&files[i], &files[j]))
                return bmst_error("%s %s and %s %s are the same file; each needs a file of its "
                                  "own",
                                  files[i].option, files[i].path, files[j].option, files[j].path);
    return 0;
}

/* The folder takes new files: access() is not enough (root passes it for
 * /proc, and it knows nothing of read-only mounts), so one is made and removed. */
static int check_folder(const struct named_file *f, const char *dir, const char *base) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return bmst_error("cannot write %s %s: the folder %s %s", f->what, f->path, dir,
                          errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bmst_error("cannot write %s %s: %s is not a folder", f->what, f->path, dir);
    /* room for the temporary name BASE.tmp.PID (PID up to 10 digits) beside it */
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max > 0 && strlen(base) + 15 > (size_t)name_max)
        return bmst_error("cannot write %s %s: the name is longer than %s allows (%ld bytes)",
                          f->what, f->path, dir, name_max - 15);
    char probe[PATH_MAX + 32];
    snprintf(probe, sizeof probe, "%s/.bmst_probe.XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return bmst_error("cannot write %s %s: cannot create files in %s (%s)", f->what, f->path,
                          dir, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

/* A folder to write files in: one that exists and takes files, or one that
 * can be made (mkdir, not mkdir -p: its own folder must exist). */
static int check_output_folder(const struct named_file *f) {
    struct stat st;
    if (stat(f->path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return bmst_error("cannot write %s %s: it is not a folder", f->what, f->path);
        return check_folder(f, f->path, "events");
    }
    char dir[PATH_MAX];
    const char *base;
    split(f->path, dir, sizeof dir, &base);
    return check_folder(f, dir, base);
}

static int check_output(const struct named_file *f) {
    size_t len = strlen(f->path);
    if (len == 0) return bmst_error("cannot write %s '': the name is empty", f->what);
    if (f->use == FOLDER) return check_output_folder(f);
    if (f->path[len - 1] == '/')
        return bmst_error("cannot write %s %s: that names a folder; give a file name", f->what,
                          f->path);
    /* an existing symlink is written through: check where it leads */
    char real[PATH_MAX];
    struct stat st;
    const char *target = f->path;
    if (stat(f->path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return bmst_error("cannot write %s %s: it is a folder; give a file name inside it",
                              f->what, f->path);
        if (f->use == REPLACED && !S_ISREG(st.st_mode))
            return bmst_error("cannot write %s %s: it is not a regular file, and would be "
                              "replaced by one",
                              f->what, f->path);
        if (f->use == APPENDED && S_ISREG(st.st_mode)) {
            /* written in place: the file itself must take writes */
            FILE *probe = fopen(f->path, "a");
            if (!probe)
                return bmst_error("cannot write %s %s: %s", f->what, f->path, strerror(errno));
            fclose(probe);
            return 0;
        }
        if (f->use == APPENDED) return 0;
        if (realpath(f->path, real)) target = real;
    }
    char dir[PATH_MAX];
    const char *base;
    split(target, dir, sizeof dir, &base);
    return check_folder(f, dir, base);
}

int bmst_output_paths_check(const struct bmst_run_config *cfg) {
    const struct named_file all[] = {
        {"--data", cfg->data_path, "the dataset", READ},
        {"--resume", cfg->resume_path, "the checkpoint", READ},
        {"--save", cfg->save_path, "the checkpoint", REPLACED},
        {"--csv", cfg->csv_path, "the CSV file", APPENDED},
        {"--report", cfg->report_path, "the report", REPLACED},
        {"--keep-best", cfg->keep_best_path, "the best checkpoint", REPLACED},
        {"--tensorboard", cfg->tensorboard_dir, "the TensorBoard folder", FOLDER},
        {"--checkpoint", cfg->checkpoint_path, "the checkpoint", READ},
        {"--confusion", cfg->confusion_path, "the confusion matrix", REPLACED},
    };
    struct named_file given[MAX_FILES];
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i].path) given[n++] = all[i];
    /* first, so that no check below touches a file another option reads */
    if (check_distinct(given, n) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (given[i].use != READ && check_output(&given[i]) != 0) return -1;
    return 0;
}
