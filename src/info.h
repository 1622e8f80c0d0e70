/* The `info` command. */
#ifndef BMST_INFO_H
#define BMST_INFO_H

#include "cli.h"

/* Layers, parameters and planned memory of a network. */
int bmst_info(const struct bmst_cli *cli);

#endif
