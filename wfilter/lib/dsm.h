/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Parsing of IOCTL_STORAGE_MANAGE_DATA_SET_ATTRIBUTES input (TRIM and friends).
 *
 * A data-set-management request changes data when its action is destructive: Windows marks
 * every non-destructive action with DeviceDsmActionFlag_NonDestructive (bit 31), so TRIM (1),
 * OffloadWrite (4) and any future destructive action count as a change of their ranges, or of
 * the whole device when DEVICE_DSM_FLAG_ENTIRE_DATA_SET_RANGE is set.
 *
 * Input layout (DEVICE_MANAGE_DATA_SET_ATTRIBUTES, 28 bytes, little endian):
 *   0 Size, 4 Action, 8 Flags, 12 ParameterBlockOffset, 16 ParameterBlockLength,
 *   20 DataSetRangesOffset, 24 DataSetRangesLength
 * each range (DEVICE_DATA_SET_RANGE, 16 bytes): 0 StartingOffset (signed), 8 LengthInBytes.
 */
#ifndef CBT_WF_DSM_H
#define CBT_WF_DSM_H

#include <stddef.h>
#include <stdint.h>

#define CBT_DSM_HDR_SIZE 28
#define CBT_DSM_RANGE_SIZE 16
#define CBT_DSM_ACTION_NONE 0u
#define CBT_DSM_ACTION_TRIM 1u
#define CBT_DSM_ACTION_OFFLOAD_WRITE 4u
#define CBT_DSM_ACTION_NON_DESTRUCTIVE 0x80000000u
#define CBT_DSM_FLAG_ENTIRE_RANGE 0x00000001u

enum cbt_dsm_kind {
	CBT_DSM_BAD = -1,      /* malformed: the caller must not trust any range */
	CBT_DSM_NO_CHANGE = 0, /* non-destructive action (or no action): data unchanged */
	CBT_DSM_RANGES = 1,    /* the ranges passed to the callback change */
	CBT_DSM_WHOLE = 2,     /* the whole device changes (entire-range flag) */
};

/* Called once per non-empty range, in request order. Byte units, not yet clamped. */
typedef void (*cbt_dsm_range_fn)(void *ctx, uint64_t offset, uint64_t length);

/*
 * Validates the request in @buf (@len bytes, the IRP's input buffer length) and, for a
 * destructive request with ranges, calls @fn for each range. Returns an enum cbt_dsm_kind;
 * @action (optional) receives the action code. On CBT_DSM_BAD no callback has been made:
 * validation of the whole buffer happens before the first callback.
 */
int cbt_dsm_parse(const uint8_t *buf, size_t len, uint32_t *action, cbt_dsm_range_fn fn, void *ctx);

#endif
