/* The pickle reader (pickle.h): the binary opcodes of protocols 2 to 5 that
 * data (dicts, lists, tuples, numbers, text, bytes, numpy arrays) is written
 * with. Text-mode opcodes of protocol 0, persistent ids and extension codes
 * are refused by name. */
#include "pickle.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct bmst_pickle_node {
    struct bmst_pickle_node *next;
    uint8_t *owned; /* bytes decoded from latin-1 text */
    struct bmst_pickle_value value;
};

/* The machine's state while it reads. */
struct reader {
    const char *path;
    struct bmst_pickle *p;
    const uint8_t *at, *end;
    struct bmst_pickle_value **stack;
    size_t depth, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    struct bmst_pickle_value **memo;
    size_t memo_cap, memo_next;
};

static int fail(const struct reader *r, const char *what) {
    return bmst_error("%s: not a readable pickle at byte %zu: %s", r->path,
                      (size_t)(r->at - r->p->file), what);
}

/* A new value; `owned` (or NULL) is freed with it. */
static struct bmst_pickle_value *new_value(struct reader *r, enum bmst_pickle_kind kind,
                                           uint8_t *owned) {
    struct bmst_pickle_node *node = bmst_xcalloc(1, sizeof *node);
    node->next = r->p->nodes;
    r->p->nodes = node;
    node->owned = owned;
    node->value.kind = kind;
    return &node->value;
}

static void push(struct reader *r, struct bmst_pickle_value *v) {
    if (r->depth == r->stack_cap) {
        r->stack_cap = r->stack_cap ? 2 * r->stack_cap : 64;
        r->stack = bmst_xrealloc(r->stack, r->stack_cap * sizeof *r->stack);
    }
    r->stack[r->depth++] = v;
}

/* The stack's top, above the innermost mark; NULL (after an error) if none. */
static struct bmst_pickle_value *pop(struct reader *r) {
    size_t floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->depth <= floor) {
        fail(r, "an opcode takes a value from an empty stack");
        return NULL;
    }
    return r->stack[--r->depth];
}

static struct bmst_pickle_value *top(struct reader *r) {
    size_t floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->depth <= floor) {
        fail(r, "an opcode needs a value on an empty stack");
        return NULL;
    }
    return r->stack[r->depth - 1];
}

/* Reads n bytes; NULL (after an error) past the end. */
static const uint8_t *take(struct reader *r, size_t n) {
    if ((size_t)(r->end - r->at) < n) {
        fail(r, "the file ends inside an opcode");
        return NULL;
    }
    const uint8_t *b = r->at;
    r->at += n;
    return b;
}

static int read_uint(struct reader *r, int bytes, uint64_t *v) {
    const uint8_t *b = take(r, (size_t)bytes);
    if (!b) return -1;
    *v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        *v = (*v << 8) | b[i];
    return 0;
}

/* A length-prefixed run of `bytes`-byte length: bytes, text or a name. */
static int push_data(struct reader *r, enum bmst_pickle_kind kind, int bytes) {
    uint64_t n;
    if (read_uint(r, bytes, &n) != 0) return -1;
    if (n > (uint64_t)(r->end - r->at)) return fail(r, "a length runs past the end of the file");
    struct bmst_pickle_value *v = new_value(r, kind, NULL);
    v->len = (size_t)n;
    v->data = take(r, v->len);
    push(r, v);
    return 0;
}

static int push_int(struct reader *r, int64_t i) {
    struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_INT, NULL);
    v->integer = i;
    push(r, v);
    return 0;
}

/* LONG1/LONG4: little-endian two's complement of n bytes, up to 8. */
static int push_long(struct reader *r, int length_bytes) {
    uint64_t n, bits = 0;
    if (read_uint(r, length_bytes, &n) != 0) return -1;
    if (n > 8) return fail(r, "an integer wider than 64 bits");
    if (n && read_uint(r, (int)n, &bits) != 0) return -1;
    if (n && n < 8 && (bits >> (8 * n - 1)) & 1) bits |= ~UINT64_C(0) << (8 * n);
    return push_int(r, (int64_t)bits);
}

