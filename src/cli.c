/* The option table and its parser. Each option names the field it sets, so
 * parsing, help and validation read from one place. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "error.h"
#include "models/models.h"
#include "max_batch.h"
#include "output_paths.h"
#include "recompute.h"
#include "saved.h"

enum kind { INT, FLOAT, TEXT, FLAG, ARCH, MIX_AT, SCHEDULE, MILESTONES, SHAPE, SEED, PRECISION,
            DEVICE, GPU_ALIAS, FP16_ALIAS, AUGMENT, ON_OFF, GRAD_COMM, FAULT, ON_NAN, ACT_CODEC,
            RECOMPUTE, SIZE,
            OPTIMIZER, BETAS, NO_DECAY, EVAL_TEST, SPLIT, PRUNE_SCOPE, STEM, EXPORT_FORMAT };

#define TRAIN (1 << BMST_CMD_TRAIN)
#define EVAL (1 << BMST_CMD_EVAL)
#define INFO (1 << BMST_CMD_INFO)
#define BENCH (1 << BMST_CMD_BENCH)
#define EXPORT (1 << BMST_CMD_EXPORT)
#define IMPORT (1 << BMST_CMD_IMPORT)
#define PREDICT (1 << BMST_CMD_PREDICT)
#define ALL (TRAIN | EVAL | INFO | BENCH | PREDICT)

struct option {
    const char *name;  /* --name */
    const char *alias; /* -alias, or NULL */
    enum kind kind;
    int commands;      /* where the option is accepted */
    size_t field;      /* offsetof in struct bmst_cli */
    double min;        /* numeric options: smallest accepted value */
    double max;        /* and the largest; 0: no bound but the type's */
    const char *help;
};

/* Beyond these a value is a typo, not a setting: each thread takes a stack
 * (and OpenBLAS a buffer of about 140 MiB), each prefetched batch memory. */
#define MAX_THREADS 1024
#define MAX_PREFETCH 256

#define RUN(f) offsetof(struct bmst_cli, run.f)
#define CLI(f) offsetof(struct bmst_cli, f)

