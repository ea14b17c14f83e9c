/* SPDX-License-Identifier: GPL-2.0 */
#ifndef CBTREP_CTL_H
#define CBTREP_CTL_H

#include <linux/types.h>

struct file;
struct cbt_kdev;

/* The ioctl entry point of /dev/cbtrep-ctl (ctl.c). */
long cbt_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* persist.c, for RESYNC: writes the header (no bitmap) for the state after the call. */
int cbt_meta_update(struct cbt_kdev *kd, uint32_t state, uint32_t reason);
/* persist.c, for GET / COMMIT / STATUS / TAG / MARK_DIRTY: a new sequence ceiling in the
 * header when the reserved one is half used. */
void cbt_meta_refresh(struct cbt_kdev *kd);

#endif
