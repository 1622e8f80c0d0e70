/* PyTorch pickles (.pt, .pth) for `bmst_dist import`: the helper
 * tools/pt_to_safetensors.py, compiled in, run by python3 to turn a
 * state_dict into a safetensors file that our own reader then checks. */
#ifndef BMST_PT_HELPER_H
#define BMST_PT_HELPER_H

#include <stddef.h>

/* 1 when path ends in .pt or .pth, or is a zip archive (what torch.save
 * writes, whatever the name: a model hub's pytorch_model.bin). */
int bmst_pt_is_pickle(const char *path);
/* Writes `in`'s state_dict as a new temporary safetensors file, its name in
 * out (size bytes; the caller removes it). The interpreter is $BMST_PYTHON,
 * else python3 on PATH. 0, or -1 with the helper's one line (no torch, not
 * a state_dict, ...). */
int bmst_pt_to_safetensors(const char *in, char *out, size_t size);

#endif
