// SPDX-License-Identifier: GPL-2.0
/*
 * The bypass switch, read once in DriverEntry (see lib/bootopt.h for the two ways to set
 * it). Any error reading the registry means "no bypass": the switch exists to rescue a
 * machine, and its absence is the normal case.
 */
#include "driver.h"
#include "../lib/bootopt.h"

#define VALUE_BUF 2048 /* bytes for a value; SystemStartOptions is short */

/* Reads value @name of key @path into a pool buffer; the caller frees it. */
static PKEY_VALUE_PARTIAL_INFORMATION read_value(PCWSTR path, PCWSTR name)
{
	PKEY_VALUE_PARTIAL_INFORMATION v = NULL;
	OBJECT_ATTRIBUTES oa;
	UNICODE_STRING us, vn;
	HANDLE key;
	ULONG got;

	RtlInitUnicodeString(&us, path);
	RtlInitUnicodeString(&vn, name);
	InitializeObjectAttributes(&oa, &us, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
	if (!NT_SUCCESS(ZwOpenKey(&key, KEY_READ, &oa)))
		return NULL;
	v = ExAllocatePoolWithTag(PagedPool, VALUE_BUF, CBT_POOL_TAG);
	if (v && !NT_SUCCESS(ZwQueryValueKey(key, &vn, KeyValuePartialInformation, v, VALUE_BUF,
					     &got))) {
		ExFreePoolWithTag(v, CBT_POOL_TAG);
		v = NULL;
	}
	ZwClose(key);
	return v;
}

static BOOLEAN param_bypass(PUNICODE_STRING service_key)
{
	static const WCHAR suffix[] = L"\\Parameters";
	PKEY_VALUE_PARTIAL_INFORMATION v;
	SIZE_T n = service_key->Length + sizeof(suffix);
	PWCH path = ExAllocatePoolWithTag(PagedPool, n, CBT_POOL_TAG);
	BOOLEAN on = FALSE;

	if (!path)
		return FALSE;
	RtlCopyMemory(path, service_key->Buffer, service_key->Length);
	RtlCopyMemory((PUCHAR)path + service_key->Length, suffix, sizeof(suffix));
	v = read_value(path, L"Bypass");
	if (v) {
		on = v->Type == REG_DWORD && v->DataLength == sizeof(ULONG) &&
		     *(ULONG UNALIGNED *)v->Data != 0;
		ExFreePoolWithTag(v, CBT_POOL_TAG);
	}
	ExFreePoolWithTag(path, CBT_POOL_TAG);
	return on;
}

static BOOLEAN bootopt_bypass(void)
{
	PKEY_VALUE_PARTIAL_INFORMATION v = read_value(
		L"\\Registry\\Machine\\SYSTEM\\CurrentControlSet\\Control", L"SystemStartOptions");
	BOOLEAN on = FALSE;

	if (v) {
		if (v->Type == REG_SZ)
			on = cbt_bootopt_has((const uint16_t *)v->Data, v->DataLength / 2,
					     CBT_BOOTOPT_BYPASS) != 0;
		ExFreePoolWithTag(v, CBT_POOL_TAG);
	}
	return on;
}

BOOLEAN cbt_read_bypass(PUNICODE_STRING service_key)
{
	return param_bypass(service_key) || bootopt_bypass();
}
