/* Small HDF5 helpers for the dataset code: the check macro that turns a failed
 * call into one error line, the process-wide HDF5 lock, and typed attribute
 * reads and writes (strings fixed or variable length, ints, float arrays).
 * Private to datasets/. */
#ifndef BMST_H5UTIL_H
#define BMST_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

/* On a negative result: store "FILE: CALL failed (HDF5: detail) [src:line]"
 * and jump to the enclosing function's `fail` label, which releases handles. */
#define H5_TRY(call, file)                                                                         \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            h5_fail(file, #call, __FILE__, __LINE__);                                              \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Stores the message for H5_TRY, with the innermost HDF5 error description. */
void h5_fail(const char *file, const char *call, const char *src, int line);

/* A failed read, in words: stores "FILE: cannot read WHAT: WHY (HDF5:
 * detail)" with HDF5's innermost description; returns -1. */
int h5_read_error(const char *file, const char *what, const char *why);

/* The innermost description on this thread's HDF5 error stack, one line, in
 * buf[H5_DETAIL_BYTES]; clears the stack. */
#define H5_DETAIL_BYTES 200
const char *h5_detail(char *buf);

/* Closes any kind of HDF5 id if it is valid; safe on H5I_INVALID_HID. */
void h5_close(hid_t id);

/* Attribute reads: -1 with "FILE: attribute NAME ..." when missing or of the
 * wrong type. Strings may be stored fixed- or variable-length. */
int h5_read_string_attr(hid_t obj, const char *name, const char *file, char *buf, size_t cap);
int h5_read_int_attr(hid_t obj, const char *name, const char *file, long long *value);
int h5_read_float_array_attr(hid_t obj, const char *name, const char *file, float *values,
                             int count);
/* Reads a rank-1 string array attribute of exactly `count` entries into newly
 * allocated strings (*out[count], freed by the caller with free). */
int h5_read_string_array_attr(hid_t obj, const char *name, const char *file, int count,
                              char ***out);

/* Attribute writes: strings are variable-length UTF-8, as h5py writes them. */
int h5_write_string_attr(hid_t obj, const char *name, const char *file, const char *value);
int h5_write_int_attr(hid_t obj, const char *name, const char *file, int value);
int h5_write_float_array_attr(hid_t obj, const char *name, const char *file, const float *values,
                              int count);
int h5_write_string_array_attr(hid_t obj, const char *name, const char *file,
                               const char *const *values, int count);

#endif
