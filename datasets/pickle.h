/* A reader for the data subset of Python's pickle format: enough to read the
 * Python release of CIFAR-10/100 (written by Python 2's cPickle, protocol 2)
 * and the same dictionaries pickled again by Python 3 (protocols 2 to 5),
 * without Python.
 *
 * It builds a tree of values and executes nothing: a class or function the
 * stream names (GLOBAL) stays a name, and calling it (REDUCE, NEWOBJ) or
 * setting its state (BUILD) is recorded on an object node for the caller to
 * interpret. So a hostile file can at most be refused, which Python's own
 * unpickler, which imports and calls what the file names, cannot promise.
 * The one call it evaluates is Python 3's spelling of bytes under protocol 2,
 * _codecs.encode(text, "latin1"), into the bytes it stands for. */
#ifndef BMST_PICKLE_H
#define BMST_PICKLE_H

#include <stddef.h>
#include <stdint.h>

enum bmst_pickle_kind {
    BMST_PICKLE_NONE,
    BMST_PICKLE_BOOL,
    BMST_PICKLE_INT,
    BMST_PICKLE_FLOAT,
    BMST_PICKLE_BYTES, /* bytes, and Python 2's str (which the release's keys are) */
    BMST_PICKLE_STR,   /* text, UTF-8 */
    BMST_PICKLE_LIST,
    BMST_PICKLE_TUPLE,
    BMST_PICKLE_DICT,   /* items alternate key, value */
    BMST_PICKLE_GLOBAL, /* a name: module and name in `text`, "module name" */
    BMST_PICKLE_OBJECT, /* callable(args), then state if BUILD set one */
};

struct bmst_pickle_value {
    enum bmst_pickle_kind kind;
    int64_t integer;     /* INT, BOOL */
    double real;         /* FLOAT */
    const uint8_t *data; /* BYTES, STR, GLOBAL: not NUL-terminated */
    size_t len;
    struct bmst_pickle_value **items; /* LIST, TUPLE, DICT */
    size_t n;
    struct bmst_pickle_value *callable, *args, *state; /* OBJECT */
};

struct bmst_pickle_node; /* the reader's allocations, freed together */

struct bmst_pickle {
    uint8_t *file; /* the whole file: BYTES and STR point into it */
    struct bmst_pickle_node *nodes;
    struct bmst_pickle_value *root;
};

/* Reads the pickle at `path` into p. On failure returns -1 with one error
 * message naming the file and the byte offset, and p holds nothing. */
int bmst_pickle_load(const char *path, struct bmst_pickle *p);
void bmst_pickle_free(struct bmst_pickle *p);

/* The value of a dictionary's key `key` (a BYTES or STR key equal to it), or
 * NULL. */
const struct bmst_pickle_value *bmst_pickle_get(const struct bmst_pickle_value *dict,
                                                const char *key);
/* A numpy uint8 matrix (C order) as numpy pickles it: its shape and its data
 * (inside the pickle's memory). NULL when it is one, else what it is not. */
const char *bmst_pickle_uint8_matrix(const struct bmst_pickle_value *v, size_t shape[2],
                                     const uint8_t **data);
/* 1 when v is text, bytes or a name ("module name") equal to s. */
int bmst_pickle_is(const struct bmst_pickle_value *v, const char *s);

#endif
