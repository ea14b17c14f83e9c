/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* All of the cbtrep shared ABI in one include. */
#ifndef CBTREP_CBTREP_H
#define CBTREP_CBTREP_H
#include "abi.h"
#include "crc32c.h"
#include "record.h"
#include "bitmap.h"
#include "meta.h"
#include "ioctl.h"
#endif
