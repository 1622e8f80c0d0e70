/* The network that `info` and `bench` build from their command line: the
 * shape from --data or --shape and --classes, then the engine. */
#include "cli_network.h"

#include <stdio.h>
#include <string.h>

#include "dataset.h"

static int spec_from_cli(const struct bmst_cli *cli, struct bmst_network_spec *spec) {
    memset(spec, 0, sizeof *spec);
    snprintf(spec->arch, sizeof spec->arch, "%s", cli->run.arch);
    spec->mix_at = cli->run.mix_at;
    spec->aux_logits = cli->run.aux_logits;
    spec->stem = cli->run.stem;
    spec->h = cli->shape_h, spec->w = cli->shape_w, spec->c = cli->shape_c;
    spec->classes = cli->classes;
    if (!cli->run.data_path) return 0;
    struct bmst_dataset *ds;
    if (bmst_dataset_open(cli->run.data_path, &ds) != 0) return -1;
    const struct bmst_dataset_info *info = bmst_dataset_get_info(ds);
    spec->h = info->h, spec->w = info->w, spec->c = info->c, spec->classes = info->classes;
    bmst_dataset_close(ds);
    return 0;
}

static void engine_config(const struct bmst_cli *cli, const struct bmst_network_spec *spec,
                          int with_eval, int gpu, int quiet, struct bmst_engine_config *out) {
    struct bmst_engine_config ec = {
        .device = cli->run.device, .precision = cli->run.precision, .threads = cli->run.threads,
        .capture = cli->run.capture, .deterministic = cli->run.deterministic,
        .act_codec = cli->run.act_codec, .division_block = cli->run.division_block,
        .division_bits = cli->run.division_bits, .recompute = cli->run.recompute,
        .spec = *spec, .train_batch = cli->run.batch,
        .merge = cli->run.merge, .optim = cli->run.optim,
        .eval_batch = with_eval ? cli->run.batch : 0,
        .seed = cli->run.seed, .gpu = gpu, .quiet = quiet};
    *out = ec;
}

int bmst_cli_network_open(const struct bmst_cli *cli, int with_eval, int gpu, int quiet,
                          struct bmst_cli_network *b) {
    memset(b, 0, sizeof *b);
    if (spec_from_cli(cli, &b->spec) != 0) return -1;
    struct bmst_engine_config ec;
    engine_config(cli, &b->spec, with_eval, gpu, quiet, &ec);
    return bmst_engine_open(&b->engine, &ec);
}

int bmst_cli_network_plan(const struct bmst_cli *cli, struct bmst_cli_network *b) {
    memset(b, 0, sizeof *b);
    if (spec_from_cli(cli, &b->spec) != 0) return -1;
    struct bmst_engine_config ec;
    engine_config(cli, &b->spec, 1, 0, 1, &ec);
    return bmst_engine_plan(&b->engine, &ec);
}