static const struct option options[] = {
    {"data", NULL, TEXT, ALL | EXPORT, RUN(data_path), 0, 0,
     "PATH  dataset file (bmst_data format); export: --calibrate's training images"},
    {"checkpoint", NULL, TEXT, EVAL | EXPORT | PREDICT, RUN(checkpoint_path), 0, 0,
     "PATH  checkpoint to evaluate, export or predict with"},
    {"out", "o", TEXT, EXPORT | PREDICT, CLI(out_path), 0, 0,
     "PATH  export: the file to write; predict: P.csv or P.h5"},
    {"format", NULL, EXPORT_FORMAT, EXPORT, 0, 0, 0,
     "onnx|int8-h5  (by --out's extension: .h5 int8-h5, else onnx)"},
    {"int8", NULL, FLAG, EVAL | EXPORT, RUN(int8), 0, 0,
     "  int8 conv and fc weights, per output channel (eval: scored dequantized)"},
    {"calibrate", NULL, INT, EXPORT, CLI(calibrate), 1, 0,
     "N  --int8 ONNX: also quantize activations, ranges from N training batches of --data"},
    {"logits", NULL, FLAG, PREDICT, CLI(logits), 0, 0, "  predict: each sample's logits too"},
    {"net", "net", ARCH, TRAIN | INFO | BENCH | IMPORT, RUN(arch), 0, 0,
     "NAME  model (default resnet20)"},
    {"shape", NULL, SHAPE, INFO | BENCH | IMPORT, 0, 0, 0,
     "HxWxC  input shape without --data (32x32x3; import: 224x224x3)"},
    {"classes", NULL, INT, INFO | BENCH | IMPORT, CLI(classes), 1, 0,
     "K  classes without --data (10; import: 1000)"},
    {"stem", NULL, STEM, TRAIN | INFO | BENCH | IMPORT, 0, 0, 0,
     "cifar|imagenet  ImageNet-style ResNets' stem (by input size: cifar up to 64 px)"},
    {"init", NULL, TEXT, TRAIN, RUN(init_path), 0, 0,
     "PATH  start from a checkpoint's weights only (fine-tuning; not a resume)"},
    {"reset-classifier", NULL, FLAG, TRAIN, RUN(reset_classifier), 0, 0,
     "  with --init: the classifier starts fresh even at the same class count"},
    {"epochs", NULL, INT, TRAIN, RUN(epochs), 1, 0, "N  epochs to train (3)"},
    {"batch", "b", INT, TRAIN | INFO | BENCH | EXPORT, RUN(batch), 1, 0,
     "N  training batch size (128); export: --calibrate's batches"},
    {"eval-batch", NULL, INT, TRAIN | EVAL | PREDICT, RUN(eval_batch), 1, 0,
     "N  evaluation batch size (256)"},
    {"lr", "lr", FLOAT, TRAIN, RUN(schedule.base_lr), 0, 0, "X  peak learning rate (0.1)"},
    {"schedule", NULL, SCHEDULE, TRAIN, 0, 0, 0, "cosine|multistep|constant  (cosine)"},
    {"milestones", NULL, MILESTONES, TRAIN, 0, 0, 0, "E1,E2,..  multistep epochs"},
    {"gamma", NULL, FLOAT, TRAIN, RUN(schedule.gamma), 0, 0, "X  multistep factor (0.1)"},
    {"warmup-epochs", NULL, FLOAT, TRAIN, RUN(warmup_epochs), 0, 0, "X  linear warmup (0)"},
    {"optimizer", NULL, OPTIMIZER, TRAIN | INFO | BENCH, 0, 0, 0, "sgd|adam|adamw  (sgd)"},
    {"momentum", NULL, FLOAT, TRAIN, RUN(optim.momentum), 0, 0, "X  SGD momentum (0.9)"},
    {"nesterov", NULL, FLAG, TRAIN, RUN(optim.nesterov), 0, 0, "  SGD: Nesterov momentum"},
    {"betas", NULL, BETAS, TRAIN, 0, 0, 0,
     "B1,B2  Adam/AdamW moment decays, each in [0, 1) (0.9,0.999)"},
    {"eps", NULL, FLOAT, TRAIN, RUN(optim.eps), 0, 0,
     "E  Adam/AdamW denominator term, above 0 (1e-8)"},
    {"weight-decay", "wd", FLOAT, TRAIN, RUN(optim.weight_decay), 0, 0,
     "X  weight decay: L2 (SGD, Adam), decoupled (AdamW) (5e-4)"},
    {"no-decay", NULL, NO_DECAY, TRAIN | INFO | BENCH, 0, 0, 0,
     "bn,bias  exempt BN parameters and/or biases from weight decay (none)"},
    {"freeze", NULL, TEXT, TRAIN | INFO | BENCH, RUN(optim.freeze), 0, 0,
     "P1,P2,..  keep the parameters under these name prefixes fixed (conv1,bn1,layer1)"},
    {"freeze-bn", NULL, FLAG, TRAIN | INFO | BENCH, RUN(optim.freeze_bn), 0, 0,
     "  --freeze: their batch norms' running statistics too (eval mode)"},
    {"lr-head", NULL, FLOAT, TRAIN, RUN(optim.lr_head), 0, 0,
     "X  the classifier's peak learning rate, same schedule (--lr)"},
    {"label-smoothing", NULL, FLOAT, TRAIN, RUN(label_smoothing), 0, 0, "X  in [0, 1) (0)"},
    {"clip-norm", NULL, FLOAT, TRAIN, RUN(clip_norm), 0, 0, "X  clip the gradient's global norm (off)"},
    {"prune-to", NULL, FLOAT, TRAIN, RUN(prune.to), 0, 0,
     "S  prune conv and fc weights gradually to sparsity S in [0, 1) (off)"},
    {"prune-start", NULL, FLOAT, TRAIN, RUN(prune.start), 0, 0,
     "E0  epoch (fractions allowed) pruning starts at (0)"},
    {"prune-end", NULL, FLOAT, TRAIN, RUN(prune.end), 0, 0,
     "E1  epoch the final sparsity is reached at (--epochs)"},
    {"prune-every", NULL, INT, TRAIN, RUN(prune.every), 1, 0, "N  steps between mask updates (100)"},
    {"prune-scope", NULL, PRUNE_SCOPE, TRAIN, 0, 0, 0,
     "global|layer  smallest magnitudes over all layers or per layer (global)"},
    {"merge", "merge", INT, TRAIN | INFO | BENCH, RUN(merge), 1, BMST_MAX_MERGE,
     "M  BMST merge factor, 1 (off) to 8"},
    {"mix-at", NULL, MIX_AT, TRAIN | INFO | BENCH, 0, 0, 0,
     "cN  where BMST merges: c2..c5, inceptionv3 c2..c16 (c2)"},
    {"aux-logits", NULL, FLAG, TRAIN | INFO | BENCH | IMPORT, RUN(aux_logits), 0, 0,
     "  inceptionv3 (299 px and more): train the auxiliary classifier too"},
    {"mix-alpha", NULL, FLOAT, TRAIN, RUN(mix_alpha), 1e-6, 0, "A  lam ~ Beta(A, A) (1)"},
    {"augment", NULL, AUGMENT, TRAIN | PREDICT, 0, 0, 0,
     "auto|on|off  crop+flip; random resized crops above 64 px (auto: on; predict: off scores "
     "the images as stored, not eval's central crop)"},
    {"loader-threads", NULL, INT, TRAIN | EVAL, RUN(loader_threads), 1, MAX_THREADS,
     "N  threads augmenting batches, beside the reader (2)"},
    {"prefetch", NULL, INT, TRAIN | EVAL, RUN(prefetch), 1, MAX_PREFETCH, "N  batches kept ready (4)"},
    {"seed", NULL, SEED, TRAIN | BENCH, 0, 0, 0, "N  makes a run reproducible (1)"},
    {"threads", NULL, INT, ALL | EXPORT | IMPORT, RUN(threads), 1, MAX_THREADS, "N  CPU threads (OpenMP default)"},
    {"max-steps", NULL, INT, TRAIN, RUN(max_steps), 1, 0, "N  cut every epoch to N steps"},
    {"save", NULL, TEXT, TRAIN, RUN(save_path), 0, 0, "PATH  checkpoint after every epoch"},
    {"resume", NULL, TEXT, TRAIN, RUN(resume_path), 0, 0,
     "PATH|auto  continue from a checkpoint (auto: --save's, when it exists)"},
    {"save-every", NULL, INT, TRAIN, RUN(save_every), 1, 0, "N  also checkpoint every N steps"},
    {"keep-best", NULL, TEXT, TRAIN, RUN(keep_best_path), 0, 0,
     "PATH  checkpoint of the best accuracy (/val's when there is one, else /test's)"},
    {"eval-test", NULL, EVAL_TEST, TRAIN, 0, 0, 0,
     "end|every-epoch  with /val: when /test is scored (end: after the last epoch)"},
    {"split", NULL, SPLIT, EVAL | PREDICT, 0, 0, 0,
     "test|val  the split to score (test); predict: train too"},
    {"confusion", NULL, TEXT, EVAL, RUN(confusion_path), 0, 0,
     "OUT.csv  the confusion matrix (rows: true class, columns: predicted)"},
    {"tensorboard", NULL, TEXT, TRAIN, RUN(tensorboard_dir), 0, 0,
     "DIR  TensorBoard event file of per-step and per-epoch scalars"},
    {"log-every", NULL, INT, TRAIN, RUN(log_every), 1, 0, "N  steps between per-step scalars (10)"},
    {"csv", NULL, TEXT, TRAIN, RUN(csv_path), 0, 0, "PATH  one row per epoch"},
    {"steps", NULL, INT, BENCH, CLI(steps), 1, 0, "N  timed steps (20)"},
    {"warmup", NULL, INT, BENCH, CLI(warmup), 0, 0, "N  untimed steps first (3)"},
    {"check-reconstruction", NULL, FLAG, BENCH, CLI(check_reconstruction), 0, 0,
     "  revnets: one more step, each unit's input rebuilt in backward against forward's"},
    {"precision", NULL, PRECISION, ALL, 0, 0, 0, "fp32|fp16|bf16  activations' type (fp32)"},
    {"fp16", "fp16", FP16_ALIAS, ALL, 0, 0, 0, "  alias of --precision fp16"},
    {"loss-scale", NULL, FLOAT, TRAIN | BENCH, RUN(loss_scale), 1, 0, "S  fp16's first loss scale (65536)"},
    {"loss-scale-window", NULL, INT, TRAIN | BENCH, RUN(loss_scale_window), 1, 0,
     "N  clean fp16 steps before the scale doubles (2000)"},
    {"device", NULL, DEVICE, ALL, 0, 0, 0, "cpu|cuda|auto  (auto: the GPU when there is one)"},
    {"gpu", "gpu", GPU_ALIAS, ALL, 0, 0, 0, "  alias of --device cuda"},
    {"cuda-graph", NULL, ON_OFF, TRAIN | BENCH, RUN(capture), 0, 0,
     "on|off  replay the training pass as one CUDA graph (on)"},
    {"deterministic", NULL, FLAG, TRAIN | BENCH, RUN(deterministic), 0, 0,
     "  GPU: the same bits every run (deterministic cuDNN algorithms)"},
    {"act-codec", NULL, ACT_CODEC, TRAIN | INFO | BENCH, 0, 0, 0,
     "plain|relu-mask|division  how activations are kept for backward (plain)"},
    {"division-block", NULL, INT, TRAIN | INFO | BENCH, RUN(division_block), 1, 1024,
     "B  --act-codec division: the low-frequency part's B x B tiles (8)"},
    {"division-bits", NULL, INT, TRAIN | INFO | BENCH, RUN(division_bits), 1, 8,
     "Q  --act-codec division: bits per high-frequency element, 1, 2, 4 or 8 (2)"},
    {"recompute", NULL, RECOMPUTE, TRAIN | INFO | BENCH, 0, 0, 0,
     "none|bn-relu|block  rerun forward in backward instead of keeping activations (none)"},
    {"max-batch", NULL, FLAG, INFO, CLI(max_batch), 0, 0,
     "  the largest batch whose planned memory fits --memory (replaces --batch)"},
    {"memory", NULL, SIZE, INFO, 0, 0, 0, "SIZE  --max-batch's budget: 24GiB, 512MiB, 1.5G, ..."},
    {"sync-bn", NULL, FLAG, TRAIN, RUN(sync_bn), 0, 0, "  batch-norm statistics over all ranks"},
    {"grad-comm", NULL, GRAD_COMM, TRAIN | BENCH, 0, 0, 0, "fp32|fp16|bf16  gradients' type on the wire (fp32)"},
    {"bucket-mib", NULL, INT, TRAIN | BENCH, RUN(bucket_mib), 1, 0, "N  gradient all-reduce bucket (25)"},
    {"comm-timeout", NULL, FLOAT, TRAIN | EVAL | BENCH, RUN(comm_timeout), 0.001, 0,
     "S  seconds a collective waits for the other ranks (300)"},
    {"report", NULL, TEXT, TRAIN, RUN(report_path), 0, 0, "PATH  JSON: every rank's timings, memory"},
    {"on-nan", NULL, ON_NAN, TRAIN, 0, 0, 0,
     "abort|skip  inf/NaN in the loss, gradients or statistics (abort)"},
    {"check-replicas", NULL, FLAG, TRAIN, RUN(check_replicas), 0, 0,
     "  compare all ranks' weights every step"},
    {"inject-fault", NULL, FAULT, TRAIN, 0, 0, 0,
     "RANK:STEP[:perturb|:nan]  tests only: fail there"},
    {"help", "h", FLAG, ALL | EXPORT | IMPORT, CLI(help), 0, 0, "  this list"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static const char *command_name(enum bmst_command cmd) {
    static const char *names[] = {"train", "eval", "info", "bench", "export", "import", "predict"};
    return names[cmd];
}

/* The option `arg` names: --name or -alias, the first `len` bytes of arg. */
static const struct option *find_option(const char *arg, size_t len) {
    if (arg[0] != '-') return NULL;
    int long_form = arg[1] == '-';
    const char *name = arg + (long_form ? 2 : 1);
    len -= (size_t)(name - arg);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *candidate = long_form ? options[i].name : options[i].alias;
        if (candidate && strlen(candidate) == len && strncmp(candidate, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

/* min and max as in struct option (max 0: none). */
static int check_range(const char *opt, const char *text, double v, double min, double max) {
    if (v < min) return bmst_error("%s must be at least %g, got '%s'", opt, min, text);
    if (max > 0 && v > max) return bmst_error("%s must be at most %g, got '%s'", opt, max, text);
    return 0;
}

static int parse_double(const char *opt, const char *text, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v))
        return bmst_error("%s expects a finite number, got '%s'", opt, text);
    if (check_range(opt, text, v, min, max) != 0) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *text, double min, double max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v > INT_MAX || v < INT_MIN)
        return bmst_error("%s expects an integer, got '%s'", opt, text);
    if (check_range(opt, text, (double)v, min, max) != 0) return -1;
    *out = (int)v;
    return 0;
}

/* The shapes a dataset can hold (docs/dataset-format.md). */
static int parse_shape(const char *text, struct bmst_cli *cli) {
    char tail;
    if (sscanf(text, "%dx%dx%d%c", &cli->shape_h, &cli->shape_w, &cli->shape_c, &tail) != 3 ||
        cli->shape_h < 1 || cli->shape_w < 1 || cli->shape_c < 1)
        return bmst_error("--shape expects HxWxC such as 32x32x3, got '%s'", text);
    if (cli->shape_h > BMST_MAX_SIDE || cli->shape_w > BMST_MAX_SIDE ||
        cli->shape_c > BMST_MAX_CHANNELS)
        return bmst_error("--shape %s: sides up to %d and up to %d channels, as a dataset holds",
                          text, BMST_MAX_SIDE, BMST_MAX_CHANNELS);
    return 0;
}

static int parse_fault(const char *text, struct bmst_fault *f) {
    char kind[16] = "";
    int n = sscanf(text, "%d:%ld:%15s", &f->rank, &f->step, kind);
    int known = 1;
    if (n < 3) f->kind = BMST_FAULT_FAIL;
    else if (strcmp(kind, "perturb") == 0) f->kind = BMST_FAULT_PERTURB;
    else if (strcmp(kind, "nan") == 0) f->kind = BMST_FAULT_NAN;
    else if (strcmp(kind, "sigterm") == 0) f->kind = BMST_FAULT_SIGTERM;
    else known = 0;
    if (n < 2 || f->rank < 0 || f->step < 0 || !known)
        return bmst_error("--inject-fault expects RANK:STEP or RANK:STEP: followed by perturb, nan "
                          "or sigterm, got '%s'",
                          text);
    return 0;
}

/* --betas B1,B2: each in [0, 1), as torch.optim.Adam requires. */
static int parse_betas(const char *text, struct bmst_optim_config *c) {
    char *end;
    errno = 0;
    double b1 = strtod(text, &end), b2 = -1.0;
    if (end != text && *end == ',') {
        const char *second = end + 1;
        b2 = strtod(second, &end);
        if (end == second) b2 = -1.0;
    }
    if (errno || *end || !(b1 >= 0.0 && b1 < 1.0) || !(b2 >= 0.0 && b2 < 1.0))
        return bmst_error("--betas expects B1,B2 with each in [0, 1), such as 0.9,0.999, got '%s'",
                          text);
    c->beta1 = b1;
    c->beta2 = b2;
    return 0;
}

static int set_value(const struct option *o, const char *opt, const char *value,
                     struct bmst_cli *cli) {
    char *field = (char *)cli + o->field;
    if (o->field == RUN(merge)) cli->merge_set = 1;
    switch (o->kind) {
    case INT: return parse_int(opt, value, o->min, o->max, (int *)field);
    case FLOAT: {
        double v = 0.0;
        if (parse_double(opt, value, o->min, o->max, &v) != 0) return -1;
        if (!isfinite((float)v))
            return bmst_error("%s expects a finite number, got '%s' (beyond a float's range)",
                              opt, value);
        *(float *)field = (float)v;
        return 0;
    }
    case TEXT: *(const char **)field = value; return 0;
    case ARCH:
        if (strlen(value) >= sizeof cli->run.arch)
            return bmst_error("unknown model '%s' (known: %s)", value, bmst_network_names());
        snprintf(cli->run.arch, sizeof cli->run.arch, "%s", value);
        return 0;
    case MIX_AT:
        /* cN; which N a network has is checked with the network */
        if (value[0] != 'c' || strlen(value) < 2 || strlen(value) > 3 ||
            strspn(value + 1, "0123456789") != strlen(value + 1) || atoi(value + 1) < 2)
            return bmst_error("--mix-at expects c2, c3, ... (resnets: c2..c5), got '%s'", value);
        cli->run.mix_at = atoi(value + 1);
        cli->mix_at_set = 1;
        return 0;
    case SCHEDULE: return bmst_schedule_parse_kind(value, &cli->run.schedule.kind);
    case MILESTONES: return bmst_schedule_parse_milestones(value, &cli->run.schedule);
    case SHAPE: return parse_shape(value, cli);
    case SEED: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end || errno || value[0] == '-')
            return bmst_error("--seed expects a non-negative integer, got '%s'", value);
        cli->run.seed = v;
        return 0;
    }
    case AUGMENT:
        if (strcmp(value, "auto") == 0) cli->run.augment = -1;
        else if (strcmp(value, "on") == 0) cli->run.augment = 1;
        else if (strcmp(value, "off") == 0) cli->run.augment = 0;
        else return bmst_error("--augment expects auto, on or off, got '%s'", value);
        return 0;
    case PRECISION:
        if (strcmp(value, "fp32") == 0) cli->run.precision = BMST_F32;
        else if (strcmp(value, "fp16") == 0) cli->run.precision = BMST_F16;
        else if (strcmp(value, "bf16") == 0) cli->run.precision = BMST_BF16;
        else return bmst_error("--precision expects fp32, fp16 or bf16, got '%s'", value);
        return 0;
    case DEVICE:
        if (strcmp(value, "cpu") == 0) cli->run.device = BMST_DEVICE_CHOICE_CPU;
        else if (strcmp(value, "cuda") == 0) cli->run.device = BMST_DEVICE_CHOICE_CUDA;
        else if (strcmp(value, "auto") == 0) cli->run.device = BMST_DEVICE_CHOICE_AUTO;
        else return bmst_error("--device expects cpu, cuda or auto, got '%s'", value);
        return 0;
    case ON_OFF:
        if (strcmp(value, "on") == 0) *(int *)field = 1;
        else if (strcmp(value, "off") == 0) *(int *)field = 0;
        else return bmst_error("%s expects on or off, got '%s'", opt, value);
        return 0;
    case GRAD_COMM:
        if (strcmp(value, "fp32") == 0) cli->run.grad_comm = BMST_F32;
        else if (strcmp(value, "fp16") == 0) cli->run.grad_comm = BMST_F16;
        else if (strcmp(value, "bf16") == 0) cli->run.grad_comm = BMST_BF16;
        else return bmst_error("--grad-comm expects fp32, fp16 or bf16, got '%s'", value);
        return 0;
    case ON_NAN:
        if (strcmp(value, "abort") == 0) cli->run.skip_nonfinite = 0;
        else if (strcmp(value, "skip") == 0) cli->run.skip_nonfinite = 1;
        else return bmst_error("--on-nan expects abort or skip, got '%s'", value);
        return 0;
    case FAULT: return parse_fault(value, &cli->run.fault);
    case ACT_CODEC:
        if (bmst_act_codec_parse(value, &cli->run.act_codec) != 0)
            return bmst_error("--act-codec expects plain, relu-mask or division, got '%s'",
                              value);
        return 0;
    case RECOMPUTE:
        if (bmst_recompute_parse(value, &cli->run.recompute) != 0)
            return bmst_error("--recompute expects none, bn-relu or block, got '%s'", value);
        return 0;
    case SIZE: return bmst_size_parse(opt, value, &cli->memory_bytes);
    case OPTIMIZER:
        if ((cli->run.optim.kind = bmst_optim_kind_find(value)) < 0)
            return bmst_error("--optimizer expects %s, got '%s'", bmst_optim_kind_names(), value);
        return 0;
    case BETAS: return parse_betas(value, &cli->run.optim);
    case EVAL_TEST:
        if (strcmp(value, "end") == 0) cli->run.eval_test_every = 0;
        else if (strcmp(value, "every-epoch") == 0) cli->run.eval_test_every = 1;
        else return bmst_error("--eval-test expects end or every-epoch, got '%s'", value);
        return 0;
    case SPLIT:
        if (strcmp(value, "test") == 0) cli->run.eval_split = BMST_SPLIT_TEST;
        else if (strcmp(value, "val") == 0) cli->run.eval_split = BMST_SPLIT_VAL;
        else if (strcmp(value, "train") == 0) cli->run.eval_split = BMST_SPLIT_TRAIN;
        else return bmst_error("--split expects test, val or train, got '%s'", value);
        return 0;
    case STEM:
        if (bmst_stem_parse(value, &cli->run.stem) != 0)
            return bmst_error("--stem expects cifar or imagenet, got '%s'", value);
        return 0;
    case NO_DECAY: return bmst_no_decay_parse(value, &cli->run.optim.no_decay);
    case PRUNE_SCOPE: return bmst_prune_scope_parse(value, &cli->run.prune.scope);
    case EXPORT_FORMAT:
        if (strcmp(value, "onnx") == 0) cli->format = BMST_EXPORT_ONNX;
        else if (strcmp(value, "int8-h5") == 0) cli->format = BMST_EXPORT_INT8_H5;
        else return bmst_error("--format expects onnx or int8-h5, got '%s'", value);
        return 0;
    case FLAG:
    case GPU_ALIAS:
    case FP16_ALIAS: break;
    }
    return 0;
}

