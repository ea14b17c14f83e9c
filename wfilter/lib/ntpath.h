/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Metadata file path of ATTACH (char meta_path[256]) -> NT path for ZwCreateFile.
 *   "D:\cbtrep\disk0.meta"  -> "\??\D:\cbtrep\disk0.meta"
 *   "\??\..." or "\Device\..." kept as given (already NT paths)
 * Refused: empty, relative ("meta", "D:meta"), "\\server\share" (no network metadata),
 * any ".." component, control characters and non-ASCII bytes (the driver never guesses
 * an encoding), and results that do not fit in @cap units with a terminator.
 */
#ifndef CBT_WF_NTPATH_H
#define CBT_WF_NTPATH_H

#include <stddef.h>
#include <stdint.h>

/* Returns the number of UTF-16 units written (without the terminator, which is written
 * too), or 0 when the path is refused. */
size_t cbt_meta_nt_path(const char *in, size_t in_cap, uint16_t *out, size_t cap);

#endif
