/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control device's security descriptor, built by hand.
 *
 * mingw-w64 has no IoCreateDeviceSecure and no SDDL parser in kernel mode, so the driver
 * builds the self-relative descriptor equivalent to "D:P(A;;FA;;;SY)(A;;FA;;;BA)" byte by
 * byte: a protected DACL granting FILE_ALL_ACCESS to LocalSystem (S-1-5-18) and to the
 * Administrators alias (S-1-5-32-544), and nothing to anyone else. No owner, group or SACL:
 * the driver applies it with DACL_SECURITY_INFORMATION only.
 */
#ifndef CBT_WF_SD_H
#define CBT_WF_SD_H

#include <stddef.h>
#include <stdint.h>

/* Windows constants the builder needs (values from winnt.h / ntifs.h). */
#define CBT_SD_REVISION 1
#define CBT_ACL_REVISION 2
#define CBT_SE_DACL_PRESENT 0x0004
#define CBT_SE_DACL_PROTECTED 0x1000
#define CBT_SE_SELF_RELATIVE 0x8000
#define CBT_ACCESS_ALLOWED_ACE_TYPE 0
#define CBT_FILE_ALL_ACCESS 0x001F01FFu
#define CBT_SECURITY_LOCAL_SYSTEM_RID 18u
#define CBT_SECURITY_BUILTIN_DOMAIN_RID 32u
#define CBT_DOMAIN_ALIAS_RID_ADMINS 544u

#define CBT_SD_HDR_SIZE 20 /* SECURITY_DESCRIPTOR_RELATIVE */
#define CBT_ACL_HDR_SIZE 8 /* ACL */
#define CBT_ACE_HDR_SIZE 8 /* ACE_HEADER + ACCESS_MASK, SID follows */

/* Size of a SID with @subauth sub-authorities. */
static inline size_t cbt_sid_size(unsigned int subauth)
{
	return 8 + 4 * (size_t)subauth;
}

/* Total size of the control device descriptor (72 bytes). */
size_t cbt_sd_size(void);

/*
 * Writes the descriptor into @buf. Returns the number of bytes written, or 0 when @len is
 * smaller than cbt_sd_size() (nothing is written then).
 */
size_t cbt_sd_build(uint8_t *buf, size_t len);

#endif