/* The values above the innermost mark, which is removed, as `kind`. */
static int push_marked(struct reader *r, enum bmst_pickle_kind kind) {
    if (!r->n_marks) return fail(r, "a collection without its mark");
    size_t from = r->marks[--r->n_marks];
    if (kind == BMST_PICKLE_DICT && (r->depth - from) % 2)
        return fail(r, "a key without its value");
    struct bmst_pickle_value *v = new_value(r, kind, NULL);
    v->n = r->depth - from;
    v->items = bmst_xmalloc((v->n ? v->n : 1) * sizeof *v->items);
    memcpy(v->items, r->stack + from, v->n * sizeof *v->items);
    r->depth = from;
    push(r, v);
    return 0;
}

static int push_tuple(struct reader *r, size_t n) {
    size_t floor = r->n_marks ? r->marks[r->n_marks - 1] : 0;
    if (r->depth - floor < n) return fail(r, "a tuple of more values than the stack holds");
    struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_TUPLE, NULL);
    v->n = n;
    v->items = bmst_xmalloc((n ? n : 1) * sizeof *v->items);
    memcpy(v->items, r->stack + r->depth - n, n * sizeof *v->items);
    r->depth -= n;
    push(r, v);
    return 0;
}

/* Appends `count` values to a list or dict's items. */
static void extend(struct bmst_pickle_value *c, struct bmst_pickle_value **values, size_t count) {
    c->items = bmst_xrealloc(c->items, (c->n + count ? c->n + count : 1) * sizeof *c->items);
    memcpy(c->items + c->n, values, count * sizeof *values);
    c->n += count;
}

/* APPEND(S), SETITEM(S): the values above the mark (or the top one or two)
 * into the list or dict below them. */
static int add_items(struct reader *r, enum bmst_pickle_kind kind, size_t from) {
    if (from == 0 || from > r->depth) return fail(r, "nothing to add the items to");
    struct bmst_pickle_value *c = r->stack[from - 1];
    size_t count = r->depth - from;
    if (c->kind != kind) return fail(r, "items added to a value of another kind");
    if (kind == BMST_PICKLE_DICT && count % 2) return fail(r, "a key without its value");
    extend(c, r->stack + from, count);
    r->depth = from;
    return 0;
}

static int add_marked(struct reader *r, enum bmst_pickle_kind kind) {
    if (!r->n_marks) return fail(r, "items without their mark");
    return add_items(r, kind, r->marks[--r->n_marks]);
}

static int global(struct reader *r, const uint8_t *module, size_t module_len, const uint8_t *name,
                  size_t name_len) {
    uint8_t *text = bmst_xmalloc(module_len + 1 + name_len);
    memcpy(text, module, module_len);
    text[module_len] = ' ';
    memcpy(text + module_len + 1, name, name_len);
    struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_GLOBAL, text);
    v->data = text;
    v->len = module_len + 1 + name_len;
    push(r, v);
    return 0;
}

/* GLOBAL: "module\nname\n". */
static int read_global(struct reader *r) {
    const uint8_t *lines[2];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *nl = memchr(r->at, '\n', (size_t)(r->end - r->at));
        if (!nl) return fail(r, "a global's name without its newline");
        lines[i] = r->at;
        lens[i] = (size_t)(nl - r->at);
        r->at = nl + 1;
    }
    return global(r, lines[0], lens[0], lines[1], lens[1]);
}

static int stack_global(struct reader *r) {
    struct bmst_pickle_value *name = pop(r), *module = name ? pop(r) : NULL;
    if (!module) return -1;
    if (module->kind != BMST_PICKLE_STR || name->kind != BMST_PICKLE_STR)
        return fail(r, "STACK_GLOBAL of values that are not text");
    return global(r, module->data, module->len, name->data, name->len);
}

/* 1 when f(args) is Python 3's spelling of bytes under protocol 2,
 * _codecs.encode(text, "latin1"), whose UTF-8 text has the bytes as its code
 * points. */
static int is_latin1_bytes(const struct bmst_pickle_value *f,
                           const struct bmst_pickle_value *args) {
    return bmst_pickle_is(f, "_codecs encode") && args->n == 2 &&
           args->items[0]->kind == BMST_PICKLE_STR && bmst_pickle_is(args->items[1], "latin1");
}

