/* The safetensors reader (src/safetensors.c): a good file with every dtype
 * it takes (F32, F16 and BF16 widened exactly, I64), metadata, escaped names
 * and a header listed out of data order reads back exactly; each kind of
 * damage (too short, a header length beyond the file, bad JSON, an unknown
 * dtype, offsets beyond the data, overlapping, leaving a gap, or not the
 * size of dtype x shape, a name twice) is refused with its own message.
 * Also run under the sanitizer build (label sanitize): no read outside the
 * file or the header. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "safetensors.h"

static const char *path = "test_safetensors.tmp";

/* Writes the 8-byte length (header_len, normally strlen(header)), the
 * header and `n` data bytes. */
static void write_file(const char *header, uint64_t header_len, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(header_len >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    fwrite(data, 1, n, f);
    fclose(f);
}

/* The data of the good file: bf16 [2] at 0, f32 [2, 3] at 4, f16 [2] at 28,
 * i64 [] at 32 (40 bytes). */
static void good_data(unsigned char *d) {
    uint16_t bf16[2] = {0x3FC0, 0xC000}; /* 1.5, -2 */
    float f32[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, -7.0f};
    uint16_t f16[2] = {0x3C00, 0x0001}; /* 1, the smallest subnormal 2^-24 */
    int64_t i64 = 12345;
    memcpy(d, bf16, 4), memcpy(d + 4, f32, 24), memcpy(d + 28, f16, 4), memcpy(d + 32, &i64, 8);
}

static const char *good_header =
    "{\"__metadata__\":{\"format\":\"pt\",\"n\":\"x\"},"
    " \"w\\u00e9ight\\\"q\": {\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]},"
    "\"half\":{\"shape\":[2],\"dtype\":\"F16\",\"data_offsets\":[28,32]},\n"
    "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
    "\"brain\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]} }";

static void test_good(void) {
    unsigned char data[40];
    good_data(data);
    write_file(good_header, strlen(good_header), data, sizeof data);
    struct bmst_safetensors st;
    int rc = bmst_safetensors_open(path, &st);
    CHECK(rc == 0, "good file: %s", bmst_last_error());
    if (rc != 0) return;
    CHECK(st.n_tensors == 4, "%d tensors", st.n_tensors);
    int w = bmst_safetensors_find(&st, "w\xc3\xa9ight\"q");
    CHECK(w >= 0, "the escaped name decodes to UTF-8 and a quote");
    float out[6];
    if (w >= 0) {
        CHECK(st.tensors[w].ndim == 2 && st.tensors[w].dims[0] == 2 && st.tensors[w].dims[1] == 3,
              "shape");
        CHECK(bmst_safetensors_read_f32(&st, w, out) == 0, "read f32");
        CHECK(out[0] == 1.0f && out[1] == -2.5f && out[2] == 3.25f && out[4] == 1e-3f &&
                  out[5] == -7.0f,
              "f32 values %g %g %g", out[0], out[1], out[2]);
    }
    int h = bmst_safetensors_find(&st, "half");
    CHECK(h >= 0 && bmst_safetensors_read_f32(&st, h, out) == 0, "read f16");
    CHECK(out[0] == 1.0f && out[1] == 0x1p-24f, "f16 values %g %g", out[0], out[1]);
    int b = bmst_safetensors_find(&st, "brain");
    CHECK(b >= 0 && bmst_safetensors_read_f32(&st, b, out) == 0, "read bf16");
    CHECK(out[0] == 1.5f && out[1] == -2.0f, "bf16 values %g %g", out[0], out[1]);
    int n = bmst_safetensors_find(&st, "bn.num_batches_tracked");
    CHECK(n >= 0 && st.tensors[n].ndim == 0 && bmst_safetensors_count(&st, n) == 1, "scalar");
    CHECK(n >= 0 && bmst_safetensors_read_f32(&st, n, out) == 0 && out[0] == 12345.0f,
          "i64 value %g", out[0]);
    CHECK(bmst_safetensors_find(&st, "__metadata__") < 0, "metadata is no tensor");
    bmst_safetensors_close(&st);
}

/* A file that must be refused with a message containing `expect`. */
static void refused(const char *what, const char *header, uint64_t header_len, size_t data_bytes,
                    const char *expect) {
    unsigned char data[64] = {0};
    write_file(header, header_len, data, data_bytes);
    struct bmst_safetensors st;
    bmst_error("(none)");
    int rc = bmst_safetensors_open(path, &st);
    CHECK(rc == -1, "%s: opened", what);
    CHECK(strstr(bmst_last_error(), expect) != NULL, "%s: message '%s' lacks '%s'", what,
          bmst_last_error(), expect);
    CHECK(strchr(bmst_last_error(), '\n') == NULL, "%s: more than one line", what);
    if (rc == 0) bmst_safetensors_close(&st);
}

#define ONE(dtype, shape, b, e)                                                                    \
    "{\"a\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}}"

int main(void) {
    test_good();
    const char *one = ONE("F32", "[2]", 0, 8);
    FILE *f = fopen(path, "wb");
    fwrite("\x10\0\0", 1, 3, f);
    fclose(f);
    struct bmst_safetensors st;
    CHECK(bmst_safetensors_open(path, &st) == -1 &&
              strstr(bmst_last_error(), "3 bytes, too short for the header length"),
          "3 bytes: %s", bmst_last_error());
    refused("a header length beyond the file", one, 1u << 20, 8, "header length 1048576 is beyond");
    refused("a header length of 2^64-1", one, UINT64_MAX, 8, "is beyond the file");
    refused("truncated data", one, strlen(one), 6, "beyond the 6 bytes of data");
    refused("offsets beyond the data", ONE("F32", "[2]", 8, 16), strlen(ONE("F32", "[2]", 8, 16)), 8,
            "beyond the 8 bytes of data");
    refused("offsets not dtype x shape", ONE("F32", "[3]", 0, 8), strlen(one), 8,
            "spans 8 bytes, but F32 of its shape needs 12");
    refused("offsets that end before they begin", ONE("F32", "[0]", 8, 0), strlen(one), 8,
            "end before they begin");
    const char *overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    refused("overlapping tensors", overlap, strlen(overlap), 8, "overlaps");
    const char *gap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
    refused("a gap between tensors", gap, strlen(gap), 12, "no tensor holds bytes 4 to 8");
    refused("bytes after the last tensor", one, strlen(one), 12, "end at byte 8 of 12");
    refused("an unknown dtype", ONE("F64", "[1]", 0, 8), strlen(one), 8, "dtype 'F64'");
    refused("a negative dimension", ONE("F32", "[-2]", 0, 8), strlen(ONE("F32", "[-2]", 0, 8)),
            8, "expected a non-negative integer");
    const char *bad_json = "{\"a\" {\"dtype\":\"F32\"}}";
    refused("bad JSON", bad_json, strlen(bad_json), 0, "expected ':'");
    const char *unclosed = "{\"a\":{\"dtype\":\"F32";
    refused("an unclosed string", unclosed, strlen(unclosed), 0, "without its closing quote");
    const char *not_object = "[1, 2]";
    refused("not an object", not_object, strlen(not_object), 0, "expected '{'");
    const char *trailing = "{} x";
    refused("text after the object", trailing, strlen(trailing), 0, "text after");
    const char *no_dtype = "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}";
    refused("no dtype", no_dtype, strlen(no_dtype), 4, "lacks its dtype");
    const char *twice = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    refused("a name twice", twice, strlen(twice), 8, "named twice");
    const char *deep = "{\"__metadata__\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                       "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}";
    refused("nesting too deep", deep, strlen(deep), 0, "nesting too deep");
    remove(path);
    return check_finish("safetensors");
}
