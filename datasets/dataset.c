/* Opening, validating and reading dataset files (docs/dataset-format.md).
 * Every check names the file and the problem in one line; labels are read and
 * range-checked at open, images on demand. */
#include "dataset.h"

#include "error.h"
#include "h5util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Images are read by sorted runs through a chunk cache big enough that the
 * chunks of one batch stay resident while its runs are gathered. */
#define CHUNK_CACHE_BYTES ((size_t)32 << 20)
#define CHUNK_CACHE_SLOTS 12421 /* a prime well above the chunks that fit */

static const char *split_names[BMST_SPLIT_COUNT] = {"train", "test", "val"};

struct split_data {
    hid_t images;    /* the open /SPLIT/images dataset */
    int32_t *labels; /* [count], validated at open */
    uint8_t *cache;  /* [count * h * w * c] once the whole split is loaded, else NULL */
};

/* A requested sample: its index in the split and its place in the output. */
struct request {
    uint32_t index;
    uint32_t slot;
};

struct bmst_dataset {
    char *path;
    hid_t file;
    struct bmst_dataset_info info;
    char **class_names; /* [classes], or NULL when the file has none */
    struct split_data split[BMST_SPLIT_COUNT];
    size_t cache_limit;
    struct request *requests; /* scratch for uncached reads, grown as needed */
    uint8_t *run;
    size_t scratch_count;
};

/* Why /SPLIT/NAME cannot be opened as a dataset, in words. */
static void cannot_open(const struct bmst_dataset *ds, const char *where) {
    char detail[H5_DETAIL_BYTES];
    h5_detail(detail);
    hid_t obj = H5Oopen(ds->file, where, H5P_DEFAULT);
    H5I_type_t kind = obj < 0 ? H5I_BADID : H5Iget_type(obj);
    h5_close(obj);
    H5Eclear2(H5E_DEFAULT);
    if (kind == H5I_GROUP)
        bmst_error("%s: %s is a group, where the format has a dataset (docs/dataset-format.md)",
                   ds->path, where);
    else
        bmst_error("%s: cannot open %s: the file is damaged (HDF5: %s)", ds->path, where, detail);
}

/* Compression this HDF5 library cannot undo (h5py's lzf, a plugin that is
 * not installed) would fail the first read; say so when the file is opened. */
static int check_filters(const struct bmst_dataset *ds, hid_t dset, const char *where) {
    hid_t dcpl = H5Dget_create_plist(dset);
    if (dcpl < 0) return h5_read_error(ds->path, where, "the file is damaged");
    int n = H5Pget_nfilters(dcpl), rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        unsigned flags, config;
        size_t values = 0;
        char name[64] = "";
        H5Z_filter_t id =
            H5Pget_filter2(dcpl, (unsigned)i, &flags, &values, NULL, sizeof name, name, &config);
        if (id < 0)
            rc = h5_read_error(ds->path, where, "its compression settings are damaged");
        else if (H5Zfilter_avail(id) <= 0)
            rc = bmst_error("%s: %s is compressed with the '%s' filter (HDF5 filter %d), which "
                            "this HDF5 library cannot decode: rewrite the file with gzip or "
                            "without compression (h5repack -f NONE IN OUT)",
                            ds->path, where, name[0] ? name : "unnamed", (int)id);
    }
    H5Pclose(dcpl);
    H5Eclear2(H5E_DEFAULT); /* looking for a missing filter's plugin leaves errors */
    return rc;
}

/* Opens /SPLIT/NAME and checks its integer type, rank and compression. */
static hid_t open_array(struct bmst_dataset *ds, int s, const char *name, size_t bytes,
                        H5T_sign_t sign, int rank, const char *what, hsize_t *dims) {
    char where[32];
    snprintf(where, sizeof where, "/%s/%s", split_names[s], name);
    if (H5Lexists(ds->file, where, H5P_DEFAULT) <= 0) {
        bmst_error("%s: missing dataset %s", ds->path, where);
        return H5I_INVALID_HID;
    }
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t dset = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    if (dapl < 0 || H5Pset_chunk_cache(dapl, CHUNK_CACHE_SLOTS, CHUNK_CACHE_BYTES, 1.0) < 0) {
        h5_read_error(ds->path, where, "HDF5 cannot set up the read");
        goto fail;
    }
    dset = H5Dopen2(ds->file, where, dapl);
    if (dset < 0) {
        cannot_open(ds, where);
        goto fail;
    }
    type = H5Dget_type(dset);
    space = type < 0 ? H5I_INVALID_HID : H5Dget_space(dset);
    if (space < 0) {
        h5_read_error(ds->path, where, "the file is damaged");
        goto fail;
    }
    if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != bytes ||
        H5Tget_sign(type) != sign || H5Sget_simple_extent_ndims(space) != rank) {
        bmst_error("%s: %s must be %s", ds->path, where, what);
        goto fail;
    }
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        h5_read_error(ds->path, where, "the file is damaged");
        goto fail;
    }
    if (check_filters(ds, dset, where) != 0) goto fail;
    H5Pclose(dapl);
    H5Tclose(type);
    H5Sclose(space);
    return dset;