static int push_latin1_bytes(struct reader *r, const struct bmst_pickle_value *text) {
    uint8_t *bytes = bmst_xmalloc(text->len ? text->len : 1);
    size_t n = 0;
    for (size_t i = 0; i < text->len; n++) {
        uint8_t c = text->data[i];
        if (c < 0x80) {
            bytes[n] = c, i++;
        } else if ((c & 0xfe) == 0xc2 && i + 1 < text->len && (text->data[i + 1] & 0xc0) == 0x80) {
            bytes[n] = (uint8_t)(((c & 0x03) << 6) | (text->data[i + 1] & 0x3f)), i += 2;
        } else {
            free(bytes);
            return fail(r, "latin-1 text with a character above U+00FF");
        }
    }
    struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_BYTES, bytes);
    v->data = bytes;
    v->len = n;
    push(r, v);
    return 0;
}

/* REDUCE and NEWOBJ: callable(args) as an object, or the bytes it spells. */
static int call(struct reader *r) {
    struct bmst_pickle_value *args = pop(r), *f = args ? pop(r) : NULL;
    if (!f) return -1;
    if (f->kind != BMST_PICKLE_GLOBAL) return fail(r, "a call of something that is not a name");
    if (args->kind != BMST_PICKLE_TUPLE) return fail(r, "a call's arguments are not a tuple");
    if (is_latin1_bytes(f, args)) return push_latin1_bytes(r, args->items[0]);
    struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_OBJECT, NULL);
    v->callable = f;
    v->args = args;
    push(r, v);
    return 0;
}

static int build(struct reader *r) {
    struct bmst_pickle_value *state = pop(r), *obj = state ? top(r) : NULL;
    if (!obj) return -1;
    if (obj->kind != BMST_PICKLE_OBJECT || obj->state)
        return fail(r, "BUILD of a value that is not a new object");
    obj->state = state;
    return 0;
}

static int memo_put(struct reader *r, uint64_t index) {
    struct bmst_pickle_value *v = top(r);
    if (!v) return -1;
    if (index > (1u << 26)) return fail(r, "a memo index beyond any real file's");
    if (index >= r->memo_cap) {
        size_t cap = r->memo_cap ? r->memo_cap : 64;
        while (cap <= index)
            cap *= 2;
        r->memo = bmst_xrealloc(r->memo, cap * sizeof *r->memo);
        memset(r->memo + r->memo_cap, 0, (cap - r->memo_cap) * sizeof *r->memo);
        r->memo_cap = cap;
    }
    r->memo[index] = v;
    return 0;
}

static int memo_get(struct reader *r, uint64_t index) {
    if (index >= r->memo_cap || !r->memo[index]) return fail(r, "a memo index never stored");
    push(r, r->memo[index]);
    return 0;
}

static int push_kind(struct reader *r, enum bmst_pickle_kind kind, int64_t integer) {
    struct bmst_pickle_value *v = new_value(r, kind, NULL);
    v->integer = integer;
    push(r, v);
    return 0;
}

