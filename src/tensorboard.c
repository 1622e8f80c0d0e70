/* TensorBoard's event files (tensorboard.h): protobuf's wire format for the
 * few fields an Event with a scalar needs, in TFRecord framing. */
#include "tensorboard.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"

struct bmst_tb {
    FILE *f;
    char path[4096];
};

/* A message under construction; fields are appended in order. */
struct buf {
    unsigned char data[512];
    size_t len;
};

static void put_byte(struct buf *b, unsigned v) {
    BMST_ASSERT(b->len < sizeof b->data);
    b->data[b->len++] = (unsigned char)v;
}

static void put_varint(struct buf *b, uint64_t v) {
    for (; v >= 0x80; v >>= 7)
        put_byte(b, (unsigned)(v & 0x7F) | 0x80);
    put_byte(b, (unsigned)v);
}

static void put_le(struct buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        put_byte(b, (unsigned)(v >> (8 * i)) & 0xFF);
}

/* field number, wire type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit */
static void put_key(struct buf *b, unsigned field, unsigned wire) {
    put_varint(b, (uint64_t)(field << 3 | wire));
}

static void put_bytes(struct buf *b, unsigned field, const void *data, size_t len) {
    put_key(b, field, 2);
    put_varint(b, len);
    BMST_ASSERT(b->len + len <= sizeof b->data);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* An Event's wall_time and step. */
static void event_head(struct buf *e, long step) {
    double now = wall_time();
    uint64_t bits;
    memcpy(&bits, &now, sizeof bits);
    put_key(e, 1, 1);
    put_le(e, bits, 8);
    put_key(e, 2, 0);
    put_varint(e, (uint64_t)(int64_t)step);
}

/* One TFRecord: length, its masked CRC, the payload, its masked CRC. */
static int write_record(struct bmst_tb *t, const struct buf *payload) {
    unsigned char head[12];
    uint64_t len = payload->len;
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(len >> (8 * i));
    uint32_t len_crc = bmst_crc32c_masked(head, 8),
             data_crc = bmst_crc32c_masked(payload->data, payload->len);
    for (int i = 0; i < 4; i++)
        head[8 + i] = (unsigned char)(len_crc >> (8 * i));
    unsigned char tail[4];
    for (int i = 0; i < 4; i++)
        tail[i] = (unsigned char)(data_crc >> (8 * i));
    errno = 0;
    if (fwrite(head, 1, sizeof head, t->f) != sizeof head ||
        fwrite(payload->data, 1, payload->len, t->f) != payload->len ||
        fwrite(tail, 1, sizeof tail, t->f) != sizeof tail)
        return bmst_error("cannot write the TensorBoard file %s: %s", t->path,
                          strerror(errno ? errno : EIO));
    return 0;
}

int bmst_tb_open(const char *dir, struct bmst_tb **out) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return bmst_error("cannot make the TensorBoard folder %s: %s", dir, strerror(errno));
    struct bmst_tb *t = bmst_xcalloc(1, sizeof *t);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(t->path, sizeof t->path, "%s/events.out.tfevents.%ld.%s.%ld", dir, (long)wall_time(),
             host, (long)getpid());
    t->f = fopen(t->path, "wb");
    if (!t->f) {
        int status =
            bmst_error("cannot write the TensorBoard file %s: %s", t->path, strerror(errno));
        free(t);
        return status;
    }
    struct buf e = {.len = 0};
    event_head(&e, 0);
    put_bytes(&e, 3, "brain.Event:2", strlen("brain.Event:2"));
    if (write_record(t, &e) != 0 || bmst_tb_flush(t) != 0) {
        bmst_tb_close(t);
        return -1;
    }
    *out = t;
    return 0;
}

int bmst_tb_scalar(struct bmst_tb *t, const char *tag, long step, double value) {
    struct buf v = {.len = 0}, summary = {.len = 0}, e = {.len = 0};
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    put_bytes(&v, 1, tag, strlen(tag));
    put_key(&v, 2, 5);
    put_le(&v, bits, 4);
    put_bytes(&summary, 1, v.data, v.len);
    event_head(&e, step);
    put_bytes(&e, 5, summary.data, summary.len);
    return write_record(t, &e);
}

int bmst_tb_flush(struct bmst_tb *t) {
    errno = 0;
    if (fflush(t->f) == 0 && !ferror(t->f)) return 0;
    return bmst_error("cannot write the TensorBoard file %s: %s", t->path,
                      strerror(errno ? errno : EIO));
}

int bmst_tb_close(struct bmst_tb *t) {
    if (!t) return 0;
    int status = bmst_tb_flush(t);
    if (fclose(t->f) != 0 && status == 0)
        status = bmst_error("cannot write the TensorBoard file %s: %s", t->path, strerror(errno));
    free(t);
    return status;
}
