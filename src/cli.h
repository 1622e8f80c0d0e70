/* Command-line options: a table of long options (with the seed project's
 * single-dash short forms as aliases) parsed into a run configuration. */
#ifndef BMST_CLI_H
#define BMST_CLI_H

#include <stdio.h>

#include "train.h"

/* export --format: what --out is written as (BY_NAME: by its extension). */
enum bmst_export_format { BMST_EXPORT_BY_NAME, BMST_EXPORT_ONNX, BMST_EXPORT_INT8_H5 };

/* What the commands accept beyond the run configuration. */
struct bmst_cli {
    struct bmst_run_config run;
    int shape_h, shape_w, shape_c; /* info / bench without --data */
    int classes;
    int steps, warmup; /* bench */
    const char *out_path; /* export: the file to write; predict: the CSV or HDF5 file */
    const char *import_paths[2]; /* import: IN (safetensors, .pt, .pth) and OUT.h5 */
    int n_import_paths;
    int logits; /* predict --logits: each sample's logits too */
    /* bench: one more step measuring every reversible unit's rebuilt input */
    int check_reconstruction;
    enum bmst_export_format format; /* export --format */
    int calibrate;                  /* export --calibrate N: batches; 0: weights only */
    int help;
    /* info --max-batch: search the largest batch whose plan fits
     * memory_bytes (--memory SIZE; 0: not given) */
    int max_batch;
    size_t memory_bytes;
    /* given on the command line: a seed name ("c2mixt_resnet18") sets the
     * mix point and a merge of 2, which --merge overrides and a different
     * --mix-at contradicts */
    int merge_set, mix_at_set;
};

enum bmst_command { BMST_CMD_TRAIN, BMST_CMD_EVAL, BMST_CMD_INFO, BMST_CMD_BENCH, BMST_CMD_EXPORT,
                    BMST_CMD_IMPORT, BMST_CMD_PREDICT };

/* Parses argv (after the command word) into cli. Returns 0, or -1 with a
 * one-line message for an unknown option, a missing or malformed value, or a
 * value out of range. A seed name given to --net becomes its base network
 * and mix point (run.arch is then the base network's name). */
int bmst_cli_parse(enum bmst_command cmd, int argc, char **argv, struct bmst_cli *cli);
/* Checks that hold across options (batch divisible by merge, paths given). */
int bmst_cli_validate(enum bmst_command cmd, const struct bmst_cli *cli);
void bmst_cli_print_help(enum bmst_command cmd, FILE *out);
/* What export writes: --format, else .h5 or .hdf5 the int8 HDF5, else ONNX. */
enum bmst_export_format bmst_export_format(const struct bmst_cli *cli);

#endif
