/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Persistent metadata of a tracked device, kept in a file or device the operator names
 * at attach and never on the tracked device itself.
 *
 * Layout of the metadata file: this 256-byte header at offset 0 (the rest of the first
 * 4 KiB is zero), and, when bitmap_offset is nonzero, a bitmap dump (bitmap.h) at
 * bitmap_offset (a multiple of 4096). The header is written last, and synced, so a torn
 * update leaves either the old header or a CRC mismatch (which reads as "metadata
 * invalid": resync required, never silence).
 *
 * State machine: attach reads the header (none → NEW_DEVICE; CLEAN → load the saved
 * bitmap; DIRTY → RESYNC_REQUIRED/UNCLEAN_SHUTDOWN), then writes DIRTY before tracking.
 * An orderly detach/shutdown saves the bitmap and writes CLEAN.
 */
#ifndef CBTREP_META_H
#define CBTREP_META_H

#include "abi.h"
#include "crc32c.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_META_VERSION 1
#define CBT_META_AREA_SIZE 4096u /* the header's area; a saved bitmap starts at or after it */

struct cbt_meta {
	uint32_t magic;		 /* CBT_MAGIC_META */
	uint16_t version;	 /* CBT_META_VERSION */
	uint16_t hdr_len;	 /* sizeof(struct cbt_meta) */
	uint32_t state;		 /* enum cbt_state */
	uint32_t reason;	 /* enum cbt_reason: why this state */
	uint64_t device_bytes;	 /* size of the tracked device */
	uint32_t granularity;	 /* bitmap granularity, bytes */
	uint32_t flags;		 /* 0 */
	uint64_t generation;	 /* bitmap generation at the last update */
	uint64_t last_seq;	 /* no journal seq above it was handed out: a ceiling reserved
				  * ahead while attached, exact after an orderly detach; the
				  * next attach numbers from last_seq + 1 (docs/formats.md) */
	uint64_t attach_ns;	 /* when tracking started */
	uint64_t update_ns;	 /* when this header was written */
	uint8_t device_id[16];	 /* identity of the tracked device; zero when unknown */
	char name[CBT_NAME_LEN]; /* device name at attach */
	uint64_t bitmap_offset;	 /* saved bitmap dump in the metadata file, 0 = none */
	uint64_t bitmap_len;	 /* its length (header + bits) */
	uint8_t reserved[124];	 /* 0 */
	uint32_t hdr_crc;	 /* crc32c of bytes 0..251 */
};
CBT_ASSERT_SIZE(struct cbt_meta, 256);
CBT_ASSERT_OFFSET(struct cbt_meta, device_id, 64);
CBT_ASSERT_OFFSET(struct cbt_meta, name, 80);
CBT_ASSERT_OFFSET(struct cbt_meta, bitmap_offset, 112);
CBT_ASSERT_OFFSET(struct cbt_meta, hdr_crc, 252);

CBT_INLINE void cbt_meta_init(struct cbt_meta *m, const char *name, uint64_t device_bytes,
			      uint32_t granularity)
{
	size_t i;

	cbt_memset(m, 0, sizeof(*m));
	m->magic = CBT_MAGIC_META;
	m->version = CBT_META_VERSION;
	m->hdr_len = sizeof(*m);
	m->state = CBT_STATE_DIRTY;
	m->device_bytes = device_bytes;
	m->granularity = granularity;
	for (i = 0; i + 1 < sizeof(m->name) && name && name[i]; i++)
		m->name[i] = name[i];
}

CBT_INLINE void cbt_meta_seal(struct cbt_meta *m)
{
	m->hdr_crc = cbt_hdr_crc(m, sizeof(*m));
}

/* Decodes and validates a metadata header from buf (avail bytes). */
CBT_INLINE int cbt_meta_decode(const void *buf, uint64_t avail, struct cbt_meta *out)
{
	size_t i;

	if (avail < sizeof(*out))
		return CBT_FMT_TRUNCATED;
	cbt_memcpy(out, buf, sizeof(*out));
	if (out->magic != CBT_MAGIC_META)
		return CBT_FMT_BAD_MAGIC;
	if (out->version != CBT_META_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (out->hdr_len != sizeof(*out))
		return CBT_FMT_BAD_LENGTH;
	if (out->hdr_crc != cbt_hdr_crc(out, sizeof(*out)))
		return CBT_FMT_BAD_HDR_CRC;
	if (out->state < CBT_STATE_CLEAN || out->state > CBT_STATE_RESYNC_REQUIRED)
		return CBT_FMT_BAD_STATE;
	if (out->reason > CBT_REASON_MAX)
		return CBT_FMT_BAD_REASON;
	if (out->flags)
		return CBT_FMT_BAD_FLAGS;
	if (!cbt_granularity_valid(out->granularity))
		return CBT_FMT_BAD_GRANULARITY;
	if (!out->device_bytes || out->device_bytes % CBT_SECTOR_SIZE)
		return CBT_FMT_BAD_LENGTH;
	if (!cbt_name_valid(out->name, sizeof(out->name)))
		return CBT_FMT_BAD_NAME;
	for (i = 0; i < sizeof(out->reserved); i++)
		if (out->reserved[i])
			return CBT_FMT_BAD_RESERVED;
	if (out->bitmap_offset) {
		if (out->bitmap_offset % CBT_META_AREA_SIZE)
			return CBT_FMT_BAD_LENGTH;
		if (out->bitmap_offset + out->bitmap_len < out->bitmap_offset)
			return CBT_FMT_RANGE_OVERFLOW;
		if (out->bitmap_len < 64)
			return CBT_FMT_BAD_LENGTH;
	} else if (out->bitmap_len) {
		return CBT_FMT_BAD_LENGTH;
	}
	return CBT_FMT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_META_H */