/* BMST_NCCL_TIMEOUT_S, the older name of --comm-timeout's default: -1 with a
 * message when it is set but not a number of seconds above 0. */
static int timeout_from_environment(float *timeout_s) {
    const char *text = getenv("BMST_NCCL_TIMEOUT_S");
    if (!text || !*text) return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !(v > 0.0) || v > 1e9)
        return bmst_error("BMST_NCCL_TIMEOUT_S=%s: expected a number of seconds above 0", text);
    *timeout_s = (float)v;
    return 0;
}

/* A seed name ("c3mixt_resnet50") is its base network with that mix point
 * and, unless --merge is given, a merge of 2. */
static int resolve_seed_name(struct bmst_cli *cli) {
    const char *base;
    int mix_at;
    if (!bmst_network_seed_name(cli->run.arch, &base, &mix_at)) return 0;
    if (cli->mix_at_set && cli->run.mix_at != mix_at)
        return bmst_error("--net %s merges at c%d; --mix-at c%d contradicts it", cli->run.arch,
                          mix_at, cli->run.mix_at);
    snprintf(cli->run.arch, sizeof cli->run.arch, "%s", base);
    cli->run.mix_at = mix_at;
    if (!cli->merge_set) cli->run.merge = 2;
    return 0;
}

/* DIVISION packs whole codes into bytes: Q divides 8. Its settings set
 * under another codec would be ignored without a word: refused. */
