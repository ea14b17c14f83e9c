/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Editing REG_MULTI_SZ lists such as the disk class UpperFilters value.
 *
 * A wrong UpperFilters value makes Windows unbootable (INACCESSIBLE_BOOT_DEVICE), so the
 * edits are pure functions over UTF-16 code units, tested on Linux: insert our name FIRST
 * (closest to disk.sys, below partmgr and every other upper filter), remove only our name,
 * keep every other entry and its order untouched. Names compare case-insensitively (ASCII
 * folding, as the service control manager does for service names we care about).
 *
 * Input may be sloppy (missing final terminators, empty entries): it is normalised to
 * "a\0b\0\0" on output, with empty entries dropped. An empty list is written as "\0\0".
 */
#ifndef CBT_WF_MULTISZ_H
#define CBT_WF_MULTISZ_H

#include <stddef.h>
#include <stdint.h>

/* Position (0-based) of @name in the list, or -1 when absent. */
int cbt_multisz_find(const uint16_t *in, size_t in_units, const char *name);

/* Number of non-empty entries. */
int cbt_multisz_count(const uint16_t *in, size_t in_units);

/*
 * Writes @in without any entry equal to @name into @out. Returns the number of code units
 * written (including the final double terminator), or 0 if @out_cap is too small.
 */
size_t cbt_multisz_remove(const uint16_t *in, size_t in_units, const char *name, uint16_t *out,
			  size_t out_cap);

/* Like cbt_multisz_remove, then puts @name first. Same return convention. */
size_t cbt_multisz_prepend(const uint16_t *in, size_t in_units, const char *name, uint16_t *out,
			   size_t out_cap);

/* Code units needed by cbt_multisz_prepend's output (upper bound). */
size_t cbt_multisz_prepend_cap(size_t in_units, const char *name);

#endif
