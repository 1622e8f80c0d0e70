/* Gradient buckets: see grad_sync.h. */
#include "grad_sync.h"

#include "stats.h"

void bmst_grad_sync_init(struct bmst_grad_sync *s, struct bmst_comm *comm,
                         const struct bmst_model *m, int bucket_mib, enum bmst_dtype wire) {
    s->comm = comm;
    s->grads = m->grads;
    s->n = m->n_weights;
    s->bucket_floats = ((size_t)bucket_mib << 20) / sizeof(float);
    s->wire = wire;
    bmst_grad_sync_begin(s);
}

void bmst_grad_sync_begin(struct bmst_grad_sync *s) {
    s->unsent = s->n;
    s->first_start = 0.0;
}

static float prescale(const struct bmst_grad_sync *s) {
    return s->wire == BMST_F32 ? 1.0f : 1.0f / (float)s->comm->world;
}

/* Hands grads[begin, unsent) to the comm as one bucket. */
static void send(struct bmst_grad_sync *s, size_t begin) {
    if (s->first_start == 0.0) s->first_start = bmst_now();
    s->comm->bucket_start(s->comm, s->grads + begin, s->unsent - begin, s->wire, prescale(s));
    s->unsent = begin;
}

void bmst_grad_sync_ready(void *sync, size_t first_final) {
    struct bmst_grad_sync *s = sync;
    if (s->comm->world == 1) return;
    /* bucket k covers [n - (k + 1) * B, n - k * B), the first one clipped at 0 */
    while (s->unsent > 0) {
        size_t begin = s->unsent > s->bucket_floats ? s->unsent - s->bucket_floats : 0;
        if (first_final > begin) break;
        send(s, begin);
    }
    s->comm->bucket_progress(s->comm);
}

void bmst_grad_sync_finish(struct bmst_grad_sync *s, double *hidden, double *exposed) {
    *hidden = *exposed = 0.0;
    if (s->comm->world == 1) return;
    double t = bmst_now();
    if (s->first_start != 0.0) *hidden = t - s->first_start;
    while (s->unsent > 0) send(s, s->unsent > s->bucket_floats ? s->unsent - s->bucket_floats : 0);
    s->comm->bucket_wait(s->comm);
    *exposed = bmst_now() - t;
    bmst_grad_sync_begin(s);
}

float bmst_grad_sync_divisor(const struct bmst_grad_sync *s) {
    return s->wire == BMST_F32 ? (float)s->comm->world : 1.0f;
}
