/* A network's parameters: a table of named tensors (PyTorch state_dict names)
 * with offsets into flat buffers, shared by the training and evaluation graphs
 * of the same network. Trainable weights, their gradients and the optimizer's
 * state (src/optim/) share one layout, so the optimizer and the all-reduce
 * each make one pass; batch-norm running statistics live in a separate
 * buffer. */
#ifndef BMST_MODEL_H
#define BMST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

enum bmst_param_role {
    BMST_PARAM_WEIGHT, /* trainable: in weights / grads (and the optimizer's state) */
    BMST_PARAM_BUFFER, /* running statistics: in buffers, no gradient */
};

enum bmst_param_init {
    BMST_INIT_CONV_KAIMING, /* normal, std = sqrt(2 / fan_out), as torchvision's ResNet */
    BMST_INIT_FC_WEIGHT,    /* uniform(+-1/sqrt(fan_in)), PyTorch's Linear default */
    BMST_INIT_FC_BIAS,      /* uniform(+-1/sqrt(fan_in)) */
    BMST_INIT_ONES,
    BMST_INIT_ZEROS,
    BMST_INIT_TRUNC_NORMAL, /* normal, std = init_std, redrawn outside [-2, 2] as
                               torch.nn.init.trunc_normal_(a=-2, b=2) */
};

#define BMST_PARAM_NAME_MAX 96

struct bmst_param {
    char name[BMST_PARAM_NAME_MAX]; /* "layer1.0.conv1.weight" */
    enum bmst_param_role role;
    enum bmst_param_init init;
    size_t offset; /* in floats, into weights or buffers by role */
    size_t count;
    int ndim;
    int dims[4];   /* PyTorch's layout: conv OIHW [k, c, r, s], linear [out, in] */
    int conv_krsc; /* stored here as KRSC, converted to OIHW in checkpoints */
    int fan_in;    /* for the FC initializers */
    /* for BMST_INIT_TRUNC_NORMAL */
    float init_std;
    /* --freeze (param_groups.h): a weight that never changes (no gradient,
     * no optimizer state); a buffer whose running statistics stay as they
     * are (--freeze-bn: its batch norm runs as in evaluation) */
    int frozen;
    int head; /* the classifier's: trained at --lr-head */
};

struct bmst_model {
    char arch[32];
    struct bmst_backend *be;
    struct bmst_param *params;
    int n_params, cap_params;
    size_t n_weights; /* floats in weights and grads each */
    /* floats at the start of weights held by frozen parameters, which
     * bmst_param_groups_apply places first: the trainable ones are
     * weights[n_frozen, n_weights), the range the optimizer's state, the
     * all-reduce and the clip norm cover */
    size_t n_frozen;
    size_t n_buffers; /* floats in buffers */
    int allocated;    /* after bmst_model_allocate the table is frozen */
    float *weights;   /* [n_weights] backend memory */
    float *grads;     /* [n_weights] */
    float *buffers;   /* [n_buffers] BN running mean / var */
    /* [n_weights] in the backend's act_dtype: the copy convolutions and fully
     * connected layers read. The fp32 weights themselves under fp32. */
    void *weights_act;
};

void bmst_model_init(struct bmst_model *m, struct bmst_backend *be, const char *arch);
void bmst_model_free(struct bmst_model *m);

/* Registers a parameter while the model is being built the first time, or
 * returns the existing one with that name (the evaluation graph reuses them).
 * dims are PyTorch's; conv_krsc marks a 4-d conv weight stored as KRSC. */
int bmst_model_param(struct bmst_model *m, const char *name, enum bmst_param_role role,
                     enum bmst_param_init init, int ndim, const int *dims, int conv_krsc,
                     int fan_in);
int bmst_model_find(const struct bmst_model *m, const char *name);
/* Gives parameter `name` (registered) torchvision's truncated-normal start
 * with standard deviation `std` instead of its op's default. */
void bmst_model_init_trunc_normal(struct bmst_model *m, const char *name, float std);

/* Allocates the flat buffers (one allocation each) and freezes the table. */
int bmst_model_allocate(struct bmst_model *m);
/* Fills weights and buffers by each parameter's initializer from the seed;
 * zeroes the gradients; refreshes the compute copy. */
void bmst_model_initialize(struct bmst_model *m, uint64_t seed);
/* weights_act = weights in act_dtype, after the weights were written from
 * outside the optimizer (initialization, a loaded checkpoint) */
void bmst_model_refresh_act(struct bmst_model *m);
/* Writes host copies of every weight and buffer (in the flat layout) to the
 * device and refreshes the compute copy: what loading a file ends with. */
void bmst_model_set(struct bmst_model *m, const float *weights, const float *buffers);

/* Parameter `param` (an index, or -1) is a weight that trains. */
int bmst_model_trains(const struct bmst_model *m, int param);

float *bmst_model_data(const struct bmst_model *m, int param);
const void *bmst_model_act_data(const struct bmst_model *m, int param);
float *bmst_model_grad(const struct bmst_model *m, int param);
size_t bmst_model_bytes(const struct bmst_model *m); /* every buffer above */
int bmst_model_allocations(const struct bmst_model *m); /* how many bmst_model_allocate makes */

#endif