fail:
    h5_close(dapl);
    h5_close(type);
    h5_close(space);
    h5_close(dset);
    return H5I_INVALID_HID;
}

/* Opens split `s`: images and labels, shapes against the other split, labels in range. */
static int open_split(struct bmst_dataset *ds, int s) {
    struct bmst_dataset_info *in = &ds->info;
    const char *name = split_names[s];
    hsize_t idims[4], ldims[1];
    hid_t labels = H5I_INVALID_HID;
    if (H5Lexists(ds->file, name, H5P_DEFAULT) <= 0)
        return bmst_error("%s: missing group /%s", ds->path, name);
    ds->split[s].images =
        open_array(ds, s, "images", 1, H5T_SGN_NONE, 4, "uint8 of rank 4 [N, H, W, C]", idims);
    if (ds->split[s].images < 0) return -1;
    labels = open_array(ds, s, "labels", 4, H5T_SGN_2, 1, "int32 of rank 1 [N]", ldims);
    if (labels < 0) return -1;
    if (idims[0] == 0 || idims[0] > UINT32_MAX) {
        bmst_error("%s: /%s/images has %llu samples (need 1 to 2^32-1)", ds->path, name,
                   (unsigned long long)idims[0]);
        goto fail;
    }
    if (ldims[0] != idims[0]) {
        bmst_error("%s: /%s has %llu images but %llu labels", ds->path, name,
                   (unsigned long long)idims[0], (unsigned long long)ldims[0]);
        goto fail;
    }
    if (s == BMST_SPLIT_TRAIN) {
        if (idims[1] == 0 || idims[2] == 0 || idims[1] > BMST_MAX_SIDE || idims[2] > BMST_MAX_SIDE ||
            idims[3] == 0 || idims[3] > BMST_MAX_CHANNELS) {
            bmst_error("%s: image shape %llux%llux%llu not supported (H, W 1..%d, C 1..%d)",
                       ds->path, (unsigned long long)idims[1], (unsigned long long)idims[2],
                       (unsigned long long)idims[3], BMST_MAX_SIDE, BMST_MAX_CHANNELS);
            goto fail;
        }
        in->h = (int)idims[1];
        in->w = (int)idims[2];
        in->c = (int)idims[3];
    } else if (idims[1] != (hsize_t)in->h || idims[2] != (hsize_t)in->w ||
               idims[3] != (hsize_t)in->c) {
        bmst_error("%s: %s images are %llux%llux%llu but train images are %dx%dx%d", ds->path,
                   name, (unsigned long long)idims[1], (unsigned long long)idims[2],
                   (unsigned long long)idims[3], in->h, in->w, in->c);
        goto fail;
    }
    in->count[s] = (size_t)idims[0];
    ds->split[s].labels = malloc(in->count[s] * sizeof(int32_t));
    if (!ds->split[s].labels) {
        bmst_error("%s: out of memory for %zu labels", ds->path, in->count[s]);
        goto fail;
    }
    if (H5Dread(labels, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds->split[s].labels) < 0) {
        char what[32];
        snprintf(what, sizeof what, "/%s/labels", name);
        h5_read_error(ds->path, what, "the file is damaged or truncated");
        goto fail;
    }
    for (size_t i = 0; i < in->count[s]; i++) {
        int32_t v = ds->split[s].labels[i];
        if (v < 0 || v >= in->classes) {
            bmst_error("%s: /%s/labels[%zu] = %d is outside [0, %d)", ds->path, name, i, (int)v,
                       in->classes);
            goto fail;
        }
    }
    H5Dclose(labels);
    return 0;
fail:
    h5_close(labels);
    return -1;
}

/* The root attributes: format, version, name, classes, class_names, mean, std
 * (mean and std after the splits, which give C). */