static int check_division(const struct bmst_cli *cli) {
    int q = cli->run.division_bits;
    if (q != 1 && q != 2 && q != 4 && q != 8)
        return bmst_error("--division-bits expects 1, 2, 4 or 8, got %d", q);
    if (cli->run.act_codec != BMST_ACT_CODEC_DIVISION && (cli->run.division_block != 8 || q != 2))
        return bmst_error("--division-block and --division-bits apply to --act-codec division");
    return 0;
}

/* --resume auto: the --save file when it exists, else a new run; so one
 * command line serves a job's first submission and every requeue. */
static int resolve_resume_auto(struct bmst_run_config *r) {
    if (!r->resume_path || strcmp(r->resume_path, "auto") != 0) return 0;
    if (!r->save_path)
        return bmst_error("--resume auto needs --save PATH: it resumes from that file when it "
                          "exists");
    r->resume_auto = 1;
    r->resume_path = access(r->save_path, F_OK) == 0 ? r->save_path : NULL;
    return 0;
}

int bmst_cli_parse(enum bmst_command cmd, int argc, char **argv, struct bmst_cli *cli) {
    memset(cli, 0, sizeof *cli);
    bmst_run_config_defaults(&cli->run);
    if (timeout_from_environment(&cli->run.comm_timeout) != 0) return -1;
    cli->shape_h = cli->shape_w = 32;
    cli->shape_c = 3;
    cli->classes = 10;
    cli->steps = 20;
    cli->warmup = 3;
    if (cmd == BMST_CMD_IMPORT) { /* torchvision's ImageNet weights */
        cli->shape_h = cli->shape_w = 224;
        cli->classes = 1000;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        /* import IN OUT.h5: its two paths */
        if (cmd == BMST_CMD_IMPORT && arg[0] != '-') {
            if (cli->n_import_paths == 2)
                return bmst_error("import takes two paths, IN and OUT.h5; '%s' is a third", arg);
            cli->import_paths[cli->n_import_paths++] = arg;
            continue;
        }
        /* --name=value, as argparse takes it */
        const char *equals = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t name_len = equals ? (size_t)(equals - arg) : strlen(arg);
        const struct option *o = find_option(arg, name_len);
        if (!o)
            return bmst_error("unknown option '%.*s' for %s (see bmst_dist %s --help)",
                              (int)name_len, arg, command_name(cmd), command_name(cmd));
        if (!(o->commands & (1 << cmd)))
            return bmst_error("option '%.*s' does not apply to %s", (int)name_len, arg,
                              command_name(cmd));
        int takes_value = o->kind != GPU_ALIAS && o->kind != FP16_ALIAS && o->kind != FLAG;
        if (equals && !takes_value)
            return bmst_error("option '--%s' takes no value, got '%s'", o->name, arg);
        if (equals) {
            char name[64];
            snprintf(name, sizeof name, "--%s", o->name);
            if (set_value(o, name, equals + 1, cli) != 0) return -1;
            continue;
        }
        if (o->kind == GPU_ALIAS) {
            cli->run.device = BMST_DEVICE_CHOICE_CUDA;
            continue;
        }
        if (o->kind == FP16_ALIAS) {
            cli->run.precision = BMST_F16;
            continue;
        }
        if (o->kind == FLAG) {
            *(int *)((char *)cli + o->field) = 1;
            continue;
        }
        /* "--data --batch 32": the value is missing, not "--batch" */
        if (i + 1 >= argc || find_option(argv[i + 1], strlen(argv[i + 1])) ||
            strncmp(argv[i + 1], "--", 2) == 0)
            return bmst_error("option '%s' needs a value", arg);
        if (set_value(o, arg, argv[++i], cli) != 0) return -1;
    }
    if (resolve_seed_name(cli) != 0 || check_division(cli) != 0) return -1;
    cli->run.optim.lr_peak = cli->run.schedule.base_lr; /* --lr-head's rate is relative to it */
    return resolve_resume_auto(&cli->run);
}

