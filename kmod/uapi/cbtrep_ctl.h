/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Control device ABI of cbtrep.ko, usable from the kernel and from user space.
 *
 * PLACEHOLDER: the project's shared ABI header (include/cbtrep/ioctl.h) does not define a
 * version ioctl yet. Once it does, the module and the tests switch to it and this file goes.
 */
#ifndef CBTREP_UAPI_CTL_H
#define CBTREP_UAPI_CTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CBTREP_CTL_DEVICE "/dev/cbtrep-ctl"

/* Bumped on every incompatible change of the ioctl interface. */
#define CBTREP_CTL_ABI_VERSION 1

#define CBTREP_CTL_IOC_MAGIC 0xCB

/* Returns CBTREP_CTL_ABI_VERSION so user space can refuse a module it does not speak. */
#define CBTREP_CTL_IOC_GET_VERSION _IOR(CBTREP_CTL_IOC_MAGIC, 0x00, __u32)

#endif /* CBTREP_UAPI_CTL_H */
