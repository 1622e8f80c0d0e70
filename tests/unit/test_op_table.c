/* The op table: an entry per op kind, each named once, with a forward (and a
 * backward and a kernel check where the op takes a gradient and has kernels);
 * a backend without an op's kernels fails the plan, before any step, with
 * one line naming the op and the backend (for every op kind resnet18 with
 * BMST uses, and for the ReLU codec's kernels), and never calls a kernel;
 * and the FLOPs the table counts for resnet20's convolutions are the ones
 * worked out by hand. */
#include <string.h>

#include "check.h"
#include "error.h"
#include "graph.h"
#include "models/models.h"
#include "ops/op.h"

static void test_entries(void) {
    for (int k = 0; k < BMST_OP_KIND_COUNT; k++) {
        const struct bmst_op_def *op = bmst_op(k);
        CHECK(op && op->name && op->forward, "kind %d: incomplete entry", k);
        if (!op || !op->name) continue;
        CHECK(strcmp(bmst_op_name(k), op->name) == 0, "kind %d: name %s", k, bmst_op_name(k));
        CHECK(k == BMST_OP_INPUT || (op->backward && op->supported),
              "%s: no backward or no kernel check", op->name);
        CHECK(op->n_saved >= 0 && op->n_saved <= BMST_MAX_SAVED, "%s: %d saved uses", op->name,
              op->n_saved);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(bmst_op(j)->name, op->name) != 0, "kinds %d and %d are both %s", j, k,
                  op->name);
    }
    CHECK(strcmp(bmst_op_name(BMST_OP_CONV), "conv") == 0 &&
              strcmp(bmst_op_name(BMST_OP_XENT), "xent") == 0,
          "the list and the enum disagree: %s, %s", bmst_op_name(BMST_OP_CONV),
          bmst_op_name(BMST_OP_XENT));
}

/* The CPU backend with one kernel group taken away. */
static struct bmst_backend *cpu;
static struct bmst_backend lacking;

static void take_away(enum bmst_op_kind kind) {
    lacking = *cpu;
    switch (kind) {
    case BMST_OP_CONV:
        lacking.conv = NULL;
        break;
    case BMST_OP_BN:
        lacking.bn = NULL;
        break;
    case BMST_OP_RELU:
        lacking.relu = NULL;
        break;
    case BMST_OP_ADD:
        lacking.add = NULL;
        break;
    case BMST_OP_MAXPOOL:
        lacking.maxpool = NULL;
        break;
    case BMST_OP_GAP:
        lacking.gap = NULL;
        break;
    case BMST_OP_FC:
        lacking.fc = NULL;
        break;
    case BMST_OP_MIX:
        lacking.mix = NULL;
        break;
    case BMST_OP_XENT:
        lacking.xent = NULL;
        break;
    default:
        BMST_ASSERT(!"an op resnet18 does not use");
    }
}

/* Plans resnet18 (its ImageNet stem: a max pool; BMST at c2) on `be`:
 * returns bmst_graph_plan's status. */
static int plan_on(struct bmst_backend *be, enum bmst_act_codec codec) {
    struct bmst_network_spec spec = {
        .arch = "resnet18", .h = 96, .w = 96, .c = 3, .classes = 5, .mix_at = BMST_MIX_C2};
    struct bmst_model model;
    struct bmst_graph g;
    bmst_model_init(&model, be, spec.arch);
    bmst_graph_init(&g, &model, 1, 4, 2, spec.classes);
    g.act_codec = codec;
    BMST_ASSERT(bmst_network_build(&g, &spec) == 0);
    int status = bmst_graph_plan(&g);
    bmst_graph_free(&g);
    bmst_model_free(&model);
    return status;
}

