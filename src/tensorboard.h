/* TensorBoard event files: --tensorboard DIR makes rank 0 write scalars
 * (per step and per epoch) into DIR/events.out.tfevents.TIME.HOST.PID, which
 * TensorBoard reads. The file is a TFRecord stream (length, masked CRC-32C
 * of the length, payload, masked CRC-32C of the payload) of `Event`
 * messages as TensorFlow's event.proto and summary.proto define them:
 * wall_time (1), step (2), file_version (3) or summary (5), a Summary's
 * values (1) each a tag (1) and a simple_value (2). Those few fields are
 * encoded here directly. docs/cli.md, "TensorBoard". */
#ifndef BMST_TENSORBOARD_H
#define BMST_TENSORBOARD_H

struct bmst_tb;

/* Creates DIR when missing (one level) and a new event file in it, whose
 * first record names the format ("brain.Event:2"). 0, or -1 with a message. */
int bmst_tb_open(const char *dir, struct bmst_tb **out);
/* One scalar `tag` at global step `step`. 0, or -1 with a message. */
int bmst_tb_scalar(struct bmst_tb *t, const char *tag, long step, double value);
/* Pushes what was written to the file (after each epoch, so TensorBoard sees it). */
int bmst_tb_flush(struct bmst_tb *t);
/* Flushes and closes; NULL is allowed. 0, or -1 with a message. */
int bmst_tb_close(struct bmst_tb *t);

#endif
