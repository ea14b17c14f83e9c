// SPDX-License-Identifier: GPL-2.0
/*
 * The portable tracking core (core/), compiled into cbtrep.ko with the kernel OS layer
 * (cbt_os_impl.h). Included rather than listed in Kbuild so the build needs no objects
 * outside this directory's tree.
 */
#include "../core/cbt_bitmap.c"
#include "../core/cbt_journal.c"
#include "../core/cbt_tracker.c"
