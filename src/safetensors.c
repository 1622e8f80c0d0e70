/* safetensors reading (safetensors.h): a small JSON parser of our own for
 * the header, which holds only objects, arrays, strings and integers, and
 * the checks that keep every later read inside the file. */
#include "safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* The format's own bound (the safetensors package refuses larger headers):
 * a length beyond it is a damaged file, not a reason to allocate that much. */
#define MAX_HEADER_BYTES (100u << 20)
#define MAX_DEPTH 64 /* nesting inside __metadata__ that a skip follows */

/* ---- the JSON header ---- */

struct json {
    const char *path;
    const char *text;
    size_t len, pos;
};

static int json_fail(struct json *j, const char *what) {
    return bmst_error("%s is not a safetensors file: its header is not the JSON it should be "
                      "(%s at byte %zu of %zu)",
                      j->path, what, j->pos, j->len);
}

static void skip_space(struct json *j) {
    while (j->pos < j->len && strchr(" \t\r\n", j->text[j->pos]) && j->text[j->pos])
        j->pos++;
}

/* Consumes character c (after white space): 0, or -1 with a message. */
static int expect(struct json *j, char c) {
    skip_space(j);
    if (j->pos >= j->len || j->text[j->pos] != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return json_fail(j, what);
    }
    j->pos++;
    return 0;
}

