// SPDX-License-Identifier: GPL-2.0
/*
 * DACL of the control device: SYSTEM and Administrators only.
 *
 * mingw-w64 lacks IoCreateDeviceSecure, so the device is created plain and its DACL is
 * replaced right away, before the symbolic link exists (nobody can open it by name before
 * that). The descriptor bytes come from lib/sd.c, which is unit-tested on Linux; here we
 * only check that Windows agrees it is valid and apply it.
 */
#include "driver.h"
#include "../lib/sd.h"

_Static_assert(sizeof(SECURITY_DESCRIPTOR_RELATIVE) == CBT_SD_HDR_SIZE, "SD header layout");
_Static_assert(sizeof(ACL) == CBT_ACL_HDR_SIZE, "ACL header layout");
_Static_assert(FILE_ALL_ACCESS == CBT_FILE_ALL_ACCESS, "FILE_ALL_ACCESS");
_Static_assert(SE_DACL_PRESENT == CBT_SE_DACL_PRESENT, "SE_DACL_PRESENT");
_Static_assert(SE_DACL_PROTECTED == CBT_SE_DACL_PROTECTED, "SE_DACL_PROTECTED");
_Static_assert(SE_SELF_RELATIVE == CBT_SE_SELF_RELATIVE, "SE_SELF_RELATIVE");
_Static_assert(SECURITY_LOCAL_SYSTEM_RID == CBT_SECURITY_LOCAL_SYSTEM_RID, "SYSTEM RID");
_Static_assert(DOMAIN_ALIAS_RID_ADMINS == CBT_DOMAIN_ALIAS_RID_ADMINS, "Admins RID");
_Static_assert(SECURITY_BUILTIN_DOMAIN_RID == CBT_SECURITY_BUILTIN_DOMAIN_RID, "BUILTIN");
_Static_assert(ACL_REVISION == CBT_ACL_REVISION, "ACL revision");

NTSTATUS cbt_secure_device(PDEVICE_OBJECT dev)
{
	size_t size = cbt_sd_size();
	PUCHAR sd = ExAllocatePoolWithTag(NonPagedPoolNx, size, CBT_POOL_TAG);
	HANDLE h = NULL;
	NTSTATUS st;

	if (!sd)
		return STATUS_INSUFFICIENT_RESOURCES;
	if (cbt_sd_build(sd, size) != size || !RtlValidSecurityDescriptor(sd)) {
		st = STATUS_INVALID_SECURITY_DESCR;
		goto out;
	}
	st = ObOpenObjectByPointer(dev, OBJ_KERNEL_HANDLE, NULL, WRITE_DAC, NULL, KernelMode, &h);
	if (!NT_SUCCESS(st))
		goto out;
	st = ZwSetSecurityObject(h, DACL_SECURITY_INFORMATION, sd);
	ZwClose(h);
out:
	ExFreePoolWithTag(sd, CBT_POOL_TAG);
	return st;
}
