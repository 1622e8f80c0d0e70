/* The pruning mask in a checkpoint (checkpoint_prune.h): uint32 words, bit
 * i % 32 of word i / 32 for weight i of the engine's flat buffer, 1: kept. */
#include "checkpoint_prune.h"

#include "checkpoint_tensors.h"
#include "error.h"

#define PRUNE_MASK "prune_mask"

int bmst_ckpt_prune_write(hid_t file, const uint32_t *mask, size_t words) {
    hsize_t n = words;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t set = space < 0 ? -1
                          : H5Dcreate2(file, PRUNE_MASK, H5T_STD_U32LE, space, H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT);
    int ok = set >= 0 && H5Dwrite(set, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask) >= 0;
    if (set >= 0) H5Dclose(set);
    if (space >= 0) H5Sclose(space);
    return ok ? 0 : -1;
}

int bmst_ckpt_prune_present(hid_t file) {
    return H5Lexists(file, PRUNE_MASK, H5P_DEFAULT) > 0;
}

int bmst_ckpt_prune_read(hid_t file, const char *path, uint32_t *mask, size_t words) {
    hid_t set = H5Dopen2(file, PRUNE_MASK, H5P_DEFAULT);
    hid_t space = set >= 0 ? H5Dget_space(set) : -1;
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int ok = points == (hssize_t)words &&
             H5Dread(set, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask) >= 0;
    if (space >= 0) H5Sclose(space);
    if (set >= 0) H5Dclose(set);
    if (ok) return 0;
    return bmst_error("checkpoint %s is damaged or not ours: its /%s is not %zu words", path,
                      PRUNE_MASK, words);
}

int bmst_ckpt_prune_write_record(hid_t file, const struct bmst_checkpoint_meta *meta) {
    return bmst_ckpt_write_attr(file, "prune_to", H5T_NATIVE_FLOAT, &meta->prune_to) == 0 &&
                   bmst_ckpt_write_attr(file, "prune_start", H5T_NATIVE_FLOAT,
                                        &meta->prune_start) == 0 &&
                   bmst_ckpt_write_attr(file, "prune_end", H5T_NATIVE_FLOAT, &meta->prune_end) ==
                       0 &&
                   bmst_ckpt_write_attr(file, "prune_every", H5T_NATIVE_INT, &meta->prune_every) ==
                       0 &&
                   bmst_ckpt_write_string_attr(file, "prune_scope", meta->prune_scope) == 0
               ? 0
               : -1;
}

int bmst_ckpt_prune_read_record(hid_t file, const char *path, struct bmst_checkpoint_meta *meta) {
    if (H5Aexists(file, "prune_to") <= 0) return 0;
    if (bmst_ckpt_read_attr(file, path, "", "prune_to", H5T_NATIVE_FLOAT, &meta->prune_to) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "prune_start", H5T_NATIVE_FLOAT, &meta->prune_start) !=
            0 ||
        bmst_ckpt_read_attr(file, path, "", "prune_end", H5T_NATIVE_FLOAT, &meta->prune_end) != 0 ||
        bmst_ckpt_read_attr(file, path, "", "prune_every", H5T_NATIVE_INT, &meta->prune_every) !=
            0 ||
        bmst_ckpt_read_string_attr(file, path, "", "prune_scope", meta->prune_scope,
                                   sizeof meta->prune_scope) != 0)
        return -1;
    meta->has_prune_record = 1;
    return 0;
}
