/* Every op kind, once: enum bmst_op_kind (graph.h) and the op table
 * (ops/op_table.c) are both made from this list, in this order.
 * BMST_OP(KIND, name) gives the kind BMST_OP_KIND, whose entry is the struct
 * bmst_op_def bmst_op_<name>_def, defined in ops/<name>.c. No include guard: each
 * includer defines BMST_OP first. */
BMST_OP(INPUT, input)
BMST_OP(CONV, conv)
BMST_OP(BN, bn)
BMST_OP(RELU, relu)
BMST_OP(ADD, add)
BMST_OP(MAXPOOL, maxpool)
BMST_OP(AVGPOOL, avgpool)
BMST_OP(GAP, gap)
BMST_OP(FC, fc)
BMST_OP(CONCAT, concat)
BMST_OP(MIX, mix)
BMST_OP(XENT, xent)
BMST_OP(DROPOUT, dropout)
BMST_OP(APPEND, append)
BMST_OP(REVERSIBLE, reversible)