/* Consumes c when it comes next: 1, else 0. */
static int accept(struct json *j, char c) {
    skip_space(j);
    if (j->pos < j->len && j->text[j->pos] == c) {
        j->pos++;
        return 1;
    }
    return 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits of a \u escape. */
static long read_hex4(struct json *j) {
    if (j->len - j->pos < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(j->text[j->pos + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    j->pos += 4;
    return v;
}

static size_t put_utf8(char *out, unsigned long cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string, its escapes decoded, into a fresh allocation (*out; NULL to
 * skip it). An escape never makes the text longer, so len bytes suffice. */
static int read_string(struct json *j, char **out) {
    if (expect(j, '"') != 0) return -1;
    char *s = out ? bmst_xmalloc(j->len - j->pos + 1) : NULL;
    size_t n = 0;
    for (;;) {
        if (j->pos >= j->len) {
            free(s);
            return json_fail(j, "a string without its closing quote");
        }
        unsigned char c = (unsigned char)j->text[j->pos++];
        if (c == '"') break;
        if (c < 0x20) {
            free(s);
            return json_fail(j, "a control character inside a string");
        }
        if (c != '\\') {
            if (s) s[n++] = (char)c;
            continue;
        }
        char e = j->pos < j->len ? j->text[j->pos++] : 0;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *at = e ? strchr(from, e) : NULL;
        if (at) {
            if (s) s[n++] = to[at - from];
            continue;
        }
        long cp = e == 'u' ? read_hex4(j) : -1;
        /* a surrogate pair: \uD83D\uDE00 */
        if (cp >= 0xD800 && cp < 0xDC00 && j->len - j->pos >= 6 && j->text[j->pos] == '\\' &&
            j->text[j->pos + 1] == 'u') {
            j->pos += 2;
            long low = read_hex4(j);
            cp = low >= 0xDC00 && low < 0xE000 ? 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                                                : -1;
        }
        if (cp < 0 || (cp >= 0xD800 && cp < 0xE000)) {
            free(s);
            return json_fail(j, "a bad escape inside a string");
        }
        if (s) n += put_utf8(s + n, (unsigned long)cp);
    }
    if (s) {
        s[n] = 0;
        *out = s;
    }
    return 0;
}

/* A non-negative integer that fits 63 bits (shapes and byte offsets). */
static int read_count(struct json *j, int64_t *out) {
    skip_space(j);
    size_t start = j->pos;
    uint64_t v = 0;
    while (j->pos < j->len && j->text[j->pos] >= '0' && j->text[j->pos] <= '9') {
        unsigned d = (unsigned)(j->text[j->pos++] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10) return json_fail(j, "an integer too large");
        v = v * 10 + d;
    }
    if (j->pos == start || (j->pos < j->len && strchr(".eE", j->text[j->pos])))
        return json_fail(j, "expected a non-negative integer");
    *out = (int64_t)v;
    return 0;
}

/* Skips any value (numbers, literals, nested arrays and objects). */
static int skip_value(struct json *j, int depth) {
    skip_space(j);
    if (depth > MAX_DEPTH) return json_fail(j, "nesting too deep");
    if (j->pos >= j->len) return json_fail(j, "expected a value");
    char c = j->text[j->pos];
    if (c == '"') return read_string(j, NULL);
    if (c == '{' || c == '[') {
        j->pos++;
        char close = c == '{' ? '}' : ']';
        if (accept(j, close)) return 0;
        do {
            if (c == '{' && (read_string(j, NULL) != 0 || expect(j, ':') != 0)) return -1;
            if (skip_value(j, depth + 1) != 0) return -1;
        } while (accept(j, ','));
        return expect(j, close);
    }
    static const char *literals[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(literals[i]);
        if (j->len - j->pos >= n && memcmp(j->text + j->pos, literals[i], n) == 0) {
            j->pos += n;
            return 0;
        }
    }
    size_t start = j->pos;
    while (j->pos < j->len && strchr("+-0123456789.eE", j->text[j->pos]) && j->text[j->pos])
        j->pos++;
    return j->pos > start ? 0 : json_fail(j, "expected a value");
}

static int parse_dtype(struct json *j, const char *name, enum bmst_st_dtype *out) {
    char *text = NULL;
    if (read_string(j, &text) != 0) return -1;
    static const char *names[] = {"F32", "F16", "BF16", "I64"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (enum bmst_st_dtype)i;
            free(text);
            return 0;
        }
    bmst_error("%s: tensor %s has dtype '%.16s'; this reader takes F32, F16, BF16 and I64",
               j->path, name, text);
    free(text);
    return -1;
}

/* [d0, d1, ...] or, for data_offsets, exactly [begin, end] (max 2). */
static int parse_ints(struct json *j, const char *name, const char *key, int max, int64_t *v,
                      int *n) {
    *n = 0;
    if (expect(j, '[') != 0) return -1;
    if (accept(j, ']')) return 0;
    do {
        if (*n == max)
            return bmst_error("%s: tensor %s has more than %d entries in '%s'", j->path, name, max,
                              key);
        if (read_count(j, &v[(*n)++]) != 0) return -1;
    } while (accept(j, ','));
    return expect(j, ']');
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} */
static int parse_entry(struct json *j, struct bmst_st_tensor *t) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (expect(j, '{') != 0) return -1;
    if (!accept(j, '}')) {
        do {
            char *key = NULL;
            if (read_string(j, &key) != 0) return -1;
            int status = expect(j, ':');
            if (status == 0 && strcmp(key, "dtype") == 0) {
                status = parse_dtype(j, t->name, &t->dtype);
                have_dtype = 1;
            } else if (status == 0 && strcmp(key, "shape") == 0) {
                status = parse_ints(j, t->name, key, BMST_ST_MAX_DIMS, t->dims, &t->ndim);
                have_shape = 1;
            } else if (status == 0 && strcmp(key, "data_offsets") == 0) {
                int64_t v[2] = {0, 0};
                int n = 0;
                status = parse_ints(j, t->name, key, 2, v, &n);
                if (status == 0 && n != 2)
                    status = bmst_error("%s: tensor %s has data_offsets of %d entries, not 2",
                                        j->path, t->name, n);
                t->begin = (uint64_t)v[0], t->end = (uint64_t)v[1];
                have_offsets = 1;
            } else if (status == 0) {
                status = skip_value(j, 1);
            }
            free(key);
            if (status != 0) return -1;
        } while (accept(j, ','));
        if (expect(j, '}') != 0) return -1;
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return bmst_error("%s: tensor %s lacks its %s", j->path, t->name,
                          !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

static int parse_header(struct json *j, struct bmst_safetensors *st) {
    if (expect(j, '{') != 0) return -1;
    int cap = 0;
    if (!accept(j, '}')) {
        do {
            char *name = NULL;
            if (read_string(j, &name) != 0) return -1;
            if (expect(j, ':') != 0) {
                free(name);
                return -1;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (skip_value(j, 1) != 0) return -1;
                continue;
            }
            if (bmst_safetensors_find(st, name) >= 0) {
                bmst_error("%s: tensor %s is named twice in the header", j->path, name);
                free(name);
                return -1;
            }
            if (st->n_tensors == cap) {
                cap = cap ? 2 * cap : 64;
                st->tensors = bmst_xrealloc(st->tensors, (size_t)cap * sizeof *st->tensors);
            }
            struct bmst_st_tensor *t = &st->tensors[st->n_tensors++];
            memset(t, 0, sizeof *t);
            t->name = name;
            if (parse_entry(j, t) != 0) return -1;
        } while (accept(j, ','));
        if (expect(j, '}') != 0) return -1;
    }
    skip_space(j);
    if (j->pos != j->len) return json_fail(j, "text after the header's object");
    return 0;
}

/* ---- checks against the file ---- */

static size_t dtype_bytes(enum bmst_st_dtype d) {
    return d == BMST_ST_F32 ? 4 : d == BMST_ST_I64 ? 8 : 2;
}

const char *bmst_safetensors_dtype_name(enum bmst_st_dtype d) {
    static const char *names[] = {"F32", "F16", "BF16", "I64"};
    return names[d];
}

uint64_t bmst_safetensors_count(const struct bmst_safetensors *st, int i) {
    uint64_t n = 1;
    for (int d = 0; d < st->tensors[i].ndim; d++)
        n *= (uint64_t)st->tensors[i].dims[d];
    return n;
}

/* The bytes dtype x shape need, or UINT64_MAX when that overflows. */
static uint64_t needed_bytes(const struct bmst_st_tensor *t) {
    uint64_t n = dtype_bytes(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->dims[d];
        if (dim && n > UINT64_MAX / dim) return UINT64_MAX;
        n *= dim;
    }
    return n;
}

static int by_begin(const void *a, const void *b) {
    const struct bmst_st_tensor *x = *(const struct bmst_st_tensor *const *)a,
                                *y = *(const struct bmst_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Each range is its tensor's size and inside the data; taken in order of
 * their start, the ranges tile the data without overlap or gap, as the
 * format requires. */
static int check_ranges(struct bmst_safetensors *st) {
    const char *path = st->path;
    for (int i = 0; i < st->n_tensors; i++) {
        const struct bmst_st_tensor *t = &st->tensors[i];
        if (t->end < t->begin)
            return bmst_error("%s: tensor %s has data_offsets [%llu, %llu], which end before "
                              "they begin",
                              path, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end);
        if (t->end > st->data_size)
            return bmst_error("%s: tensor %s has data_offsets [%llu, %llu] beyond the %llu bytes "
                              "of data (truncated, or the header lies)",
                              path, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end, (unsigned long long)st->data_size);
        uint64_t need = needed_bytes(t);
        if (t->end - t->begin != need)
            return bmst_error("%s: tensor %s spans %llu bytes, but %s of its shape needs %llu",
                              path, t->name, (unsigned long long)(t->end - t->begin),
                              bmst_safetensors_dtype_name(t->dtype), (unsigned long long)need);
    }
    const struct bmst_st_tensor **order =
        bmst_xmalloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *order);
    for (int i = 0; i < st->n_tensors; i++)
        order[i] = &st->tensors[i];
    qsort(order, (size_t)st->n_tensors, sizeof *order, by_begin);
    uint64_t at = 0;
    int status = 0;
    for (int i = 0; i < st->n_tensors && status == 0; i++) {
        if (order[i]->begin < at)
            status = bmst_error("%s: tensor %s (bytes %llu to %llu) overlaps %s", path,
                                order[i]->name, (unsigned long long)order[i]->begin,
                                (unsigned long long)order[i]->end, order[i - 1]->name);
        else if (order[i]->begin > at)
            status = bmst_error("%s: no tensor holds bytes %llu to %llu of the data (the header "
                                "lies about the offsets)",
                                path, (unsigned long long)at, (unsigned long long)order[i]->begin);
        at = order[i]->end;
    }
    free(order);
    if (status == 0 && at != st->data_size)
        status = bmst_error("%s: the tensors end at byte %llu of %llu bytes of data (the header "
                            "lies about the offsets)",
                            path, (unsigned long long)at, (unsigned long long)st->data_size);
    return status;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

int bmst_safetensors_open(const char *path, struct bmst_safetensors *st) {
    memset(st, 0, sizeof *st);
    st->path = strdup(path);
    st->file = fopen(path, "rb");
    if (!st->path || !st->file) {
        int err = errno;
        bmst_safetensors_close(st);
        return bmst_error("cannot read %s: %s", path, strerror(err));
    }
    struct stat info;
    unsigned char len_bytes[8];
    uint64_t size = fstat(fileno(st->file), &info) == 0 ? (uint64_t)info.st_size : 0;
    int status = 0;
    if (size < 8 || fread(len_bytes, 1, 8, st->file) != 8)
        status = bmst_error("%s is not a safetensors file: %llu bytes, too short for the header "
                            "length",
                            path, (unsigned long long)size);
    uint64_t header_len = status == 0 ? le64(len_bytes) : 0;
    if (status == 0 && (header_len > size - 8 || header_len > MAX_HEADER_BYTES))
        status = bmst_error("%s is not a safetensors file, or is truncated: its header length "
                            "%llu is beyond the file's %llu bytes%s",
                            path, (unsigned long long)header_len, (unsigned long long)size,
                            header_len <= size - 8 ? " (or the format's 100 MiB)" : "");
    char *text = NULL;
    if (status == 0) {
        text = bmst_xmalloc(header_len + 1);
        if (fread(text, 1, header_len, st->file) != header_len)
            status = bmst_error("cannot read the header of %s", path);
        text[header_len] = 0;
    }
    if (status == 0) {
        struct json j = {path, text, header_len, 0};
        st->data_start = 8 + header_len;
        st->data_size = size - st->data_start;
        status = parse_header(&j, st);
    }
    free(text);
    if (status == 0) status = check_ranges(st);
    if (status != 0) bmst_safetensors_close(st);
    return status;
}

void bmst_safetensors_close(struct bmst_safetensors *st) {
    for (int i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    if (st->file) fclose(st->file);
    memset(st, 0, sizeof *st);
}

int bmst_safetensors_find(const struct bmst_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return i;
    return -1;
}

/* ---- reading and widening ---- */

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13); /* inf, NaN */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) { /* subnormal: normalize */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int bmst_safetensors_read_f32(const struct bmst_safetensors *st, int i, float *out) {
    const struct bmst_st_tensor *t = &st->tensors[i];
    uint64_t bytes = t->end - t->begin, n = bmst_safetensors_count(st, i);
    unsigned char *raw = bmst_xmalloc(bytes ? bytes : 1);
    int ok = fseeko(st->file, (off_t)(st->data_start + t->begin), SEEK_SET) == 0 &&
             fread(raw, 1, bytes, st->file) == bytes;
    for (uint64_t k = 0; ok && k < n; k++) {
        const unsigned char *b = raw + k * dtype_bytes(t->dtype);
        uint32_t bits;
        switch (t->dtype) {
        case BMST_ST_F32:
            bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24;
            memcpy(&out[k], &bits, 4);
            break;
        case BMST_ST_F16: out[k] = f16_to_f32((uint16_t)(b[0] | b[1] << 8)); break;
        case BMST_ST_BF16:
            bits = ((uint32_t)b[0] | (uint32_t)b[1] << 8) << 16;
            memcpy(&out[k], &bits, 4);
            break;
        case BMST_ST_I64: out[k] = (float)(int64_t)le64(b); break;
        }
    }
    free(raw);
    return ok ? 0 : bmst_error("cannot read tensor %s of %s (truncated?)", t->name, st->path);
}
