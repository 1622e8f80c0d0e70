/* The largest batch that fits a memory size (max_batch.h). Planned memory
 * grows with the batch, so a doubling search brackets it and a bisection
 * over multiples of the merge factor finds it; every probe builds and plans
 * the network and allocates none of the plan. */
#include "max_batch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_network.h"
#include "error.h"
#include "recompute.h"
#include "saved.h"

/* The largest batch searched: far beyond any device, and small enough that
 * no shape's element count overflows. */
#define MAX_SEARCH_BATCH (1 << 20)

int bmst_size_parse(const char *opt, const char *text, size_t *bytes) {
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {
        {"", 1.0},     {"B", 1.0},      {"K", 0x1p10},   {"KiB", 0x1p10}, {"KB", 1e3},
        {"M", 0x1p20}, {"MiB", 0x1p20}, {"MB", 1e6},     {"G", 0x1p30},   {"GiB", 0x1p30},
        {"GB", 1e9},   {"T", 0x1p40},   {"TiB", 0x1p40}, {"TB", 1e12},
    };
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end != text && !errno && isfinite(v) && v > 0)
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcmp(end, units[i].suffix) == 0 && v * units[i].scale < 0x1p62) {
                *bytes = (size_t)(v * units[i].scale);
                return 0;
            }
    return bmst_error("%s expects a size above 0 such as 24GiB, 512MiB or 1.5G (units B, K/KiB, "
                      "M/MiB, G/GiB, T/TiB in powers of 1024; KB, MB, GB, TB in powers of 1000), "
                      "got '%s'",
                      opt, text);
}

/* Planned bytes at `batch` (what info prints as "in all"), or 0 with the
 * reason in bmst_last_error() when the network cannot be planned there. */
static size_t planned_at(const struct bmst_cli *cli, int batch, struct bmst_network_spec *spec) {
    struct bmst_cli cand = *cli;
    cand.run.batch = batch;
    struct bmst_cli_network b;
    size_t bytes = 0;
    if (bmst_cli_network_plan(&cand, &b) == 0) bytes = bmst_engine_planned_bytes(&b.engine);
    if (spec) *spec = b.spec;
    bmst_engine_close(&b.engine);
    return bytes;
}

static double mib(size_t bytes) {
    return (double)bytes / (1 << 20);
}

int bmst_info_max_batch(const struct bmst_cli *cli) {
    const int m = cli->run.merge;
    const size_t limit = cli->memory_bytes;
    /* batches are k * m: fits(lo) holds, fits(hi) does not */
    long lo = 1, hi;
    struct bmst_network_spec spec;
    size_t at_lo = planned_at(cli, m, &spec);
    if (at_lo == 0) return -1;
    if (at_lo > limit)
        return bmst_error("%s does not fit %.1f MiB at any batch: batch %d alone plans %.1f MiB",
                          cli->run.arch, mib(limit), m, mib(at_lo));
    for (hi = 2;; hi *= 2) {
        if (hi * m > MAX_SEARCH_BATCH)
            return bmst_error("%s fits %.1f MiB beyond a batch of %d, the largest searched",
                              cli->run.arch, mib(limit), MAX_SEARCH_BATCH);
        size_t bytes = planned_at(cli, (int)(hi * m), NULL);
        if (bytes == 0) return -1;
        if (bytes > limit) break;
        lo = hi, at_lo = bytes;
    }
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        size_t bytes = planned_at(cli, (int)(mid * m), NULL);
        if (bytes == 0) return -1;
        if (bytes <= limit)
            lo = mid, at_lo = bytes;
        else
            hi = mid;
    }
    size_t at_hi = planned_at(cli, (int)(hi * m), NULL);
    if (at_hi == 0) return -1;
    printf("max batch: %ld\n", lo * m);
    printf("%s for %dx%dx%d inputs, %s, merge %d, --act-codec %s, --recompute %s: batch %ld plans "
           "%.1f MiB of the %.1f MiB given, batch %ld %.1f MiB\n",
           spec.arch, spec.h, spec.w, spec.c, bmst_dtype_name(cli->run.precision), m,
           bmst_act_codec_name(cli->run.act_codec), bmst_recompute_name(cli->run.recompute), lo * m,
           mib(at_lo), mib(limit), hi * m, mib(at_hi));
    return 0;
}
