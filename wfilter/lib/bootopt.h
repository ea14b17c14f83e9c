/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bypass switch.
 *
 * cbtrep.sys becomes pure pass-through (no device attached, no control device) when, at
 * load time, either
 *   - HKLM\SYSTEM\CurrentControlSet\Services\cbtrep\Parameters\Bypass (REG_DWORD) != 0, or
 *   - the boot options contain the word CBTREP_BYPASS
 *     (HKLM\SYSTEM\CurrentControlSet\Control\SystemStartOptions, set with
 *      `bcdedit /set {current} loadoptions CBTREP_BYPASS`, or typed at the boot menu's
 *      "Edit boot options" screen when the machine no longer boots).
 * This file holds the pure part: finding the word in the boot options string.
 */
#ifndef CBT_WF_BOOTOPT_H
#define CBT_WF_BOOTOPT_H

#include <stddef.h>
#include <stdint.h>

#define CBT_BOOTOPT_BYPASS "CBTREP_BYPASS"

/*
 * True when @opts (UTF-16, @units code units, NUL optional) contains @word as a whole
 * option: delimited by start/end, space, tab, '/' or NUL, compared case-insensitively.
 */
int cbt_bootopt_has(const uint16_t *opts, size_t units, const char *word);

#endif
