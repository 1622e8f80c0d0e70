/* Files replaced whole (checkpoints, datasets, the JSON report): written
 * under PATH.tmp.PID beside PATH, flushed to the disk, renamed over PATH, and
 * the rename flushed too, so PATH always holds the previous file or the new
 * one, whole, even after a crash, a kill or a full disk. Temporary files that
 * killed writers left behind are removed when the next writer of PATH starts. */
#ifndef BMST_ATOMIC_FILE_H
#define BMST_ATOMIC_FILE_H

#include <stddef.h>

struct bmst_atomic_file {
    const char *what; /* "the checkpoint": how error messages name the file */
    const char *name; /* the target as the user gave it, for messages */
    char path[4096];  /* the target; an existing symlink is written through */
    char tmp[4096];   /* path.tmp.PID */
    int fd;           /* the temporary file, open for writing; -1 when closed */
};

/* Removes the stale temporary files of PATH, then creates and locks this
 * process's own. Returns 0, or -1 with "cannot write WHAT PATH: REASON". */
int bmst_atomic_open(struct bmst_atomic_file *f, const char *path, const char *what);
/* Appends bytes to the temporary file; -1 with the reason (a full disk, ...). */
int bmst_atomic_write(struct bmst_atomic_file *f, const void *data, size_t bytes);
/* fsync, close, rename over the target, fsync the folder. On failure the
 * temporary file is removed and the target is left as it was. */
int bmst_atomic_commit(struct bmst_atomic_file *f);
/* Gives up: closes and removes the temporary file; the target is untouched. */
void bmst_atomic_abort(struct bmst_atomic_file *f);

#endif
