/* HDF5 files in memory (HDF5's core driver, no backing store, its buffer
 * managed through file image callbacks), written to disk by our own code;
 * see h5_memfile.h for why. */
#include "h5_memfile.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5util.h"

/* How the core driver grows its buffer: large steps, few reallocations. */
#define MEMFILE_INCREMENT ((size_t)4 << 20)

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    struct bmst_h5_memfile *m = udata;
    void *grown = realloc(ptr, size);
    if (grown) {
        m->image = grown;
        m->capacity = size;
    }
    return grown;
}

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    return image_realloc(NULL, size, op, udata);
}

/* Closing the file hands its buffer back: kept, to be written out. */
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    (void)udata;
    if (op != H5FD_FILE_IMAGE_OP_FILE_CLOSE) free(ptr);
    return 0;
}

/* The property list's copies share the one buffer record. */
static void *udata_copy(void *udata) {
    return udata;
}

static herr_t udata_free(void *udata) {
    (void)udata;
    return 0;
}

int bmst_h5_memfile_create(struct bmst_h5_memfile *m, const struct bmst_atomic_file *out) {
    memset(m, 0, sizeof *m);
    H5FD_file_image_callbacks_t callbacks = {
        image_malloc, NULL, image_realloc, image_free, udata_copy, udata_free, m};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    m->file = fapl < 0 || H5Pset_fapl_core(fapl, MEMFILE_INCREMENT, 0) < 0 ||
                      H5Pset_file_image_callbacks(fapl, &callbacks) < 0
                  ? H5I_INVALID_HID
                  /* named after the empty temporary file: H5Fcreate first opens an
                   * existing file of that name to compare it with those open,
                   * and the core driver would read all of it into memory */
                  : H5Fcreate(out->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (m->file >= 0) return 0;
    char detail[H5_DETAIL_BYTES];
    return bmst_error("cannot write %s %s: HDF5 cannot create it in memory (%s)", out->what,
                      out->name, h5_detail(detail));
}

int bmst_h5_memfile_save(struct bmst_h5_memfile *m, struct bmst_atomic_file *out) {
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    /* the file's length is its end of allocated space, which closing can
     * only lower (it releases what was set aside and not used) */
    ssize_t length =
        H5Fflush(m->file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(m->file, NULL, 0);
    /* nothing here touches the disk, so closing cannot meet a full one */
    int closed = H5Fclose(m->file) >= 0;
    int status = 0;
    if (length < (ssize_t)sizeof signature || !closed || !m->image ||
        (size_t)length > m->capacity || memcmp(m->image, signature, sizeof signature) != 0) {
        char detail[H5_DETAIL_BYTES];
        status = bmst_error("cannot write %s %s: HDF5 could not complete it in memory (%s)",
                            out->what, out->name, h5_detail(detail));
    } else {
        status = bmst_atomic_write(out, m->image, (size_t)length);
    }
    free(m->image);
    m->image = NULL;
    if (status != 0) {
        bmst_atomic_abort(out);
        return -1;
    }
    return bmst_atomic_commit(out);
}

void bmst_h5_memfile_discard(struct bmst_h5_memfile *m, struct bmst_atomic_file *out) {
    if (m->file >= 0) H5Fclose(m->file);
    free(m->image);
    m->image = NULL;
    bmst_atomic_abort(out);
}
