/* Which parameters train, and at what rate: --freeze's prefixes (fixed
 * weights: no gradient, no optimizer state, outside the all-reduce and the
 * clip norm), --freeze-bn (their batch norms' running statistics fixed too)
 * and the classifier that --lr-head trains at its own rate. */
#ifndef BMST_PARAM_GROUPS_H
#define BMST_PARAM_GROUPS_H

#include "graph.h"
#include "model.h"

/* On the model of training graph g, built and not yet allocated:
 * - marks frozen every weight whose name has a prefix in `freeze` (a comma
 *   list, NULL or "" for none) at a '.' boundary, as PyTorch's names go:
 *   "layer1" takes "layer1.0.conv1.weight", not "layer10.0...";
 * - with freeze_bn, also the running statistics of every batch norm whose
 *   weight and bias are both frozen (it then normalizes with them, as in
 *   evaluation, and leaves them as they are);
 * - places the frozen weights first in the flat buffers (m->n_frozen), so
 *   the trainable ones are one range;
 * - marks as the head the parameters of the fully connected layers that
 *   make the logits (and a second head's).
 * Returns -1 with one line for an empty or unmatched prefix, or when
 * nothing would be left to train. */
int bmst_param_groups_apply(struct bmst_model *m, const struct bmst_graph *g, const char *freeze,
                            int freeze_bn);

/* The frozen weight tensors and the numbers they hold. */
void bmst_param_groups_frozen(const struct bmst_model *m, int *tensors, size_t *numbers);

#endif
