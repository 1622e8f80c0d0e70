/* HDF5 helpers shared by the dataset reader and writer: error text, the
 * process-wide lock, and attribute reads and writes with type checks. */
#include "h5util.h"

#include "dataset.h"
#include "error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t hdf5_mutex = PTHREAD_MUTEX_INITIALIZER;

void bmst_hdf5_lock(void) {
    pthread_mutex_lock(&hdf5_mutex);
    /* The automatic error printing is per thread in thread-safe builds, so it
     * is switched off by every thread that is about to call HDF5. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void bmst_hdf5_unlock(void) {
    pthread_mutex_unlock(&hdf5_mutex);
}

/* H5E_WALK_UPWARD visits the most specific entry first; keep that one. */
static herr_t first_error(unsigned n, const H5E_error2_t *err, void *data) {
    char *buf = data;
    if (n == 0 && err->desc) snprintf(buf, H5_DETAIL_BYTES, "%s", err->desc);
    return 0;
}

const char *h5_detail(char *buf) {
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (!buf[0]) snprintf(buf, H5_DETAIL_BYTES, "no detail");
    return buf;
}

void h5_fail(const char *file, const char *call, const char *src, int line) {
    char detail[H5_DETAIL_BYTES];
    const char *base = strrchr(src, '/');
    bmst_error("%s: %s failed (HDF5: %s) [%s:%d]", file, call, h5_detail(detail),
               base ? base + 1 : src, line);
}

int h5_read_error(const char *file, const char *what, const char *why) {
    char detail[H5_DETAIL_BYTES];
    return bmst_error("%s: cannot read %s: %s (HDF5: %s)", file, what, why, h5_detail(detail));
}

void h5_close(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE:
        H5Fclose(id);
        break;
    case H5I_GROUP:
        H5Gclose(id);
        break;
    case H5I_DATASET:
        H5Dclose(id);
        break;
    case H5I_ATTR:
        H5Aclose(id);
        break;
    case H5I_DATATYPE:
        H5Tclose(id);
        break;
    case H5I_DATASPACE:
        H5Sclose(id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(id);
        break;
    default:
        break;
    }
}

/* Opens attribute `name` and checks its type class and element count
 * (count < 0: scalar or one element). */
static hid_t open_attr(hid_t obj, const char *name, const char *file, H5T_class_t cls,
                       const char *what, hssize_t count, hid_t *type) {
    htri_t exists = H5Aexists(obj, name);
    if (exists <= 0) {
        bmst_error("%s: missing attribute '%s'", file, name);
        return H5I_INVALID_HID;
    }
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t space = attr < 0 ? H5I_INVALID_HID : H5Aget_space(attr);
    *type = attr < 0 ? H5I_INVALID_HID : H5Aget_type(attr);
    if (attr < 0 || space < 0 || *type < 0) {
        char what[96];
        snprintf(what, sizeof what, "attribute '%s'", name);
        h5_read_error(file, what, "the file is damaged");
        goto fail;
    }
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rank = H5Sget_simple_extent_ndims(space);
    if (H5Tget_class(*type) != cls) {
        bmst_error("%s: attribute '%s' must be %s", file, name, what);
        goto fail;
    }
    if (count < 0 ? n != 1 : (rank != 1 || n != count)) {
        if (count < 0)
            bmst_error("%s: attribute '%s' must be a single value, has %lld", file, name,
                       (long long)n);
        else
            bmst_error("%s: attribute '%s' must have %lld entries, has %lld", file, name,
                       (long long)count, (long long)n);
        goto fail;
    }
    H5Sclose(space);
    return attr;
fail:
    h5_close(space);
    h5_close(*type);
    h5_close(attr);
    *type = H5I_INVALID_HID;
    return H5I_INVALID_HID;
}

/* Reads `count` strings of an open string attribute into fresh allocations. */
static int read_strings(hid_t attr, hid_t ftype, const char *name, const char *file, int count,
                        char **out) {
    hid_t mtype = H5Tcopy(H5T_C_S1);
    char **vlen = NULL;
    char *fixed = NULL;
    int ok = 0;
    if (mtype < 0) goto done;
    /* HDF5 does not convert between character sets, so read in the file's own */
    H5T_cset_t cset = H5Tget_cset(ftype);
    if (cset < 0 || H5Tset_cset(mtype, cset) < 0) goto done;
    if (H5Tis_variable_str(ftype) > 0) {
        vlen = calloc((size_t)count, sizeof *vlen);
        if (!vlen || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, vlen) < 0)
            goto done;
        for (int i = 0; i < count; i++)
            out[i] = strdup(vlen[i] ? vlen[i] : "");
        for (int i = 0; i < count; i++)
            H5free_memory(vlen[i]);
    } else {
        size_t size = H5Tget_size(ftype);
        fixed = calloc((size_t)count, size + 1);
        if (!fixed || size == 0 || H5Tset_size(mtype, size + 1) < 0 ||
            H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0 || H5Aread(attr, mtype, fixed) < 0)
            goto done;
        for (int i = 0; i < count; i++)
            out[i] = strdup(fixed + (size_t)i * (size + 1));
    }
    ok = 1;
    for (int i = 0; i < count; i++)
        ok = ok && out[i];
done:
    free(vlen);
    free(fixed);
    h5_close(mtype);
    if (!ok) {
        for (int i = 0; i < count; i++)
            free(out[i]), out[i] = NULL;
        char what[96];
        snprintf(what, sizeof what, "string attribute '%s'", name);
        return h5_read_error(file, what, "the file is damaged or the strings are malformed");
    }
    return 0;
}

