/* Dynamic loss scaling (see loss_scale.h). */
#include "loss_scale.h"

void bmst_loss_scaler_init(struct bmst_loss_scaler *s, enum bmst_dtype act_dtype, float initial,
                           int window) {
    s->enabled = act_dtype == BMST_F16;
    s->scale = s->enabled ? initial : 1.0f;
    s->window = window;
    s->clean_steps = 0;
    s->skipped = 0;
}

enum bmst_scaler_verdict bmst_loss_scaler_update(struct bmst_loss_scaler *s, int nonfinite) {
    if (!s->enabled) return BMST_SCALER_APPLY;
    if (nonfinite) {
        s->clean_steps = 0;
        s->skipped++;
        if (s->scale <= BMST_LOSS_SCALE_MIN) return BMST_SCALER_SKIP_AT_MIN;
        s->scale *= 0.5f;
        if (s->scale < BMST_LOSS_SCALE_MIN) s->scale = BMST_LOSS_SCALE_MIN;
        return BMST_SCALER_SKIP;
    }
    if (++s->clean_steps >= s->window) {
        if (s->scale < BMST_LOSS_SCALE_MAX) s->scale *= 2.0f;
        s->clean_steps = 0;
    }
    return BMST_SCALER_APPLY;
}
