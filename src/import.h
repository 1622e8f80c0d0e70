/* `bmst_dist import --net NAME IN OUT.h5`: a PyTorch state_dict (.pt, .pth)
 * or a safetensors file as a weights-only checkpoint, every tensor checked
 * by name and shape against the network. */
#ifndef BMST_IMPORT_H
#define BMST_IMPORT_H

#include "cli.h"

/* 0, or -1 with one line (the first tensor missing, unexpected or of another
 * shape, a damaged file, no PyTorch for a pickle); nothing is written then. */
int bmst_import(const struct bmst_cli *cli);

#endif
