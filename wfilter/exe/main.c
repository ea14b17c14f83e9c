// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep.exe - console tool for the cbtrep.sys disk filter (run elevated: the control
 * device admits only SYSTEM and Administrators).
 *
 *   cbtrep version
 *   cbtrep status [NAME]
 *   cbtrep attach NAME DISK_NUMBER [META_FILE] [--meta-only] [--cap BYTES]
 *   cbtrep detach NAME [--discard]
 *   cbtrep dump NAME FILE            cut the bitmap and save it as a bitmap dump (bitmap.h)
 *   cbtrep resync-require NAME REASON      set resync-required (enum cbt_reason number)
 *   cbtrep resync-done NAME GENERATION     a resync that followed that cut (dump) ended
 *   cbtrep filter status|install|uninstall   position of cbtrep in the disk UpperFilters
 *   cbtrep bypass status|on|off      the load-time bypass switch (takes effect at boot)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static int usage(void)
{
	fputs("usage:\n"
	      "  cbtrep version\n"
	      "  cbtrep status [NAME]\n"
	      "  cbtrep attach NAME DISK_NUMBER [META_FILE] [--meta-only] [--cap BYTES]\n"
	      "  cbtrep detach NAME [--discard]\n"
	      "  cbtrep dump NAME FILE\n"
	      "  cbtrep resync-require NAME REASON_NUMBER\n"
	      "  cbtrep resync-done NAME GENERATION\n"
	      "  cbtrep filter status|install|uninstall\n"
	      "  cbtrep bypass status|on|off\n",
	      stderr);
	return 2;
}

int tool_fail(const char *what, DWORD err)
{
	char msg[256] = "";

	FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0,
		       msg, sizeof(msg), NULL);
	msg[strcspn(msg, "\r\n")] = '\0';
	fprintf(stderr, "cbtrep: %s: %s (%lu)\n", what, msg, (unsigned long)err);
	return 1;
}

/* Narrow copy of a wide argument (names and paths of the ABI are 8-bit). */
static char *narrow(const wchar_t *w)
{
	int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	char *s = n > 0 ? malloc((size_t)n) : NULL;

	if (s)
		WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
	return s;
}

static int cmd_attach_args(int argc, wchar_t **argv)
{
	unsigned long long cap = 0;
	const char *meta = "";
	unsigned int flags = 0;
	wchar_t *end;
	unsigned long disk;
	int i;

	if (argc < 4)
		return usage();
	disk = wcstoul(argv[3], &end, 10);
	if (*end)
		return usage();
	for (i = 4; i < argc; i++) {
		if (!wcscmp(argv[i], L"--meta-only"))
			flags |= CBT_ATTACH_META_ONLY;
		else if (!wcscmp(argv[i], L"--cap") && i + 1 < argc)
			cap = _wcstoui64(argv[++i], NULL, 10);
		else if (argv[i][0] != L'-' && !*meta)
			meta = narrow(argv[i]);
		else
			return usage();
	}
	if (!meta)
		return 1;
	return cmd_attach(narrow(argv[2]), disk, meta, flags, cap);
}

int wmain(int argc, wchar_t **argv)
{
	const wchar_t *cmd = argc > 1 ? argv[1] : L"";

	if (!wcscmp(cmd, L"version") && argc == 2)
		return cmd_version();
	if (!wcscmp(cmd, L"status") && argc <= 3)
		return cmd_status(argc == 3 ? narrow(argv[2]) : NULL);
	if (!wcscmp(cmd, L"attach"))
		return cmd_attach_args(argc, argv);
	if (!wcscmp(cmd, L"detach") && (argc == 3 || argc == 4)) {
		if (argc == 4 && wcscmp(argv[3], L"--discard"))
			return usage();
		return cmd_detach(narrow(argv[2]), argc == 4 ? CBT_DETACH_DISCARD : 0);
	}
	if (!wcscmp(cmd, L"dump") && argc == 4)
		return cmd_dump(narrow(argv[2]), argv[3]);
	if (!wcscmp(cmd, L"resync-require") && argc == 4)
		return cmd_resync(narrow(argv[2]), CBT_RESYNC_REQUIRE,
				  (unsigned int)wcstoul(argv[3], NULL, 0), 0);
	if (!wcscmp(cmd, L"resync-done") && argc == 4)
		return cmd_resync(narrow(argv[2]), CBT_RESYNC_DONE, 0,
				  _wcstoui64(argv[3], NULL, 0));
	if (!wcscmp(cmd, L"filter") && argc == 3)
		return cmd_filter(narrow(argv[2]));
	if (!wcscmp(cmd, L"bypass") && argc == 3)
		return cmd_bypass(narrow(argv[2]));
	return usage();
}
