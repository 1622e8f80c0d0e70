/* Learning-rate schedules. */
#include "schedule.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

float bmst_schedule_lr(const struct bmst_schedule *s, long step) {
    if (step < s->warmup_steps) return s->base_lr * (float)(step + 1) / (float)s->warmup_steps;
    switch (s->kind) {
    case BMST_SCHEDULE_CONSTANT: return s->base_lr;
    case BMST_SCHEDULE_MULTISTEP: {
        long epoch = s->steps_per_epoch > 0 ? step / s->steps_per_epoch : 0;
        float lr = s->base_lr;
        for (int i = 0; i < s->n_milestones; i++)
            if (epoch >= s->milestones[i]) lr *= s->gamma;
        return lr;
    }
    case BMST_SCHEDULE_COSINE: {
        long span = s->total_steps - s->warmup_steps;
        if (span <= 0) return s->base_lr;
        double t = (double)(step - s->warmup_steps) / (double)span;
        if (t > 1.0) t = 1.0;
        return (float)(0.5 * s->base_lr * (1.0 + cos(M_PI * t)));
    }
    }
    return s->base_lr;
}

int bmst_schedule_parse_kind(const char *name, enum bmst_schedule_kind *kind) {
    if (strcmp(name, "cosine") == 0) *kind = BMST_SCHEDULE_COSINE;
    else if (strcmp(name, "multistep") == 0) *kind = BMST_SCHEDULE_MULTISTEP;
    else if (strcmp(name, "constant") == 0) *kind = BMST_SCHEDULE_CONSTANT;
    else return bmst_error("unknown schedule '%s' (cosine, multistep, constant)", name);
    return 0;
}

int bmst_schedule_parse_milestones(const char *text, struct bmst_schedule *s) {
    s->n_milestones = 0;
    const char *p = text;
    do {
        char *end = (char *)p;
        long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1; /* digits only */
        if (v < 0 || v > INT_MAX || (*end && *end != ',') || (*end == ',' && !end[1]))
            return bmst_error("bad milestones '%s' (expected epochs like 30,60,90)", text);
        if (s->n_milestones == BMST_MAX_MILESTONES)
            return bmst_error("at most %d milestones", BMST_MAX_MILESTONES);
        if (s->n_milestones > 0 && v <= s->milestones[s->n_milestones - 1])
            return bmst_error("milestones '%s' must be ascending", text);
        s->milestones[s->n_milestones++] = (int)v;
        p = *end ? end + 1 : end;
    } while (*p);
    return 0;
}