/* --aux-logits: the network has an auxiliary classifier that takes the
 * input, the dataset's (--data) or --shape's, checked before anything runs. */
static int check_aux_logits(const struct bmst_cli *cli) {
    const struct bmst_run_config *r = &cli->run;
    if (!r->aux_logits) return 0;
    int h = cli->shape_h, w = cli->shape_w;
    if (r->data_path) {
        struct bmst_dataset *ds;
        if (bmst_dataset_open(r->data_path, &ds) != 0) return -1;
        h = bmst_dataset_get_info(ds)->h;
        w = bmst_dataset_get_info(ds)->w;
        bmst_dataset_close(ds);
    }
    return bmst_network_check_aux(r->arch, h, w);
}

/* An option another optimizer reads, set away from its default, would be
 * ignored without a word: refused instead (--betas with SGD, --momentum
 * with Adam). */
static int check_optimizer_options(const struct bmst_optim_config *c) {
    struct bmst_optim_config defaults;
    bmst_optim_config_defaults(&defaults);
    struct bmst_optim_hyper own[BMST_OPTIM_MAX_HYPERS], set[BMST_OPTIM_MAX_HYPERS],
        unset[BMST_OPTIM_MAX_HYPERS];
    int n_own = bmst_optim_hypers(c, own);
    for (int k = 0; bmst_optim_type_of(k); k++) {
        struct bmst_optim_config other = *c, other_defaults = defaults;
        other.kind = other_defaults.kind = k;
        int n = bmst_optim_hypers(&other, set);
        bmst_optim_hypers(&other_defaults, unset);
        for (int i = 0; i < n; i++) {
            int read = 0;
            for (int j = 0; j < n_own && !read; j++) read = strcmp(own[j].name, set[i].name) == 0;
            if (!read && memcmp(set[i].value, unset[i].value, sizeof set[i].value) != 0)
                return bmst_error("%s does not apply to --optimizer %s", set[i].option,
                                  bmst_optim_type_of(c->kind)->name);
        }
    }
    return 0;
}