/* Runs one opcode; 1 at STOP. */
static int step(struct reader *r) {
    const uint8_t *op = take(r, 1);
    uint64_t u;
    if (!op) return -1;
    switch (*op) {
    case 0x80:
        return take(r, 1) ? 0 : -1; /* PROTO */
    case 0x95:
        return take(r, 8) ? 0 : -1; /* FRAME: a hint */
    case '.':
        return 1; /* STOP */
    case '(':     /* MARK */
        if (r->n_marks == r->marks_cap) {
            r->marks_cap = r->marks_cap ? 2 * r->marks_cap : 16;
            r->marks = bmst_xrealloc(r->marks, r->marks_cap * sizeof *r->marks);
        }
        r->marks[r->n_marks++] = r->depth;
        return 0;
    case 'N':
        return push_kind(r, BMST_PICKLE_NONE, 0);
    case 0x88:
        return push_kind(r, BMST_PICKLE_BOOL, 1);
    case 0x89:
        return push_kind(r, BMST_PICKLE_BOOL, 0);
    case 'K':
        return read_uint(r, 1, &u) ? -1 : push_int(r, (int64_t)u);
    case 'M':
        return read_uint(r, 2, &u) ? -1 : push_int(r, (int64_t)u);
    case 'J':
        return read_uint(r, 4, &u) ? -1 : push_int(r, (int32_t)(uint32_t)u);
    case 0x8a:
        return push_long(r, 1);
    case 0x8b:
        return push_long(r, 4);
    case 'G': { /* BINFLOAT: big-endian double */
        const uint8_t *b = take(r, 8);
        if (!b) return -1;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = (bits << 8) | b[i];
        struct bmst_pickle_value *v = new_value(r, BMST_PICKLE_FLOAT, NULL);
        memcpy(&v->real, &bits, sizeof v->real);
        push(r, v);
        return 0;
    }
    case 'U':
        return push_data(r, BMST_PICKLE_BYTES, 1); /* SHORT_BINSTRING */
    case 'T':
        return push_data(r, BMST_PICKLE_BYTES, 4); /* BINSTRING */
    case 'C':
        return push_data(r, BMST_PICKLE_BYTES, 1); /* SHORT_BINBYTES */
    case 'B':
        return push_data(r, BMST_PICKLE_BYTES, 4); /* BINBYTES */
    case 0x8e:
        return push_data(r, BMST_PICKLE_BYTES, 8); /* BINBYTES8 */
    case 0x96:
        return push_data(r, BMST_PICKLE_BYTES, 8); /* BYTEARRAY8 */
    case 0x8c:
        return push_data(r, BMST_PICKLE_STR, 1); /* SHORT_BINUNICODE */
    case 'X':
        return push_data(r, BMST_PICKLE_STR, 4); /* BINUNICODE */
    case 0x8d:
        return push_data(r, BMST_PICKLE_STR, 8); /* BINUNICODE8 */
    case '}':
        return push_kind(r, BMST_PICKLE_DICT, 0);
    case ']':
        return push_kind(r, BMST_PICKLE_LIST, 0);
    case ')':
        return push_tuple(r, 0);
    case 0x85:
        return push_tuple(r, 1);
    case 0x86:
        return push_tuple(r, 2);
    case 0x87:
        return push_tuple(r, 3);
    case 't':
        return push_marked(r, BMST_PICKLE_TUPLE);
    case 'l':
        return push_marked(r, BMST_PICKLE_LIST);
    case 'd':
        return push_marked(r, BMST_PICKLE_DICT);
    case 'a':
        return add_items(r, BMST_PICKLE_LIST, r->depth - 1);
    case 'e':
        return add_marked(r, BMST_PICKLE_LIST);
    case 's':
        return add_items(r, BMST_PICKLE_DICT, r->depth - 2);
    case 'u':
        return add_marked(r, BMST_PICKLE_DICT);
    case 'c':
        return read_global(r);
    case 0x93:
        return stack_global(r);
    case 'R':
    case 0x81:
        return call(r); /* REDUCE, NEWOBJ */
    case 'b':
        return build(r);
    case 'q':
        return read_uint(r, 1, &u) ? -1 : memo_put(r, u);
    case 'r':
        return read_uint(r, 4, &u) ? -1 : memo_put(r, u);
    case 0x94:
        return memo_put(r, r->memo_next++); /* MEMOIZE */
    case 'h':
        return read_uint(r, 1, &u) ? -1 : memo_get(r, u);
    case 'j':
        return read_uint(r, 4, &u) ? -1 : memo_get(r, u);
    case '0':
        return pop(r) ? 0 : -1; /* POP */
    default: {
        char what[64];
        snprintf(what, sizeof what, "opcode 0x%02x, which data pickles do not use", *op);
        r->at--;
        return fail(r, what);
    }
    }
}

