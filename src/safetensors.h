/* A reader of safetensors files, the format the model hubs serve: an 8-byte
 * little-endian header length, a JSON object naming each tensor's dtype,
 * shape and byte range (and an optional "__metadata__" of strings), then the
 * tensors' raw little-endian bytes. Everything the header says is checked
 * against the file before a byte of data is read, so a damaged or hand-made
 * file gives one message, never a read outside it. */
#ifndef BMST_SAFETENSORS_H
#define BMST_SAFETENSORS_H

#include <stdint.h>
#include <stdio.h>

enum bmst_st_dtype { BMST_ST_F32, BMST_ST_F16, BMST_ST_BF16, BMST_ST_I64 };

#define BMST_ST_MAX_DIMS 8

struct bmst_st_tensor {
    char *name;
    enum bmst_st_dtype dtype;
    int ndim;
    int64_t dims[BMST_ST_MAX_DIMS];
    uint64_t begin, end; /* byte range in the data section (after the header) */
};

struct bmst_safetensors {
    char *path;
    FILE *file;
    uint64_t data_start; /* 8 + the header's length */
    uint64_t data_size;  /* bytes after the header */
    struct bmst_st_tensor *tensors; /* in the header's order */
    int n_tensors;
};

/* Opens and checks `path`: 0, or -1 with one line naming the file and what
 * is wrong (truncated, a header length beyond the file, bad JSON, an unknown
 * dtype, a byte range outside the data, overlapping another or not the
 * size its dtype and shape need). */
int bmst_safetensors_open(const char *path, struct bmst_safetensors *st);
void bmst_safetensors_close(struct bmst_safetensors *st);

/* The index of tensor `name`, or -1. */
int bmst_safetensors_find(const struct bmst_safetensors *st, const char *name);
/* Elements of tensor i (the product of its dims; 1 for a scalar). */
uint64_t bmst_safetensors_count(const struct bmst_safetensors *st, int i);
/* Reads tensor i as float32 into out (count elements): F16 and BF16
 * widened exactly, I64 converted. 0, or -1 with a message. */
int bmst_safetensors_read_f32(const struct bmst_safetensors *st, int i, float *out);
/* "F32", "F16", "BF16", "I64" */
const char *bmst_safetensors_dtype_name(enum bmst_st_dtype dtype);

#endif
