/* bmst_dist: train, evaluate, inspect and benchmark convolutional networks. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "comm.h"
#include "error.h"
#include "bench.h"
#include "export.h"
#include "import.h"
#include "info.h"
#include "max_batch.h"
#include "models/models.h"
#include "predict.h"
#include "signals.h"
#include "version.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: bmst_dist COMMAND [options]\n\n"
            "commands:\n"
            "  train   train a network on a dataset file\n"
            "  eval    score a checkpoint on a dataset's test split\n"
            "  info    layers, parameters and planned memory of a network\n"
            "  bench   training-step throughput on synthetic inputs\n"
            "  export  write a checkpoint's network as ONNX (BN folded; fp32 or int8) or as int8 HDF5\n"
            "  import  a PyTorch state_dict (.pt, .pth) or safetensors file as a checkpoint\n"
            "  predict each sample's top-5 classes (and logits) under a checkpoint, as CSV or "
            "HDF5\n\n"
            "models: %s\n"
            "`bmst_dist COMMAND --help` lists a command's options; `bmst_dist --version` the\n"
            "version, commit and what this build includes.\n",
            bmst_network_names());
}

static int parse_command(const char *word, enum bmst_command *cmd) {
    static const char *words[] = {"train", "eval", "info", "bench", "export", "import", "predict"};
    for (int i = 0; i < 7; i++)
        if (strcmp(word, words[i]) == 0) {
            *cmd = (enum bmst_command)i;
            return 0;
        }
    return -1;
}

/* A bad command line, exit status 2. Under a launcher the rank still joins
 * the job, so that an error every rank has is printed once and one that a
 * single rank has is printed too (bmst_comm_fail_before_start). */
static int usage_error(int *argc, char ***argv) {
    return bmst_comm_fail_before_start(argc, argv, 2);
}

int main(int argc, char **argv) {
    bmst_cpu_blas_select(argv);
    if (argc < 2) {
        bmst_error("no command given (train, eval, info, bench, export, import, predict; see "
                   "bmst_dist --help)");
        return usage_error(&argc, &argv);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        bmst_version_print(stdout);
        return 0;
    }
    enum bmst_command cmd;
    if (parse_command(argv[1], &cmd) != 0) {
        bmst_error("unknown command '%s' (train, eval, info, bench, export, import, predict; "
                   "see bmst_dist --help)",
                   argv[1]);
        return usage_error(&argc, &argv);
    }
    struct bmst_cli cli;
    if (bmst_cli_parse(cmd, argc - 2, argv + 2, &cli) != 0) return usage_error(&argc, &argv);
    if (cli.help) {
        if (bmst_launch_rank() == 0) bmst_cli_print_help(cmd, stdout);
        return 0;
    }
    if (bmst_cli_validate(cmd, &cli) != 0) return usage_error(&argc, &argv);
    /* before MPI may take its own arguments out */
    cli.run.argc = argc;
    cli.run.argv = argv;
    /* one process, no job */
    if (cmd == BMST_CMD_INFO || cmd == BMST_CMD_EXPORT || cmd == BMST_CMD_IMPORT ||
        cmd == BMST_CMD_PREDICT) {
        int status = cmd == BMST_CMD_INFO     ? (cli.max_batch ? bmst_info_max_batch(&cli)
                                                               : bmst_info(&cli))
                     : cmd == BMST_CMD_EXPORT ? bmst_export(&cli)
                     : cmd == BMST_CMD_IMPORT ? bmst_import(&cli)
                                              : bmst_predict(&cli);
        if (status == 0) return 0;
        bmst_report_error("bmst_dist");
        return 1;
    }
    /* before any thread starts: MPI wants to be initialized first */
    struct bmst_comm *comm = bmst_comm_open(&argc, &argv, cli.run.device != BMST_DEVICE_CHOICE_CPU,
                                            cli.run.comm_timeout);
    if (!comm) {
        bmst_report_error("bmst_dist");
        return 1;
    }
    int status = 0;
    switch (cmd) {
    case BMST_CMD_TRAIN: status = bmst_train(&cli.run, comm); break;
    case BMST_CMD_EVAL: status = bmst_eval(&cli.run, comm); break;
    case BMST_CMD_BENCH: status = bmst_bench(&cli, comm); break;
    case BMST_CMD_INFO:
    case BMST_CMD_EXPORT:
    case BMST_CMD_IMPORT:
    case BMST_CMD_PREDICT: break;
    }
    if (status == BMST_EXIT_STOPPED) return status; /* told on stdout where and why */
    if (status != 0) {
        bmst_report_error("bmst_dist");
        return 1;
    }
    return 0;
}
