/* The deadline on the MPI collectives, and the inquiry that names the rank
 * that stopped answering (mpi_watch.h).
 *
 * The main thread waits: comm/mpi.c starts every collective non-blocking and
 * waits for it here, testing it in a loop that yields the CPU between tests
 * as Open MPI's own blocking waits do where ranks share cores. No other
 * thread calls MPI, so MPI_THREAD_FUNNELED is enough. While collectives end
 * in time nothing else is sent: the cost is a clock read per test and an
 * MPI_Iprobe every 2 ms of waiting.
 *
 * Past the deadline this rank asks every other rank where it is, on a
 * communicator of its own. A rank that waits in a collective (so in this
 * loop) answers at once with how many collectives it has started, which one
 * it waits in and for how long, and starts asking too, so that every rank
 * still answering takes part. A rank that gives no answer within a grace
 * period (a quarter of the timeout, 2 to 10 s) is stopped, dead, or stuck
 * outside MPI: that is the rank to name. Where every rank answers, they wait
 * in different collectives (the ranks are out of step) or MPI itself is
 * stuck. The lowest rank that answered prints the one message and aborts
 * the job; every other one waits a further grace period for each answering
 * rank below it (should that rank's wait have ended meanwhile), then reports
 * itself. A collective that completes during the inquiry ends it: the job
 * goes on. */
#include "mpi_watch.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

#define POLL_S 0.002 /* how often a waiting rank looks for questions */
#define GRACE_MIN_S 2.0
#define GRACE_MAX_S 10.0
#define NAMED_MAX 4 /* silent ranks named one by one; the rest are counted */

enum { TAG_ASK, TAG_ANSWER, TAGS };

/* A message, and what a rank knows of its own wait: the question's number
 * (the asker's count of inquiries), the collectives the sender has started,
 * the kind it waits in, and for how many milliseconds. */
enum { MSG_INQUIRY, MSG_SEQ, MSG_KIND, MSG_WAITED_MS, MSG_LEN };

static const char *const kind_names[MPI_WATCH_KINDS] = {"an all-reduce", "a broadcast",
                                                        "a gather",      "a barrier",
                                                        "an all-gather", "the gradient all-reduce"};

struct mpi_watch {
    MPI_Comm comm; /* the inquiry's own */
    const struct bmst_comm *c;
    long long seq;     /* collectives this rank has started */
    long long inquiry; /* this rank's inquiries so far */
    /* [TAGS * world]: the last message of each tag sent to each rank */
    long long (*out)[MSG_LEN];
    MPI_Request *out_req;
    /* the open inquiry */
    int asking, decided;
    double decide_at, report_at;
    unsigned char *answered;     /* [world] */
    long long (*heard)[MSG_LEN]; /* [world] what each answer said */
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double grace_s(const struct mpi_watch *w) {
    double g = w->c->timeout_s / 4;
    return g < GRACE_MIN_S ? GRACE_MIN_S : g > GRACE_MAX_S ? GRACE_MAX_S : g;
}

struct mpi_watch *mpi_watch_create(MPI_Comm world, const struct bmst_comm *c) {
    struct mpi_watch *w = bmst_xcalloc(1, sizeof *w);
    w->c = c;
    MPI_Comm_dup(world, &w->comm);
    MPI_Comm_set_errhandler(w->comm, MPI_ERRORS_RETURN);
    w->out = bmst_xcalloc((size_t)TAGS * c->world, sizeof *w->out);
    w->out_req = bmst_xmalloc((size_t)TAGS * c->world * sizeof *w->out_req);
    for (int i = 0; i < TAGS * c->world; i++)
        w->out_req[i] = MPI_REQUEST_NULL;
    w->answered = bmst_xcalloc((size_t)c->world, 1);
    w->heard = bmst_xcalloc((size_t)c->world, sizeof *w->heard);
    return w;
}

void mpi_watch_free(struct mpi_watch *w) {
    for (int i = 0; i < TAGS * w->c->world; i++)
        if (w->out_req[i] != MPI_REQUEST_NULL) MPI_Request_free(&w->out_req[i]);
    MPI_Comm_free(&w->comm);
    free(w->out);
    free(w->out_req);
    free(w->answered);
    free(w->heard);
    free(w);
}

void mpi_watch_started(struct mpi_watch *w) {
    w->seq++;
}

/* Sends msg to rank `to`, unless the previous message of that tag to it is
 * still on its way (then the peer has not taken it: nothing new to say). */
static void send_to(struct mpi_watch *w, int to, int tag, const long long *msg) {
    int i = tag * w->c->world + to, done = 1;
    if (w->out_req[i] != MPI_REQUEST_NULL) MPI_Test(&w->out_req[i], &done, MPI_STATUS_IGNORE);
    if (!done) return;
    memcpy(w->out[i], msg, sizeof w->out[i]);
    MPI_Isend(w->out[i], MSG_LEN, MPI_LONG_LONG, to, tag, w->comm, &w->out_req[i]);
}

static void begin_inquiry(struct mpi_watch *w, const long long *mine, double now) {
    const struct bmst_comm *c = w->c;
    w->asking = 1;
    w->decided = 0;
    w->inquiry++;
    w->decide_at = now + grace_s(w);
    memset(w->answered, 0, (size_t)c->world);
    w->answered[c->rank] = 1;
    memcpy(w->heard[c->rank], mine, sizeof w->heard[c->rank]);
    long long ask[MSG_LEN] = {w->inquiry, mine[MSG_SEQ], mine[MSG_KIND], mine[MSG_WAITED_MS]};
    for (int r = 0; r < c->world; r++)
        if (r != c->rank) send_to(w, r, TAG_ASK, ask);
}

/* Answers the questions that have arrived and takes in the answers to ours. */
static void serve(struct mpi_watch *w, const long long *mine, double now) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, w->comm, &flag, &st) != MPI_SUCCESS || !flag)
            return;
        long long msg[MSG_LEN];
        if (MPI_Recv(msg, MSG_LEN, MPI_LONG_LONG, st.MPI_SOURCE, st.MPI_TAG, w->comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return;
        if (st.MPI_TAG == TAG_ASK) {
            long long answer[MSG_LEN] = {msg[MSG_INQUIRY], mine[MSG_SEQ], mine[MSG_KIND],
                                         mine[MSG_WAITED_MS]};
            send_to(w, st.MPI_SOURCE, TAG_ANSWER, answer);
            /* a deadline passed elsewhere: find out too, so that the ranks
             * still answering choose one of them to report */
            if (!w->asking) begin_inquiry(w, mine, now);
        } else if (w->asking && msg[MSG_INQUIRY] == w->inquiry) {
            w->answered[st.MPI_SOURCE] = 1;
            memcpy(w->heard[st.MPI_SOURCE], msg, sizeof msg);
        } /* else an answer to an inquiry that a completed collective ended */
    }
}