static int read_root_attrs(struct bmst_dataset *ds) {
    char format[32];
    long long version, classes;
    if (h5_read_string_attr(ds->file, "format", ds->path, format, sizeof format) != 0) return -1;
    if (strcmp(format, "bmst_dataset") != 0)
        return bmst_error("%s: format attribute is '%s', expected 'bmst_dataset'", ds->path,
                          format);
    if (h5_read_int_attr(ds->file, "version", ds->path, &version) != 0) return -1;
    if (version != 1)
        return bmst_error("%s: format version %lld is not supported (this build reads 1)", ds->path,
                          version);
    if (h5_read_string_attr(ds->file, "name", ds->path, ds->info.name, sizeof ds->info.name) != 0)
        return -1;
    if (h5_read_int_attr(ds->file, "classes", ds->path, &classes) != 0) return -1;
    if (classes <= 0 || classes > BMST_MAX_CLASSES)
        return bmst_error("%s: classes = %lld is outside 1..%d", ds->path, classes,
                          BMST_MAX_CLASSES);
    ds->info.classes = (int)classes;
    htri_t has_names = H5Aexists(ds->file, "class_names");
    if (has_names < 0) return bmst_error("%s: cannot check attribute 'class_names'", ds->path);
    if (has_names && h5_read_string_array_attr(ds->file, "class_names", ds->path, ds->info.classes,
                                               &ds->class_names) != 0)
        return -1;
    return 0;
}

static int open_file(struct bmst_dataset *ds) {
    struct stat st;
    FILE *probe = fopen(ds->path, "rb");
    if (!probe) return bmst_error("%s: %s", ds->path, strerror(errno));
    int is_dir = fstat(fileno(probe), &st) == 0 && S_ISDIR(st.st_mode);
    fclose(probe);
    if (is_dir) return bmst_error("%s: is a directory, not a dataset file", ds->path);
    htri_t is_hdf5 = H5Fis_hdf5(ds->path);
    if (is_hdf5 <= 0) return bmst_error("%s: not an HDF5 file", ds->path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* Closing the file then closes every object still open in it. Every
     * rank only reads the dataset, so HDF5's file lock protects nothing
     * here, and on shared file systems without working flock (NFS, some
     * Lustre mounts) taking it fails or hangs. It is off for datasets unless
     * HDF5_USE_FILE_LOCKING says otherwise (HDF5 lets that variable win). */
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_file_locking(fapl, 0, 1) < 0) {
        h5_read_error(ds->path, "the file", "HDF5 cannot set up the read");
        goto fail;
    }
    ds->file = H5Fopen(ds->path, H5F_ACC_RDONLY, fapl);
    if (ds->file < 0) {
        char detail[H5_DETAIL_BYTES];
        bmst_error("%s: cannot open: truncated or corrupt HDF5 file (HDF5: %s)", ds->path,
                   h5_detail(detail));
        goto fail;
    }
    H5Pclose(fapl);
    if (read_root_attrs(ds) != 0) return -1;
    for (int s = 0; s < BMST_SPLIT_COUNT; s++)
        if ((s != BMST_SPLIT_VAL || H5Lexists(ds->file, split_names[s], H5P_DEFAULT) > 0) &&
            open_split(ds, s) != 0)
            return -1;
    if (h5_read_float_array_attr(ds->file, "mean", ds->path, ds->info.mean, ds->info.c) != 0 ||
        h5_read_float_array_attr(ds->file, "std", ds->path, ds->info.std, ds->info.c) != 0)
        return -1;
    /* std 0 is a constant channel, which is only centred (dataset-format.md) */
    for (int c = 0; c < ds->info.c; c++)
        if (!isfinite(ds->info.mean[c]) || !isfinite(ds->info.std[c]) || ds->info.std[c] < 0.0f)
            return bmst_error("%s: channel %d has mean %g and std %g (expected finite numbers, "
                              "std 0 or more)",
                              ds->path, c, ds->info.mean[c], ds->info.std[c]);
    return 0;
fail:
    h5_close(fapl);
    return -1;
}

int bmst_dataset_open(const char *path, struct bmst_dataset **out) {
    struct bmst_dataset *ds = bmst_xcalloc(1, sizeof *ds);
    ds->path = strdup(path);
    ds->file = H5I_INVALID_HID;
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) ds->split[s].images = H5I_INVALID_HID;
    ds->cache_limit = BMST_DATASET_CACHE_BYTES;
    BMST_ASSERT(ds->path);
    bmst_hdf5_lock();
    int rc = open_file(ds);
    bmst_hdf5_unlock();
    if (rc != 0) {
        bmst_dataset_close(ds);
        return -1;
    }
    *out = ds;
    return 0;
}

void bmst_dataset_close(struct bmst_dataset *ds) {
    if (!ds) return;
    bmst_hdf5_lock();
    for (int s = 0; s < BMST_SPLIT_COUNT; s++)
        h5_close(ds->split[s].images);
    h5_close(ds->file);
    bmst_hdf5_unlock();
    for (int s = 0; s < BMST_SPLIT_COUNT; s++) {
        free(ds->split[s].labels);
        free(ds->split[s].cache);
    }
    if (ds->class_names)
        for (int i = 0; i < ds->info.classes; i++)
            free(ds->class_names[i]);
    free(ds->class_names);
    free(ds->requests);
    free(ds->run);
    free(ds->path);
    free(ds);
}

const struct bmst_dataset_info *bmst_dataset_get_info(const struct bmst_dataset *ds) {
    return &ds->info;
}