/* --prune-*: a final sparsity below 1, reached by the run's last epoch;
 * the schedule's options without --prune-to would do nothing. */
static int check_prune_options(const struct bmst_run_config *r) {
    const struct bmst_prune_config *p = &r->prune;
    struct bmst_prune_config unset;
    bmst_prune_config_defaults(&unset);
    if (p->to == 0.0f) {
        if (p->start != unset.start || p->end != unset.end || p->every != unset.every ||
            p->scope != unset.scope)
            return bmst_error("--prune-start, --prune-end, --prune-every and --prune-scope need "
                              "--prune-to S");
        return 0;
    }
    if (!(p->to < 1.0f)) return bmst_error("--prune-to must be below 1, got %g", (double)p->to);
    double end = p->end < 0.0f ? r->epochs : p->end;
    if (end > r->epochs)
        return bmst_error("--prune-end %g is beyond the run's %d epochs (--epochs)", end,
                          r->epochs);
    if ((double)p->start > end)
        return bmst_error("--prune-start %g is after --prune-end %g", (double)p->start, end);
    return 0;
}

/* --freeze-bn and --lr-head's settings that would mean nothing. A pruning
 * mask covers every weight and its state, which frozen weights lack. */
static int check_freeze_options(const struct bmst_run_config *r) {
    const struct bmst_optim_config *o = &r->optim;
    int freezes = o->freeze && *o->freeze;
    if (o->freeze_bn && !freezes)
        return bmst_error("--freeze-bn needs --freeze PREFIX,...: it fixes the running statistics "
                          "of the frozen layers' batch norms");
    if (freezes && r->prune.to > 0.0f)
        return bmst_error("--freeze and --prune-to cannot be combined");
    if (o->lr_head >= 0.0f && !(r->schedule.base_lr > 0.0f))
        return bmst_error("--lr-head needs --lr above 0: the head's rate is --lr's schedule "
                          "scaled by lr-head / lr");
    return 0;
}