static int read_file(const char *path, uint8_t **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return bmst_error("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return bmst_error("%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    *data = bmst_xmalloc(*size ? *size : 1);
    size_t got = fread(*data, 1, *size, f);
    int bad = ferror(f) || got != *size;
    fclose(f);
    if (bad) {
        free(*data);
        return bmst_error("%s: read error", path);
    }
    return 0;
}

int bmst_pickle_load(const char *path, struct bmst_pickle *p) {
    memset(p, 0, sizeof *p);
    size_t size = 0;
    if (read_file(path, &p->file, &size) != 0) return -1;
    struct reader r = {.path = path, .p = p, .at = p->file, .end = p->file + size};
    int status;
    while ((status = step(&r)) == 0) {
    }
    if (status == 1 && (r.depth != 1 || r.n_marks))
        status = fail(&r, "STOP with the stack not one value");
    if (status == 1) p->root = r.stack[0];
    free(r.stack), free(r.marks), free(r.memo);
    if (status != 1) {
        bmst_pickle_free(p);
        return -1;
    }
    return 0;
}

void bmst_pickle_free(struct bmst_pickle *p) {
    for (struct bmst_pickle_node *node = p->nodes, *next; node; node = next) {
        next = node->next;
        free(node->value.items);
        free(node->owned);
        free(node);
    }
    free(p->file);
    memset(p, 0, sizeof *p);
}

int bmst_pickle_is(const struct bmst_pickle_value *v, const char *s) {
    size_t n = strlen(s);
    return v &&
           (v->kind == BMST_PICKLE_BYTES || v->kind == BMST_PICKLE_STR ||
            v->kind == BMST_PICKLE_GLOBAL) &&
           v->len == n && memcmp(v->data, s, n) == 0;
}

const struct bmst_pickle_value *bmst_pickle_get(const struct bmst_pickle_value *dict,
                                                const char *key) {
    if (!dict || dict->kind != BMST_PICKLE_DICT) return NULL;
    const struct bmst_pickle_value *found = NULL;
    for (size_t i = 0; i + 1 < dict->n; i += 2) /* the last setting wins, as in Python */
        if (dict->items[i]->kind != BMST_PICKLE_GLOBAL && bmst_pickle_is(dict->items[i], key))
            found = dict->items[i + 1];
    return found;
}

/* The element type of a numpy dtype object: dtype("u1", False, True). */
static int is_uint8_dtype(const struct bmst_pickle_value *dtype) {
    return dtype && dtype->kind == BMST_PICKLE_OBJECT &&
           bmst_pickle_is(dtype->callable, "numpy dtype") && dtype->args->n >= 1 &&
           (bmst_pickle_is(dtype->args->items[0], "u1") ||
            bmst_pickle_is(dtype->args->items[0], "uint8"));
}

static int is_int(const struct bmst_pickle_value *v) {
    return v && (v->kind == BMST_PICKLE_INT || v->kind == BMST_PICKLE_BOOL);
}

const char *bmst_pickle_uint8_matrix(const struct bmst_pickle_value *v, size_t shape[2],
                                     const uint8_t **data) {
    if (!v || v->kind != BMST_PICKLE_OBJECT) return "not a numpy array";
    const struct bmst_pickle_value *dims, *dtype, *bytes;
    int fortran;
    int reconstruct = bmst_pickle_is(v->callable, "numpy.core.multiarray _reconstruct") ||
                      bmst_pickle_is(v->callable, "numpy._core.multiarray _reconstruct");
    int frombuffer = bmst_pickle_is(v->callable, "numpy.core.numeric _frombuffer") ||
                     bmst_pickle_is(v->callable, "numpy._core.numeric _frombuffer");
    if (reconstruct) {
        /* ndarray's state: (version, shape, dtype, is_fortran, raw data) */
        const struct bmst_pickle_value *s = v->state;
        if (!s || s->kind != BMST_PICKLE_TUPLE || s->n != 5)
            return "a numpy array without its state";
        dims = s->items[1], dtype = s->items[2], bytes = s->items[4];
        if (!is_int(s->items[3])) return "a numpy array without its order";
        fortran = s->items[3]->integer != 0;
    } else if (frombuffer) {
        /* _frombuffer(buffer, dtype, shape, order) */
        const struct bmst_pickle_value *a = v->args;
        if (a->n != 4) return "a numpy array without its arguments";
        bytes = a->items[0], dtype = a->items[1], dims = a->items[2];
        fortran = bmst_pickle_is(a->items[3], "F");
    } else {
        return "not a numpy array";
    }
    if (!is_uint8_dtype(dtype)) return "a numpy array of another type than uint8";
    if (fortran) return "a numpy array in Fortran order";
    if (dims->kind != BMST_PICKLE_TUPLE || dims->n != 2 || !is_int(dims->items[0]) ||
        !is_int(dims->items[1]) || dims->items[0]->integer < 0 || dims->items[1]->integer < 0)
        return "a numpy array that is not a matrix";
    shape[0] = (size_t)dims->items[0]->integer;
    shape[1] = (size_t)dims->items[1]->integer;
    if (bytes->kind != BMST_PICKLE_BYTES || bytes->len / (shape[1] ? shape[1] : 1) != shape[0] ||
        bytes->len != shape[0] * shape[1])
        return "a numpy array whose data is not its shape's size";
    *data = bytes->data;
    return NULL;
}