const char *bmst_dataset_class_name(const struct bmst_dataset *ds, int label) {
    if (!ds->class_names || label < 0 || label >= ds->info.classes) return "";
    return ds->class_names[label];
}

void bmst_dataset_set_cache_limit(struct bmst_dataset *ds, size_t bytes) {
    ds->cache_limit = bytes;
}

/* Reads images [first, first + n) of split `s` into dst. */
static int read_range(struct bmst_dataset *ds, int s, size_t first, size_t n, uint8_t *dst) {
    const struct bmst_dataset_info *in = &ds->info;
    hsize_t start[4] = {first, 0, 0, 0}, count[4] = {n, in->h, in->w, in->c};
    hid_t fspace = H5Dget_space(ds->split[s].images), mspace = H5I_INVALID_HID;
    int rc = 0;
    if (fspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (mspace = H5Screate_simple(4, count, NULL)) < 0 ||
        H5Dread(ds->split[s].images, H5T_NATIVE_UINT8, mspace, fspace, H5P_DEFAULT, dst) < 0) {
        char what[96];
        snprintf(what, sizeof what, "images %zu..%zu of /%s/images", first, first + n - 1,
                 split_names[s]);
        rc = h5_read_error(ds->path, what, "the file is damaged or truncated");
    }
    h5_close(fspace);
    h5_close(mspace);
    return rc;
}

static int by_index(const void *a, const void *b) {
    uint32_t x = ((const struct request *)a)->index, y = ((const struct request *)b)->index;
    return (x > y) - (x < y);
}

/* Uncached read: sorts the requests and reads each run of consecutive indices
 * with one hyperslab, so a sequential batch is one HDF5 call. */
static int read_runs(struct bmst_dataset *ds, int s, const uint32_t *indices, size_t count,
                     uint8_t *images) {
    size_t image_bytes = (size_t)ds->info.h * ds->info.w * ds->info.c;
    if (count > ds->scratch_count) {
        free(ds->requests);
        free(ds->run);
        ds->requests = bmst_xmalloc(count * sizeof *ds->requests);
        ds->run = bmst_xmalloc(count * image_bytes);
        ds->scratch_count = count;
    }
    for (size_t i = 0; i < count; i++)
        ds->requests[i] = (struct request){indices[i], (uint32_t)i};
    qsort(ds->requests, count, sizeof *ds->requests, by_index);
    for (size_t i = 0; i < count;) {
        size_t j = i + 1; /* extend while the next index is the same or one more */
        while (j < count && ds->requests[j].index - ds->requests[j - 1].index <= 1)
            j++;
        uint32_t first = ds->requests[i].index;
        size_t n = ds->requests[j - 1].index - first + 1;
        if (read_range(ds, s, first, n, ds->run) != 0) return -1;
        for (size_t k = i; k < j; k++)
            memcpy(images + ds->requests[k].slot * image_bytes,
                   ds->run + (ds->requests[k].index - first) * image_bytes, image_bytes);
        i = j;
    }
    return 0;
}

/* Reads the whole split into memory when it fits under the cache limit. */
static int load_cache(struct bmst_dataset *ds, int s) {
    size_t bytes = ds->info.count[s] * ds->info.h * ds->info.w * ds->info.c;
    if (ds->split[s].cache || bytes > ds->cache_limit) return 0;
    uint8_t *cache = malloc(bytes);
    if (!cache) return 0; /* not fatal: fall back to reading runs */
    if (read_range(ds, s, 0, ds->info.count[s], cache) != 0) {
        free(cache);
        return -1;
    }
    ds->split[s].cache = cache;
    return 0;
}

int bmst_dataset_read(struct bmst_dataset *ds, enum bmst_split split, const uint32_t *indices,
                      size_t count, uint8_t *images, int32_t *labels) {
    int s = (int)split;
    size_t n = ds->info.count[s], image_bytes = (size_t)ds->info.h * ds->info.w * ds->info.c;
    for (size_t i = 0; i < count; i++)
        if (indices[i] >= n)
            return bmst_error("%s: %s index %u is out of range (%zu samples)", ds->path,
                              split_names[s], (unsigned)indices[i], n);
    if (labels)
        for (size_t i = 0; i < count; i++)
            labels[i] = ds->split[s].labels[indices[i]];
    if (!images || count == 0) return 0;
    bmst_hdf5_lock();
    int rc = load_cache(ds, s);
    if (rc == 0 && ds->split[s].cache)
        for (size_t i = 0; i < count; i++)
            memcpy(images + i * image_bytes, ds->split[s].cache + indices[i] * image_bytes,
                   image_bytes);
    else if (rc == 0)
        rc = read_runs(ds, s, indices, count, images);
    bmst_hdf5_unlock();
    return rc;
}