int h5_read_string_attr(hid_t obj, const char *name, const char *file, char *buf, size_t cap) {
    hid_t type;
    hid_t attr = open_attr(obj, name, file, H5T_STRING, "a string", -1, &type);
    if (attr < 0) return -1;
    char *value = NULL;
    int rc = read_strings(attr, type, name, file, 1, &value);
    h5_close(type);
    h5_close(attr);
    if (rc != 0) return -1;
    if (strlen(value) >= cap) {
        free(value);
        return bmst_error("%s: attribute '%s' is longer than %zu bytes", file, name, cap - 1);
    }
    snprintf(buf, cap, "%s", value);
    free(value);
    return 0;
}

int h5_read_string_array_attr(hid_t obj, const char *name, const char *file, int count,
                              char ***out) {
    hid_t type;
    hid_t attr = open_attr(obj, name, file, H5T_STRING, "an array of strings", count, &type);
    if (attr < 0) return -1;
    char **values = calloc((size_t)count, sizeof *values);
    int rc = values ? read_strings(attr, type, name, file, count, values)
                    : bmst_error("%s: out of memory reading '%s'", file, name);
    h5_close(type);
    h5_close(attr);
    if (rc != 0) {
        free(values);
        return -1;
    }
    *out = values;
    return 0;
}

/* Reads an open numeric attribute into `mtype`, converting. */
static int read_numbers(hid_t attr, hid_t mtype, const char *name, const char *file, void *out) {
    if (H5Aread(attr, mtype, out) >= 0) return 0;
    char what[96];
    snprintf(what, sizeof what, "attribute '%s'", name);
    return h5_read_error(file, what, "its values do not convert or the file is damaged");
}

int h5_read_int_attr(hid_t obj, const char *name, const char *file, long long *value) {
    hid_t type;
    hid_t attr = open_attr(obj, name, file, H5T_INTEGER, "an integer", -1, &type);
    if (attr < 0) return -1;
    int rc = read_numbers(attr, H5T_NATIVE_LLONG, name, file, value);
    h5_close(type);
    h5_close(attr);
    return rc;
}

int h5_read_float_array_attr(hid_t obj, const char *name, const char *file, float *values,
                             int count) {
    hid_t type;
    hid_t attr = open_attr(obj, name, file, H5T_FLOAT, "floating point", count, &type);
    if (attr < 0) return -1;
    int rc = read_numbers(attr, H5T_NATIVE_FLOAT, name, file, values);
    h5_close(type);
    h5_close(attr);
    return rc;
}

/* Creates attribute `name` of `mtype` over `space` and writes `data`. */
static int write_attr(hid_t obj, const char *name, const char *file, hid_t ftype, hid_t mtype,
                      hid_t space, const void *data) {
    hid_t attr = H5I_INVALID_HID;
    int rc = 0;
    H5_TRY(space, file);
    H5_TRY(attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), file);
    H5_TRY(H5Awrite(attr, mtype, data), file);
    goto done;
fail:
    rc = -1;
done:
    h5_close(attr);
    h5_close(space);
    return rc;
}

int h5_write_int_attr(hid_t obj, const char *name, const char *file, int value) {
    return write_attr(obj, name, file, H5T_STD_I32LE, H5T_NATIVE_INT, H5Screate(H5S_SCALAR),
                      &value);
}

int h5_write_float_array_attr(hid_t obj, const char *name, const char *file, const float *values,
                              int count) {
    hsize_t dims[1] = {(hsize_t)count};
    return write_attr(obj, name, file, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                      H5Screate_simple(1, dims, NULL), values);
}

static hid_t utf8_vlen_type(void) {
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return type;
    if (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0) {
        H5Tclose(type);
        return H5I_INVALID_HID;
    }
    return type;
}

int h5_write_string_attr(hid_t obj, const char *name, const char *file, const char *value) {
    hid_t type = H5I_INVALID_HID;
    H5_TRY(type = utf8_vlen_type(), file);
    int rc = write_attr(obj, name, file, type, type, H5Screate(H5S_SCALAR), &value);
    H5Tclose(type);
    return rc;
fail:
    return -1;
}

int h5_write_string_array_attr(hid_t obj, const char *name, const char *file,
                               const char *const *values, int count) {
    hid_t type = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)count};
    H5_TRY(type = utf8_vlen_type(), file);
    int rc = write_attr(obj, name, file, type, type, H5Screate_simple(1, dims, NULL), values);
    H5Tclose(type);
    return rc;
fail:
    return -1;
}
