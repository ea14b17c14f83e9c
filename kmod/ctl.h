/* SPDX-License-Identifier: GPL-2.0 */
#ifndef CBTREP_CTL_H
#define CBTREP_CTL_H

struct file;

/* The ioctl entry point of /dev/cbtrep-ctl (ctl.c). */
long cbt_ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif
