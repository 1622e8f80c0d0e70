/* The ranks' start-up rendezvous (bmst_comm_agree in comm.h): before the
 * first collective whose shape depends on the settings, every rank shows that
 * it is ready and that it runs what rank 0 runs. Ranks started with another
 * network, batch or dataset would otherwise meet in collectives of different
 * sizes (MPI_ERR_TRUNCATE, heap corruption) or of different counts (a hang).
 *
 * The cheap path: rank 0 broadcasts a 64-bit hash of its settings, and one
 * all-reduce sums each rank's "failed" and "differs" flags. Only when a flag
 * is set are the ranks' statuses, messages and settings gathered to rank 0,
 * which prints the one line for the job and broadcasts the exit code every
 * rank then ends with. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"

/* What rank 0 gathers when something is wrong. */
struct record {
    int32_t status;
    char error[512];
    char settings[BMST_SETTINGS_BYTES];
};

void bmst_settings_add(struct bmst_settings *s, const char *name, const char *fmt, ...) {
    char value[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    size_t room = sizeof s->text - s->len;
    int n = snprintf(s->text + s->len, room, "%s\t%s\n", name, value);
    BMST_ASSERT(n > 0 && (size_t)n < room); /* the settings outgrew BMST_SETTINGS_BYTES */
    s->len += (size_t)n;
}

static uint64_t fnv1a(const char *text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

/* The value of setting `name` in `text` (up to the line's end), or NULL. */
static const char *find_value(const char *text, const char *name, size_t name_len, size_t *len) {
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *tab = memchr(line, '\t', (size_t)(end - line));
        if (tab && (size_t)(tab - line) == name_len && memcmp(line, name, name_len) == 0) {
            *len = (size_t)(end - tab - 1);
            return tab + 1;
        }
        line = *end ? end + 1 : end;
    }
    return NULL;
}

/* The first setting of `mine` that `theirs` lacks or gives another value,
 * else the first that only `theirs` has: its name, and both values. */
static void first_difference(const char *mine, const char *theirs, char *name, size_t name_cap,
                             char *v_mine, char *v_theirs, size_t value_cap) {
    for (int pass = 0; pass < 2; pass++) {
        const char *a = pass == 0 ? mine : theirs, *b = pass == 0 ? theirs : mine;
        for (const char *line = a; *line;) {
            const char *end = strchr(line, '\n');
            if (!end) end = line + strlen(line);
            const char *tab = memchr(line, '\t', (size_t)(end - line));
            if (tab) {
                size_t name_len = (size_t)(tab - line), len_a = (size_t)(end - tab - 1), len_b = 0;
                const char *value_b = find_value(b, line, name_len, &len_b);
                if (!value_b || len_a != len_b || memcmp(tab + 1, value_b, len_a) != 0) {
                    snprintf(name, name_cap, "%.*s", (int)name_len, line);
                    char *into_a = pass == 0 ? v_mine : v_theirs;
                    char *into_b = pass == 0 ? v_theirs : v_mine;
                    snprintf(into_a, value_cap, "%.*s", (int)len_a, tab + 1);
                    if (value_b)
                        snprintf(into_b, value_cap, "%.*s", (int)len_b, value_b);
                    else
                        snprintf(into_b, value_cap, "nothing");
                    return;
                }
            }
            line = *end ? end + 1 : end;
        }
    }
    /* the hashes differed but the texts do not: cannot happen for equal texts */
    snprintf(name, name_cap, "the settings");
    snprintf(v_mine, value_cap, "?");
    snprintf(v_theirs, value_cap, "?");
}

/* Rank 0: the line for the job (after "bmst_dist: ") and its exit code. */
static int compose(const struct bmst_comm *c, const struct record *all, char *line, size_t cap) {
    int failed = 0, first = -1, same = 1;
    for (int r = 0; r < c->world; r++) {
        if (all[r].status == 0) continue;
        if (first < 0)
            first = r;
        else if (strcmp(all[r].error, all[first].error) != 0)
            same = 0;
        failed++;
    }
    if (failed == c->world && same) {
        snprintf(line, cap, "error: %s", all[first].error);
        return all[first].status;
    }
    if (failed > 0) {
        char others[64] = "";
        if (failed > 1)
            snprintf(others, sizeof others, " (%d of %d ranks failed)", failed, c->world);
        snprintf(line, cap, "rank %d on %s: error: %s%s", first, c->hosts[first], all[first].error,
                 others);
        return all[first].status;
    }
    /* the settings most ranks share are the reference (so the odd rank out
     * is named even where it is rank 0), and the first other rank is named */
    uint64_t *hash = bmst_xmalloc((size_t)c->world * sizeof *hash);
    for (int r = 0; r < c->world; r++)
        hash[r] = fnv1a(all[r].settings);
    int ref = 0, ref_count = 0;
    for (int r = 0; r < c->world; r++) {
        int count = 0;
        for (int q = 0; q < c->world; q++)
            count += hash[q] == hash[r];
        if (count > ref_count) ref = r, ref_count = count;
    }
    int odd = 0;
    while (odd < c->world && hash[odd] == hash[ref])
        odd++;
    free(hash);
    BMST_ASSERT(odd < c->world); /* some rank's hash differed from rank 0's */
    char name[96], mine[256], theirs[256], also[48] = "";
    first_difference(all[ref].settings, all[odd].settings, name, sizeof name, mine, theirs,
                     sizeof mine);
    if (ref_count > 1)
        snprintf(also, sizeof also, ", as %s %d other rank%s", ref_count > 2 ? "do" : "does",
                 ref_count - 1, ref_count > 2 ? "s" : "");
    snprintf(line, cap,
             "error: the ranks disagree on %s: rank %d on %s has %s, rank %d on %s has %s%s; "
             "every rank must run with the same options and dataset",
             name, odd, c->hosts[odd], theirs, ref, c->hosts[ref], mine, also);
    return strncmp(name, "--", 2) == 0 ? 2 : 1;
}

int bmst_comm_agree(struct bmst_comm *c, int status, const struct bmst_settings *s) {
    if (c->world == 1) return status;
    status = status == 0 ? 0 : status == 2 ? 2 : 1; /* the exit code it stands for */
    const char *text = s ? s->text : "";
    uint64_t root_hash = fnv1a(text);
    c->broadcast_host(c, &root_hash, sizeof root_hash, 0);
    double flags[2] = {status != 0, fnv1a(text) != root_hash};
    c->allreduce_host_f64(c, flags, 2);
    if (flags[0] == 0 && flags[1] == 0) return 0;

    struct record *own = bmst_xcalloc(1, sizeof *own);
    own->status = status;
    if (status != 0) snprintf(own->error, sizeof own->error, "%s", bmst_last_error());
    snprintf(own->settings, sizeof own->settings, "%s", text);
    struct record *all = c->rank == 0 ? bmst_xmalloc((size_t)c->world * sizeof *all) : NULL;
    c->gather_host(c, own, all, sizeof *own, 0);
    int32_t code = 1;
    if (c->rank == 0) {
        char line[1536];
        code = compose(c, all, line, sizeof line);
        /* printed before the others learn the code: they may end the job
         * (mpirun stops the rest) as soon as they exit */
        fprintf(stderr, "bmst_dist: %s\n", line);
        fflush(stderr);
    }
    c->broadcast_host(c, &code, sizeof code, 0);
    free(own);
    free(all);
    c->destroy(c);
    exit(code);
}
