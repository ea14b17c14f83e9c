// SPDX-License-Identifier: GPL-2.0
/* IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES parsing (see dsm.h). */
#include "dsm.h"
#include "le.h"

static int range_ok(const uint8_t *r)
{
	uint64_t off = cbt_ld64(r);
	uint64_t n = cbt_ld64(r + 8);

	if (off > (uint64_t)INT64_MAX) /* StartingOffset is a LONGLONG: negative is invalid */
		return 0;
	return n <= UINT64_MAX - off; /* no wrap-around */
}

int cbt_dsm_parse(const uint8_t *buf, size_t len, uint32_t *action, cbt_dsm_range_fn fn, void *ctx)
{
	uint32_t size, act, flags, roff, rlen, i, count;

	if (!buf || len < CBT_DSM_HDR_SIZE)
		return CBT_DSM_BAD;
	size = cbt_ld32(buf);
	act = cbt_ld32(buf + 4);
	flags = cbt_ld32(buf + 8);
	roff = cbt_ld32(buf + 20);
	rlen = cbt_ld32(buf + 24);
	if (action)
		*action = act;
	if (size < CBT_DSM_HDR_SIZE || size > len)
		return CBT_DSM_BAD;
	if (act == CBT_DSM_ACTION_NONE || (act & CBT_DSM_ACTION_NON_DESTRUCTIVE))
		return CBT_DSM_NO_CHANGE;
	if (flags & CBT_DSM_FLAG_ENTIRE_RANGE)
		return CBT_DSM_WHOLE;

	if (rlen % CBT_DSM_RANGE_SIZE)
		return CBT_DSM_BAD;
	if (rlen && (roff < CBT_DSM_HDR_SIZE || roff > len || rlen > len - roff))
		return CBT_DSM_BAD;
	count = rlen / CBT_DSM_RANGE_SIZE;
	for (i = 0; i < count; i++)
		if (!range_ok(buf + roff + (size_t)i * CBT_DSM_RANGE_SIZE))
			return CBT_DSM_BAD;
	for (i = 0; i < count; i++) {
		const uint8_t *r = buf + roff + (size_t)i * CBT_DSM_RANGE_SIZE;
		uint64_t n = cbt_ld64(r + 8);

		if (n && fn)
			fn(ctx, cbt_ld64(r), n);
	}
	return CBT_DSM_RANGES;
}
