// SPDX-License-Identifier: GPL-2.0
/*
 * Self-relative security descriptor for the control device (see sd.h).
 *
 * Layout: SECURITY_DESCRIPTOR_RELATIVE (20 bytes) | ACL header (8) | ACE SYSTEM (20) |
 * ACE Administrators (24). Offsets are from the start of the descriptor, as Windows
 * requires for self-relative descriptors.
 */
#include "sd.h"
#include "le.h"

static const uint8_t nt_authority[6] = {0, 0, 0, 0, 0, 5}; /* SECURITY_NT_AUTHORITY */

static size_t put_sid(uint8_t *p, unsigned int n, const uint32_t *rids)
{
	unsigned int i;

	p[0] = 1; /* SID_REVISION */
	p[1] = (uint8_t)n;
	for (i = 0; i < 6; i++)
		p[2 + i] = nt_authority[i]; /* big-endian by definition */
	for (i = 0; i < n; i++)
		cbt_st32(p + 8 + 4 * i, rids[i]);
	return cbt_sid_size(n);
}

static size_t put_allow_ace(uint8_t *p, uint32_t mask, unsigned int n, const uint32_t *rids)
{
	size_t size = CBT_ACE_HDR_SIZE + cbt_sid_size(n);

	p[0] = CBT_ACCESS_ALLOWED_ACE_TYPE;
	p[1] = 0; /* no inheritance flags: a device object has no children */
	cbt_st16(p + 2, (uint16_t)size);
	cbt_st32(p + 4, mask);
	put_sid(p + CBT_ACE_HDR_SIZE, n, rids);
	return size;
}

static const uint32_t system_rids[] = {CBT_SECURITY_LOCAL_SYSTEM_RID};
static const uint32_t admins_rids[] = {CBT_SECURITY_BUILTIN_DOMAIN_RID,
				       CBT_DOMAIN_ALIAS_RID_ADMINS};

static size_t acl_size(void)
{
	return CBT_ACL_HDR_SIZE + 2 * CBT_ACE_HDR_SIZE + cbt_sid_size(1) + cbt_sid_size(2);
}

size_t cbt_sd_size(void)
{
	return CBT_SD_HDR_SIZE + acl_size();
}

size_t cbt_sd_build(uint8_t *buf, size_t len)
{
	size_t total = cbt_sd_size();
	uint8_t *acl = buf + CBT_SD_HDR_SIZE;
	uint8_t *ace;
	size_t i;

	if (!buf || len < total)
		return 0;
	for (i = 0; i < total; i++)
		buf[i] = 0;

	buf[0] = CBT_SD_REVISION;
	buf[1] = 0; /* Sbz1 */
	cbt_st16(buf + 2, CBT_SE_SELF_RELATIVE | CBT_SE_DACL_PRESENT | CBT_SE_DACL_PROTECTED);
	cbt_st32(buf + 4, 0);		     /* owner: none */
	cbt_st32(buf + 8, 0);		     /* group: none */
	cbt_st32(buf + 12, 0);		     /* SACL: none */
	cbt_st32(buf + 16, CBT_SD_HDR_SIZE); /* DACL right after the header */

	acl[0] = CBT_ACL_REVISION;
	acl[1] = 0;
	cbt_st16(acl + 2, (uint16_t)acl_size());
	cbt_st16(acl + 4, 2); /* AceCount */
	cbt_st16(acl + 6, 0);

	ace = acl + CBT_ACL_HDR_SIZE;
	ace += put_allow_ace(ace, CBT_FILE_ALL_ACCESS, 1, system_rids);
	put_allow_ace(ace, CBT_FILE_ALL_ACCESS, 2, admins_rids);
	return total;
}
