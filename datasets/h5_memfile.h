/* HDF5 files that are built in memory and reach the disk in one write of
 * their own (the writers of checkpoints and datasets use them).
 *
 * Why: when HDF5 itself writes to a full disk, H5Dclose and H5Fclose fail,
 * and HDF5 1.10 then frees the file while keeping its id; its exit-time
 * cleanup closes that id again and the process dies with SIGSEGV in
 * H5F__close_cb (fixed upstream after the 1.10 series by HDFGroup/hdf5 PR
 * #2291; h5py issue #914 meets it from Python). Built in memory, a file
 * cannot meet a full disk inside HDF5: the write that can fail is ours, it
 * reports errno, and the previous file stays in place. */
#ifndef BMST_H5_MEMFILE_H
#define BMST_H5_MEMFILE_H

#include <hdf5.h>
#include <stddef.h>

#include "atomic_file.h"

struct bmst_h5_memfile {
    hid_t file;           /* build the file through this id */
    unsigned char *image; /* HDF5's core driver keeps the file here; ours, so
                             it outlives H5Fclose and is written without a copy */
    size_t capacity;      /* bytes allocated at image */
};

/* An empty HDF5 file in memory, to be written to `out` (already open). 0, or
 * -1 with a message. m must stay where it is until it is saved or discarded
 * (HDF5 holds its address). */
int bmst_h5_memfile_create(struct bmst_h5_memfile *m, const struct bmst_atomic_file *out);
/* Closes the file and writes its bytes to `out`, committing it
 * (atomic_file.h); -1 with one message, the temporary file removed. */
int bmst_h5_memfile_save(struct bmst_h5_memfile *m, struct bmst_atomic_file *out);
/* The file could not be built: closes it and removes out's temporary file. */
void bmst_h5_memfile_discard(struct bmst_h5_memfile *m, struct bmst_atomic_file *out);

#endif
