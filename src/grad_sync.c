/* Gradient buckets: see grad_sync.h. */
#include "grad_sync.h"

#include "stats.h"

/* Before backward: nothing sent yet. */
static void begin(struct bmst_grad_sync *s) {
    s->unsent = s->n;
    s->first_start = 0.0;
}

static float prescale(const struct bmst_grad_sync *s) {
    return s->wire == BMST_F32 ? 1.0f : 1.0f / (float)s->comm->world;
}

/* Where the next bucket begins: B floats below the unsent end, or 0. */
static size_t next_begin(const struct bmst_grad_sync *s) {
    return s->unsent > s->bucket_floats ? s->unsent - s->bucket_floats : 0;
}

/* Hands grads[next_begin, unsent) to the comm as one bucket. */
static void send_next(struct bmst_grad_sync *s) {
    size_t from = next_begin(s);
    if (s->first_start == 0.0) s->first_start = bmst_now();
    s->comm->bucket_start(s->comm, s->grads + from, s->unsent - from, s->wire, prescale(s));
    s->unsent = from;
}

/* The run's on_grads_ready: grads[first_final, n) are final; sends every
 * bucket that lies wholly inside and lets the transfers progress. */
static void grads_ready(void *sync, size_t first_final) {
    struct bmst_grad_sync *s = sync;
    /* the model's offsets; s->grads begins after the frozen weights */
    first_final = first_final > s->skipped ? first_final - s->skipped : 0;
    while (s->unsent > 0 && first_final <= next_begin(s)) send_next(s);
    s->comm->bucket_progress(s->comm);
}

struct bmst_grad_sync *bmst_grad_sync_attach(struct bmst_grad_sync *s, struct bmst_comm *comm,
                                             struct bmst_exec *x, int bucket_mib,
                                             enum bmst_dtype wire) {
    if (comm->world == 1) return NULL;
    s->comm = comm;
    const struct bmst_model *m = x->graph->model;
    s->skipped = m->n_frozen;
    s->grads = m->grads + m->n_frozen;
    s->n = m->n_weights - m->n_frozen;
    s->bucket_floats = ((size_t)bucket_mib << 20) / sizeof(float);
    s->wire = wire;
    begin(s);
    x->on_grads_ready = grads_ready;
    x->on_grads_ctx = s;
    return s;
}

void bmst_grad_sync_finish(struct bmst_grad_sync *s, double *hidden, double *exposed) {
    double t = bmst_now();
    *hidden = s->first_start != 0.0 ? t - s->first_start : 0.0;
    while (s->unsent > 0) send_next(s);
    s->comm->bucket_wait(s->comm);
    *exposed = bmst_now() - t;
    begin(s);
}

float bmst_grad_sync_divisor(const struct bmst_grad_sync *s) {
    return s->wire == BMST_F32 ? (float)s->comm->world : 1.0f;
}