/* "rank 1 on HOST", "ranks 1 on A and 3 on B", "ranks 1 on A, 3 on B, ... and 7 more". */
static size_t name_silent(const struct mpi_watch *w, char *buf, size_t cap, int silent) {
    const struct bmst_comm *c = w->c;
    size_t len = (size_t)snprintf(buf, cap, "rank%s", silent > 1 ? "s" : "");
    int named = 0;
    for (int r = 0; r < c->world && named < NAMED_MAX && len < cap; r++) {
        if (w->answered[r]) continue;
        named++;
        const char *sep = named == 1 ? " " : named == silent ? " and " : ", ";
        len += (size_t)snprintf(buf + len, cap - len, "%s%d on %s", sep, r, c->hosts[r]);
    }
    if (silent > named && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, " and %d more", silent - named);
    return len < cap ? len : cap - 1;
}

/* Prints the job's message and aborts every rank. */
static void report(const struct mpi_watch *w, const long long *mine) {
    const struct bmst_comm *c = w->c;
    char text[1024];
    size_t len = 0;
    int silent = 0;
    long long waited_ms = 0;
    for (int r = 0; r < c->world; r++) {
        silent += !w->answered[r];
        if (w->answered[r] && w->heard[r][MSG_WAITED_MS] > waited_ms)
            waited_ms = w->heard[r][MSG_WAITED_MS];
    }
    const char *kind = kind_names[mine[MSG_KIND]];
    if (silent > 0) {
        len = name_silent(w, text, sizeof text, silent);
        snprintf(text + len, sizeof text - len,
                 " stopped answering: the other ranks waited %.1f s for %s in %s (collective "
                 "%lld), and %s did not answer within %.1f s",
                 (double)waited_ms / 1e3, silent > 1 ? "them" : "it", kind, mine[MSG_SEQ],
                 silent > 1 ? "they" : "it", grace_s(w));
    } else {
        int odd = 0;
        while (odd < c->world && w->heard[odd][MSG_SEQ] == mine[MSG_SEQ] &&
               w->heard[odd][MSG_KIND] == mine[MSG_KIND])
            odd++;
        if (odd < c->world)
            snprintf(text, sizeof text,
                     "the ranks are out of step: rank %d on %s waits in %s (collective %lld) while "
                     "rank %d on %s waits in %s (collective %lld), and every rank still answers",
                     odd, c->hosts[odd], kind_names[w->heard[odd][MSG_KIND]],
                     w->heard[odd][MSG_SEQ], c->rank, c->hosts[c->rank], kind, mine[MSG_SEQ]);
        else
            snprintf(text, sizeof text,
                     "every rank has waited up to %.1f s in %s (collective %lld) and still "
                     "answers: MPI or the network between the ranks is stuck",
                     (double)waited_ms / 1e3, kind, mine[MSG_SEQ]);
    }
    fprintf(stderr, "bmst_dist: %serror: %s; ending the job (--comm-timeout %g)\n",
            bmst_error_origin(), text, c->timeout_s);
    fflush(stderr);
    MPI_Abort(w->comm, 1);
    exit(1); /* MPI_Abort does not return; in case an implementation does */
}

/* After the grace period: the lowest rank that answered reports now, the
 * others later, in rank order, should no abort have come by then. */
static void decide(struct mpi_watch *w) {
    int below = 0;
    for (int r = 0; r < w->c->rank; r++)
        below += w->answered[r];
    w->decided = 1;
    w->report_at = w->decide_at + below * grace_s(w);
}

int mpi_watch_wait(struct mpi_watch *w, int n, MPI_Request *requests, enum mpi_watch_kind kind) {
    const double start = now_s();
    double next_poll = start + POLL_S;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS || done) {
            w->asking = 0;
            return rc;
        }
        double t = now_s();
        if (t >= next_poll) {
            next_poll = t + POLL_S;
            long long mine[MSG_LEN] = {0, w->seq, kind, (long long)((t - start) * 1e3)};
            serve(w, mine, t);
            if (!w->asking && t - start >= w->c->timeout_s) begin_inquiry(w, mine, t);
            if (w->asking && !w->decided && t >= w->decide_at) decide(w);
            if (w->asking && w->decided && t >= w->report_at) report(w, mine);
        }
        sched_yield();
    }
}