/* export: --calibrate quantizes an int8 ONNX model's activations from
 * --data's training images; the int8 HDF5 holds weights only. */
static int check_export_options(const struct bmst_cli *cli) {
    if (cli->calibrate > 0 && bmst_export_format(cli) == BMST_EXPORT_INT8_H5)
        return bmst_error("--calibrate quantizes an ONNX model's activations; the int8 HDF5 "
                          "holds weights only");
    if (cli->calibrate > 0 && !cli->run.int8)
        return bmst_error("--calibrate N needs --int8 (it quantizes the activations of an int8 "
                          "model)");
    if (cli->calibrate > 0 && !cli->run.data_path)
        return bmst_error("--calibrate N needs --data PATH, the dataset whose training images "
                          "it runs");
    if (cli->run.data_path && cli->calibrate == 0)
        return bmst_error("export reads --data only for --calibrate N");
    return 0;
}

enum bmst_export_format bmst_export_format(const struct bmst_cli *cli) {
    if (cli->format != BMST_EXPORT_BY_NAME) return cli->format;
    size_t len = strlen(cli->out_path);
    int h5 = (len >= 3 && strcmp(cli->out_path + len - 3, ".h5") == 0) ||
             (len >= 5 && strcmp(cli->out_path + len - 5, ".hdf5") == 0);
    return h5 ? BMST_EXPORT_INT8_H5 : BMST_EXPORT_ONNX;
}

