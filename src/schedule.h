/* Learning-rate schedules evaluated per optimizer step: constant, multistep
 * (multiply by gamma at each milestone epoch) or cosine (PyTorch's
 * CosineAnnealingLR over the steps after the warmup, stepped every step: it
 * reaches zero just after the last step, whose own rate is small but not
 * zero), each optionally after a linear warmup. */
#ifndef BMST_SCHEDULE_H
#define BMST_SCHEDULE_H

#define BMST_MAX_MILESTONES 16

enum bmst_schedule_kind { BMST_SCHEDULE_CONSTANT, BMST_SCHEDULE_MULTISTEP, BMST_SCHEDULE_COSINE };

struct bmst_schedule {
    enum bmst_schedule_kind kind;
    float base_lr;
    int milestones[BMST_MAX_MILESTONES]; /* epochs, ascending */
    int n_milestones;
    float gamma;
    long warmup_steps;
    long steps_per_epoch;
    long total_steps;
};

float bmst_schedule_lr(const struct bmst_schedule *s, long step);
/* Parses "cosine", "multistep", "constant"; -1 for anything else. */
int bmst_schedule_parse_kind(const char *name, enum bmst_schedule_kind *kind);
/* Parses "30,60,90" into ascending milestones; -1 with a message when malformed. */
int bmst_schedule_parse_milestones(const char *text, struct bmst_schedule *s);

#endif