static void test_missing_kernels(void) {
    CHECK(plan_on(cpu, BMST_ACT_CODEC_RELU_MASK) == 0, "the whole CPU backend: %s",
          bmst_last_error());
    const enum bmst_op_kind used[] = {BMST_OP_CONV, BMST_OP_BN,      BMST_OP_RELU,
                                      BMST_OP_ADD,  BMST_OP_MAXPOOL, BMST_OP_GAP,
                                      BMST_OP_FC,   BMST_OP_MIX,     BMST_OP_XENT};
    for (size_t i = 0; i < sizeof used / sizeof *used; i++) {
        take_away(used[i]);
        char want[128];
        snprintf(want, sizeof want, "the cpu backend has no kernels for the %s op",
                 bmst_op_name(used[i]));
        CHECK(plan_on(&lacking, BMST_ACT_CODEC_PLAIN) == -1, "planned without %s kernels",
              bmst_op_name(used[i]));
        const char *msg = bmst_last_error();
        CHECK(strstr(msg, want) == msg && strchr(msg, '\n') == NULL, "without %s: '%s'",
              bmst_op_name(used[i]), msg);
    }
    /* the ReLU codec's packing: needed only when the codec is asked for */
    lacking = *cpu;
    lacking.sign_mask = NULL;
    CHECK(plan_on(&lacking, BMST_ACT_CODEC_PLAIN) == 0, "plain needs no sign mask: %s",
          bmst_last_error());
    CHECK(plan_on(&lacking, BMST_ACT_CODEC_RELU_MASK) == -1,
          "relu-mask planned without its kernels");
    CHECK(strcmp(bmst_last_error(),
                 "the cpu backend has no kernels for the relu-mask activation codec "
                 "(--act-codec relu-mask)") == 0,
          "'%s'", bmst_last_error());
    /* DIVISION's kernels, likewise */
    lacking = *cpu;
    lacking.division = NULL;
    CHECK(plan_on(&lacking, BMST_ACT_CODEC_PLAIN) == 0, "plain needs no DIVISION kernels: %s",
          bmst_last_error());
    CHECK(plan_on(cpu, BMST_ACT_CODEC_DIVISION) == 0, "division on the CPU: %s",
          bmst_last_error());
    CHECK(plan_on(&lacking, BMST_ACT_CODEC_DIVISION) == -1, "division planned without its kernels");
    CHECK(strcmp(bmst_last_error(),
                 "the cpu backend has no kernels for the division activation codec "
                 "(--act-codec division)") == 0,
          "'%s'", bmst_last_error());
}

/* resnet20 on 32x32x3, by hand: multiply-adds per image of the stem
 * (32*32*16*3*9), layer1 (6 convs of 32*32*16*16*9), layer2 (its first
 * 3x3 from 16 channels, five of 16*16*32*32*9 and the 1x1 projection) and
 * layer3 alike at 8x8 with 64 channels: 40,812,544. Training adds the
 * filter gradient of every conv and the input gradient of all but the
 * stem's, each as costly as its forward. */
static void test_flops(void) {
    const double forward_macs = 442368.0 + 6 * 2359296.0 + (1179648.0 + 5 * 2359296.0 + 131072.0) +
                                (1179648.0 + 5 * 2359296.0 + 131072.0);
    struct bmst_network_spec spec = {
        .arch = "resnet20", .h = 32, .w = 32, .c = 3, .classes = 10, .mix_at = BMST_MIX_C2};
    for (int training = 0; training <= 1; training++) {
        struct bmst_model model;
        struct bmst_graph g;
        bmst_model_init(&model, cpu, spec.arch);
        bmst_graph_init(&g, &model, training, 1, 1, spec.classes);
        BMST_ASSERT(bmst_network_build(&g, &spec) == 0 && bmst_graph_plan(&g) == 0);
        double conv = 0.0;
        for (int i = 0; i < g.n_nodes; i++)
            if (g.nodes[i].kind == BMST_OP_CONV) conv += bmst_op_node_flops(&g, &g.nodes[i]);
        double want = 2 * forward_macs * (training ? 3 : 1) - (training ? 2 * 442368.0 : 0.0);
        CHECK(conv == want, "resnet20 %s: conv FLOPs %.0f, by hand %.0f",
              training ? "training" : "evaluation", conv, want);
        bmst_graph_free(&g);
        bmst_model_free(&model);
    }
}

int main(void) {
    cpu = bmst_backend_cpu_create(1, BMST_F32);
    test_entries();
    test_missing_kernels();
    test_flops();
    cpu->destroy(cpu);
    return check_finish("op_table");
}
