/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Spool segment header: the per-disk replication log (HRL) the engine keeps between the
 * tracker and the network (docs/spool.md).
 *
 * A spool is a directory of append-only segment files named <segment_no>.hrl (20 decimal
 * digits). Each segment is a struct cbt_spool_seg_hdr followed by batches in the drain
 * batch format of record.h (struct cbt_batch + records, each with its own CRCs), back to
 * back, with continuous sequence numbers across batches and across segments. A torn tail
 * (a batch cut short by a crash) is found by cbt_batch_check() and cut at recovery.
 *
 * All fields are little-endian and fixed-width, like every other format in this folder.
 * docs/formats.md has the prose version.
 */
#ifndef CBTREP_SPOOL_H
#define CBTREP_SPOOL_H

#include "abi.h"
#include "crc32c.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_MAGIC_SPOOL 0x50544243u /* "CBTP" spool segment */
#define CBT_SPOOL_VERSION 1

struct cbt_spool_seg_hdr {
	uint32_t magic;		 /* CBT_MAGIC_SPOOL */
	uint16_t version;	 /* CBT_SPOOL_VERSION */
	uint16_t flags;		 /* 0 */
	uint64_t segment_no;	 /* >= 1, increasing within the spool; also the file name */
	uint64_t first_seq;	 /* seq of the first record the segment holds (or will hold) */
	uint64_t created_ns;	 /* wall clock (UTC, ns since 1970) when the segment was started */
	uint64_t device_bytes;	 /* size of the protected device; records must stay inside it */
	uint32_t granularity;	 /* bitmap granularity of the device, bytes */
	uint32_t reserved0;	 /* 0 */
	char name[CBT_NAME_LEN]; /* device name */
	uint8_t device_id[16];	 /* identity of the device, zero when unknown */
	uint64_t reserved1;	 /* 0 */
	uint32_t reserved2;	 /* 0 */
	uint32_t hdr_crc;	 /* crc32c of bytes 0..107 */
};
CBT_ASSERT_SIZE(struct cbt_spool_seg_hdr, 112);
CBT_ASSERT_OFFSET(struct cbt_spool_seg_hdr, segment_no, 8);
CBT_ASSERT_OFFSET(struct cbt_spool_seg_hdr, device_bytes, 32);
CBT_ASSERT_OFFSET(struct cbt_spool_seg_hdr, name, 48);
CBT_ASSERT_OFFSET(struct cbt_spool_seg_hdr, device_id, 80);
CBT_ASSERT_OFFSET(struct cbt_spool_seg_hdr, hdr_crc, 108);

CBT_INLINE void cbt_spool_seg_hdr_init(struct cbt_spool_seg_hdr *h, const char *name,
				       const uint8_t device_id[16], uint64_t device_bytes,
				       uint32_t granularity, uint64_t segment_no,
				       uint64_t first_seq, uint64_t created_ns)
{
	size_t i;

	cbt_memset(h, 0, sizeof(*h));
	h->magic = CBT_MAGIC_SPOOL;
	h->version = CBT_SPOOL_VERSION;
	h->segment_no = segment_no;
	h->first_seq = first_seq;
	h->created_ns = created_ns;
	h->device_bytes = device_bytes;
	h->granularity = granularity;
	for (i = 0; i + 1 < sizeof(h->name) && name && name[i]; i++)
		h->name[i] = name[i];
	if (device_id)
		cbt_memcpy(h->device_id, device_id, sizeof(h->device_id));
	h->hdr_crc = cbt_hdr_crc(h, sizeof(*h));
}

/*
 * Decodes and validates a segment header from buf (avail bytes). Returns CBT_FMT_OK or the
 * first problem; *field (when not NULL) names the field found wrong ("" when none).
 */
CBT_INLINE int cbt_spool_seg_hdr_decode(const void *buf, uint64_t avail,
					struct cbt_spool_seg_hdr *out, const char **field)
{
	const char *bad = "";
	int err = CBT_FMT_OK;

	if (avail < sizeof(*out)) {
		bad = "header";
		err = CBT_FMT_TRUNCATED;
		goto out;
	}
	cbt_memcpy(out, buf, sizeof(*out));
	if (out->magic != CBT_MAGIC_SPOOL) {
		bad = "magic";
		err = CBT_FMT_BAD_MAGIC;
	} else if (out->version != CBT_SPOOL_VERSION) {
		bad = "version";
		err = CBT_FMT_BAD_VERSION;
	} else if (out->hdr_crc != cbt_hdr_crc(out, sizeof(*out))) {
		bad = "hdr_crc";
		err = CBT_FMT_BAD_HDR_CRC;
	} else if (out->flags) {
		bad = "flags";
		err = CBT_FMT_BAD_FLAGS;
	} else if (out->reserved0 || out->reserved1 || out->reserved2) {
		bad = "reserved";
		err = CBT_FMT_BAD_RESERVED;
	} else if (!out->segment_no) {
		bad = "segment_no";
		err = CBT_FMT_BAD_COUNT;
	} else if (!out->first_seq) {
		bad = "first_seq";
		err = CBT_FMT_BAD_COUNT;
	} else if (!cbt_granularity_valid(out->granularity)) {
		bad = "granularity";
		err = CBT_FMT_BAD_GRANULARITY;
	} else if (!out->device_bytes || out->device_bytes % CBT_SECTOR_SIZE) {
		bad = "device_bytes";
		err = CBT_FMT_BAD_LENGTH;
	} else if (!cbt_name_valid(out->name, sizeof(out->name))) {
		bad = "name";
		err = CBT_FMT_BAD_NAME;
	}
out:
	if (field)
		*field = bad;
	return err;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_SPOOL_H */
