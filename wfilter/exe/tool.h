/* SPDX-License-Identifier: GPL-2.0 */
/* cbtrep.exe: command-line control of cbtrep.sys (see main.c for the commands). */
#ifndef CBT_EXE_TOOL_H
#define CBT_EXE_TOOL_H

#include <windows.h>

#include <cbtrep/cbtrep.h>

/* Prints "cbtrep: <what>: <Windows message> (<code>)" to stderr; returns 1. */
int tool_fail(const char *what, DWORD err);

/* ctl.c: requests over \\.\CbtrepCtl. Each returns the process exit code. */
int cmd_version(void);
int cmd_status(const char *name); /* NULL: every attached device */
int cmd_attach(const char *name, unsigned long disk, const char *meta, unsigned int flags,
	       unsigned long long cap);
int cmd_detach(const char *name, unsigned int flags);
int cmd_dump(const char *name, const wchar_t *path);
int cmd_resync(const char *name, unsigned int op, unsigned int reason,
	       unsigned long long generation);

/* filter.c: registry. */
int cmd_filter(const char *action); /* status | install | uninstall */
int cmd_bypass(const char *action); /* status | on | off */

#endif