int bmst_cli_validate(enum bmst_command cmd, const struct bmst_cli *cli) {
    const struct bmst_run_config *r = &cli->run;
    if ((cmd == BMST_CMD_TRAIN || cmd == BMST_CMD_EVAL || cmd == BMST_CMD_PREDICT) &&
        !r->data_path)
        return bmst_error("%s needs --data PATH (a file made by bmst_data)", command_name(cmd));
    /* eval, export and predict build the network their checkpoint names */
    int from_checkpoint =
        cmd == BMST_CMD_EVAL || cmd == BMST_CMD_EXPORT || cmd == BMST_CMD_PREDICT;
    if (!from_checkpoint && (bmst_network_check(r->arch, r->mix_at) != 0 ||
                             bmst_network_check_stem(r->arch, r->stem) != 0))
        return -1;
    if (cmd == BMST_CMD_EVAL && r->eval_split == BMST_SPLIT_TRAIN)
        return bmst_error("--split expects test or val, got 'train' (predict scores train)");
    if (cmd == BMST_CMD_IMPORT && cli->n_import_paths != 2)
        return bmst_error("import needs IN (a .safetensors, .pt or .pth file) and OUT.h5, the "
                          "checkpoint to write");
    if (cmd == BMST_CMD_PREDICT && (!r->checkpoint_path || !cli->out_path))
        return bmst_error("predict needs --checkpoint PATH and --out P.csv or P.h5");
    /* with --resume auto a requeued fine-tuning job continues from its own
     * checkpoint (once there is one) and --init no longer applies */
    if (r->reset_classifier && !r->init_path)
        return bmst_error("--reset-classifier needs --init PATH: it keeps the classifier out of "
                          "the weights --init loads");
    if (r->init_path && r->resume_path && !r->resume_auto)
        return bmst_error("--init starts a new run from a checkpoint's weights, --resume "
                          "continues one: give one of them");
    if (check_aux_logits(cli) != 0) return -1;
    if ((cmd == BMST_CMD_EVAL || cmd == BMST_CMD_EXPORT) && !r->checkpoint_path)
        return bmst_error("%s needs --checkpoint PATH", command_name(cmd));
    if (cmd == BMST_CMD_EXPORT && !cli->out_path)
        return bmst_error("export needs --out PATH, the file to write");
    if (cmd == BMST_CMD_EXPORT && check_export_options(cli) != 0) return -1;
    if (r->merge > 1 && !cli->max_batch && r->batch % r->merge != 0)
        return bmst_error("batch size %d is not divisible by the merge factor %d", r->batch,
                          r->merge);
    if (r->label_smoothing >= 1.0f) return bmst_error("--label-smoothing must be below 1");
    if (!(r->optim.eps > 0.0f)) return bmst_error("--eps must be above 0, got %g", r->optim.eps);
    if (check_optimizer_options(&r->optim) != 0) return -1;
    if (check_prune_options(r) != 0) return -1;
    if (cli->max_batch != (cli->memory_bytes > 0))
        return bmst_error("--max-batch and --memory SIZE go together: the largest batch that fits "
                          "SIZE");
    if (check_freeze_options(r) != 0) return -1;
    if (r->save_every > 0 && !r->save_path)
        return bmst_error("--save-every needs --save PATH, the file it writes");
    /* the files train reads and writes: distinct, and each output writable */
    if (cmd == BMST_CMD_TRAIN || cmd == BMST_CMD_EVAL) return bmst_output_paths_check(r);
    return 0;
}

void bmst_cli_print_help(enum bmst_command cmd, FILE *out) {
    fprintf(out, "usage: bmst_dist %s [options]%s\n\noptions:\n", command_name(cmd),
            cmd == BMST_CMD_IMPORT ? " IN OUT.h5  (IN: .safetensors, .pt or .pth)" : "");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &options[i];
        if (!(o->commands & (1 << cmd))) continue;
        char names[48];
        if (o->alias) snprintf(names, sizeof names, "--%s, -%s", o->name, o->alias);
        else snprintf(names, sizeof names, "--%s", o->name);
        fprintf(out, "  %-22s %s\n", names, o->help);
    }
}
