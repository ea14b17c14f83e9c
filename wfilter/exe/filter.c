// SPDX-License-Identifier: GPL-2.0
/*
 * Registry side of the installation: cbtrep's place in the disk class UpperFilters and
 * the bypass switch. The list edits are lib/multisz.c (unit-tested on Linux); this file
 * only reads and writes the values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "../lib/multisz.h"

#define DISK_CLASS_KEY                                                                             \
	L"SYSTEM\\CurrentControlSet\\Control\\Class\\{4d36e967-e325-11ce-bfc1-08002be10318}"
#define SERVICE_KEY L"SYSTEM\\CurrentControlSet\\Services\\cbtrep"
#define PARAMS_KEY SERVICE_KEY L"\\Parameters"
#define FILTER_NAME "cbtrep"

/* Reads UpperFilters; *units gets its length in UTF-16 units (0 when absent). */
static uint16_t *read_filters(HKEY k, size_t *units)
{
	DWORD type = 0, bytes = 0;
	uint16_t *v;
	LSTATUS st = RegQueryValueExW(k, L"UpperFilters", NULL, &type, NULL, &bytes);

	*units = 0;
	if (st == ERROR_FILE_NOT_FOUND)
		return calloc(2, sizeof(uint16_t));
	if (st != ERROR_SUCCESS || type != REG_MULTI_SZ) {
		tool_fail("read UpperFilters",
			  st != ERROR_SUCCESS ? (DWORD)st : ERROR_INVALID_DATA);
		return NULL;
	}
	v = calloc(bytes / 2 + 2, sizeof(uint16_t));
	if (v &&
	    RegQueryValueExW(k, L"UpperFilters", NULL, &type, (BYTE *)v, &bytes) == ERROR_SUCCESS)
		*units = bytes / 2;
	return v;
}

static void print_filters(const uint16_t *v, size_t units)
{
	size_t i;

	printf("UpperFilters:");
	for (i = 0; i < units; i++) {
		if (v[i] && (i == 0 || !v[i - 1]))
			printf(" ");
		if (v[i])
			putchar((int)(v[i] < 128 ? v[i] : '?'));
	}
	printf("\n");
}

/*
 * Putting a name in UpperFilters whose driver cannot load makes every disk fail to start
 * (INACCESSIBLE_BOOT_DEVICE). Before `filter install` writes anything, the service must
 * exist, start at boot, and its file must be in place.
 */
static int driver_installed(void)
{
	wchar_t path[MAX_PATH];
	DWORD start = 99, size = sizeof(start), type = 0;
	HKEY k;
	LSTATUS st = RegOpenKeyExW(HKEY_LOCAL_MACHINE, SERVICE_KEY, 0, KEY_QUERY_VALUE, &k);

	if (st != ERROR_SUCCESS) {
		fprintf(stderr,
			"cbtrep: service cbtrep is not installed (install the INF first)\n");
		return 0;
	}
	st = RegQueryValueExW(k, L"Start", NULL, &type, (BYTE *)&start, &size);
	RegCloseKey(k);
	if (st != ERROR_SUCCESS || type != REG_DWORD || start != SERVICE_BOOT_START) {
		fprintf(stderr, "cbtrep: service cbtrep does not start at boot (Start=%lu)\n",
			(unsigned long)start);
		return 0;
	}
	if (!ExpandEnvironmentStringsW(L"%SystemRoot%\\System32\\drivers\\cbtrep.sys", path,
				       MAX_PATH) ||
	    GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES) {
		fprintf(stderr, "cbtrep: %ls is missing\n", path);
		return 0;
	}
	return 1;
}

int cmd_filter(const char *action)
{
	int install = !strcmp(action, "install"), uninstall = !strcmp(action, "uninstall");
	HKEY k;
	size_t units, cap, w;
	uint16_t *v, *out;
	LSTATUS st;
	int pos;

	if (!install && !uninstall && strcmp(action, "status"))
		return tool_fail("filter: expected status, install or uninstall",
				 ERROR_INVALID_PARAMETER);
	if (install && !driver_installed())
		return 1;
	st = RegOpenKeyExW(HKEY_LOCAL_MACHINE, DISK_CLASS_KEY, 0,
			   KEY_QUERY_VALUE | (install || uninstall ? KEY_SET_VALUE : 0), &k);
	if (st != ERROR_SUCCESS)
		return tool_fail("open disk class key", (DWORD)st);
	v = read_filters(k, &units);
	if (!v)
		return 1;
	print_filters(v, units);
	pos = cbt_multisz_find(v, units, FILTER_NAME);
	if (!install && !uninstall) {
		if (pos == 0)
			printf("cbtrep is first: tracking sees every partition's writes\n");
		else if (pos > 0)
			printf("cbtrep is at position %d: run `cbtrep filter install` and reboot\n",
			       pos);
		else
			printf("cbtrep is not installed as a disk filter\n");
		RegCloseKey(k);
		return pos == 0 ? 0 : 1;
	}
	cap = cbt_multisz_prepend_cap(units, FILTER_NAME);
	out = calloc(cap, sizeof(uint16_t));
	if (!out)
		return 1;
	w = install ? cbt_multisz_prepend(v, units, FILTER_NAME, out, cap)
		    : cbt_multisz_remove(v, units, FILTER_NAME, out, cap);
	if (!w)
		return tool_fail("edit UpperFilters", ERROR_INSUFFICIENT_BUFFER);
	if (uninstall && cbt_multisz_count(out, w) == 0)
		st = RegDeleteValueW(k, L"UpperFilters"); /* we were the only one */
	else
		st = RegSetValueExW(k, L"UpperFilters", 0, REG_MULTI_SZ, (const BYTE *)out,
				    (DWORD)(w * sizeof(uint16_t)));
	if (st != ERROR_SUCCESS)
		return tool_fail("write UpperFilters", (DWORD)st);
	print_filters(out, w);
	printf("takes effect at the next boot\n");
	RegCloseKey(k);
	free(out);
	free(v);
	return 0;
}

int cmd_bypass(const char *action)
{
	int set = !strcmp(action, "on") ? 1 : !strcmp(action, "off") ? 0 : -1;
	DWORD val = 0, size = sizeof(val), type = 0;
	HKEY k;
	LSTATUS st;

	if (set < 0 && strcmp(action, "status"))
		return tool_fail("bypass: expected status, on or off", ERROR_INVALID_PARAMETER);
	st = RegCreateKeyExW(HKEY_LOCAL_MACHINE, PARAMS_KEY, 0, NULL, 0,
			     KEY_QUERY_VALUE | (set >= 0 ? KEY_SET_VALUE : 0), NULL, &k, NULL);
	if (st != ERROR_SUCCESS)
		return tool_fail("open service Parameters key", (DWORD)st);
	if (set >= 0) {
		val = (DWORD)set;
		st = RegSetValueExW(k, L"Bypass", 0, REG_DWORD, (const BYTE *)&val, sizeof(val));
		if (st != ERROR_SUCCESS)
			return tool_fail("write Bypass", (DWORD)st);
		printf("bypass %s at the next boot\n", set ? "ON" : "off");
	} else {
		if (RegQueryValueExW(k, L"Bypass", NULL, &type, (BYTE *)&val, &size) !=
			    ERROR_SUCCESS ||
		    type != REG_DWORD)
			val = 0;
		printf("bypass (registry) %s; the boot option CBTREP_BYPASS also forces it\n",
		       val ? "ON" : "off");
	}
	RegCloseKey(k);
	return 0;
}
