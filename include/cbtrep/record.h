/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Journal formats: the record, the tag payload, the drain batch and the stream file.
 *
 * A record is a 64-byte header followed by data_len payload bytes (the written data in
 * DATA mode, a struct cbt_tag for a tag). Records are laid back to back; every
 * data_len is a multiple of 8 so the next header stays aligned. Every record consumes
 * exactly one sequence number; sequence numbers are continuous. Writes that were not
 * journalled (BITMAP mode) get no sequence number: the GAP record that follows says
 * which bitmap generation covers them and why.
 *
 * A batch (what GET hands out) is a 64-byte header followed by payload_len bytes of
 * records. A stream file (journal dump, file source, spool segment) is a struct
 * cbt_stream_hdr followed by batches until end of file.
 *
 * docs/formats.md is the prose version of this header.
 */
#ifndef CBTREP_RECORD_H
#define CBTREP_RECORD_H

#include "abi.h"
#include "crc32c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_RECORD_VERSION 1
#define CBT_BATCH_VERSION 1
#define CBT_STREAM_VERSION 1

/* Largest payload a DATA record may carry; larger writes are journalled as META records. */
#define CBT_REC_MAX_DATA (32u << 20)

enum cbt_rec_type {
	CBT_REC_WRITE = 1,	  /* data written; payload present iff CBT_RF_HAS_DATA */
	CBT_REC_DISCARD = 2,	  /* range discarded: its content is undefined, replicas zero it */
	CBT_REC_WRITE_ZEROES = 3, /* range reads back as zeroes */
	CBT_REC_SECURE_ERASE = 4, /* like DISCARD, content must not survive */
	CBT_REC_TAG = 5,	  /* consistency point; payload is struct cbt_tag */
	CBT_REC_GAP = 6,	  /* writes before it were not journalled; see aux and reason */
	CBT_REC_DIRTY = 7,	  /* range content unknown (failed write, user mark): re-read it */
	CBT_REC_TYPE_MAX = 7,
};

/* Record flags. */
#define CBT_RF_HAS_DATA (1u << 0)	/* payload holds the written bytes (DATA mode) */
#define CBT_RF_FUA (1u << 1)		/* the write was FUA */
#define CBT_RF_PREFLUSH (1u << 2)	/* the write carried a cache flush before it */
#define CBT_RF_APP_CONSISTENT (1u << 3) /* TAG: taken with the filesystem frozen */
#define CBT_RF_ALL 0xfu

struct cbt_record {
	uint32_t magic;	       /* CBT_MAGIC_RECORD */
	uint16_t version;      /* CBT_RECORD_VERSION */
	uint16_t type;	       /* enum cbt_rec_type */
	uint32_t flags;	       /* CBT_RF_* */
	uint32_t data_len;     /* payload bytes after this header, multiple of 8 */
	uint64_t seq;	       /* sequence number, one per record, continuous per device */
	uint64_t sector;       /* first 512-byte sector, relative to the tracked device */
	uint32_t nr_sectors;   /* length in sectors (a bio is at most 4 GiB) */
	uint32_t reason;       /* GAP, DIRTY: enum cbt_reason; otherwise 0 */
	uint64_t timestamp_ns; /* wall clock (UTC, ns since 1970) when the write completed */
	uint64_t aux;	       /* GAP: bitmap generation covering the gap; TAG: tag id; else 0 */
	uint32_t data_crc;     /* crc32c of the payload; 0 when data_len == 0 */
	uint32_t hdr_crc;      /* crc32c of bytes 0..59 of this header */
};
CBT_ASSERT_SIZE(struct cbt_record, 64);
CBT_ASSERT_OFFSET(struct cbt_record, seq, 16);
CBT_ASSERT_OFFSET(struct cbt_record, nr_sectors, 32);
CBT_ASSERT_OFFSET(struct cbt_record, timestamp_ns, 40);
CBT_ASSERT_OFFSET(struct cbt_record, hdr_crc, 60);

/* Payload of a TAG record; the same tag_id is written to every device of the group. */
#define CBT_TAG_APP_CONSISTENT (1u << 0)
#define CBT_TAG_FLAGS_ALL 0x1u
#define CBT_TAG_MAX_DEVICES 16

struct cbt_tag {
	uint64_t tag_id;	     /* unique per module instance, increasing */
	uint64_t timestamp_ns;	     /* when the tag was cut */
	uint32_t flags;		     /* CBT_TAG_* */
	uint32_t nr_devices;	     /* devices in the group, 1..CBT_TAG_MAX_DEVICES */
	char name[CBT_TAG_NAME_LEN]; /* NUL-terminated */
	uint64_t reserved;	     /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_tag, 96);
CBT_ASSERT_OFFSET(struct cbt_tag, name, 24);

/* Batch flags. */
#define CBT_BF_HAS_GAP (1u << 0) /* the batch contains a GAP record */
#define CBT_BF_HAS_TAG (1u << 1) /* the batch contains a TAG record */
#define CBT_BF_ALL 0x3u

struct cbt_batch {
	uint32_t magic;	      /* CBT_MAGIC_BATCH */
	uint16_t version;     /* CBT_BATCH_VERSION */
	uint16_t mode;	      /* CBT_MODE_DATA if every WRITE record carries data, else META */
	uint64_t batch_id;    /* nonzero; COMMIT names it */
	uint64_t first_seq;   /* seq of the first record */
	uint64_t last_seq;    /* seq of the last record == first_seq + nr_records - 1 */
	uint32_t nr_records;  /* >= 1 */
	uint32_t flags;	      /* CBT_BF_* */
	uint64_t payload_len; /* bytes of records following this header */
	uint64_t reserved0;   /* 0 */
	uint32_t reserved1;   /* 0 */
	uint32_t hdr_crc;     /* crc32c of bytes 0..59 */
};
CBT_ASSERT_SIZE(struct cbt_batch, 64);
CBT_ASSERT_OFFSET(struct cbt_batch, payload_len, 40);
CBT_ASSERT_OFFSET(struct cbt_batch, hdr_crc, 60);

#define CBT_STREAM_KIND_JOURNAL 1

struct cbt_stream_hdr {
	uint32_t magic;		 /* CBT_MAGIC_STREAM */
	uint16_t version;	 /* CBT_STREAM_VERSION */
	uint16_t kind;		 /* CBT_STREAM_KIND_JOURNAL */
	uint64_t device_bytes;	 /* size of the tracked device; records must stay inside it */
	uint64_t created_ns;	 /* when the file was started */
	uint32_t granularity;	 /* bitmap granularity of the device, bytes */
	uint32_t flags;		 /* 0 */
	char name[CBT_NAME_LEN]; /* device name at attach */
	uint8_t device_id[16];	 /* identity of the device, zero when unknown */
	uint64_t reserved0;	 /* 0 */
	uint32_t reserved1;	 /* 0 */
	uint32_t hdr_crc;	 /* crc32c of bytes 0..91 */
};
CBT_ASSERT_SIZE(struct cbt_stream_hdr, 96);
CBT_ASSERT_OFFSET(struct cbt_stream_hdr, name, 32);
CBT_ASSERT_OFFSET(struct cbt_stream_hdr, hdr_crc, 92);

/* ---- helpers ------------------------------------------------------------------------ */

/* CRC of a header that ends with its own 32-bit CRC field. */
CBT_INLINE uint32_t cbt_hdr_crc(const void *hdr, size_t size)
{
	return cbt_crc32c(0, hdr, size - sizeof(uint32_t));
}

CBT_INLINE int cbt_rec_type_valid(uint32_t type)
{
	return type >= CBT_REC_WRITE && type <= CBT_REC_TYPE_MAX;
}

/* Types that describe a range of the device (and so need nr_sectors > 0 and bounds). */
CBT_INLINE int cbt_rec_type_has_range(uint32_t type)
{
	return type != CBT_REC_TAG && type != CBT_REC_GAP;
}

/* Bytes the record occupies in a batch: header plus payload. */
CBT_INLINE uint64_t cbt_rec_total_len(const struct cbt_record *r)
{
	return sizeof(*r) + (uint64_t)r->data_len;
}

/* Fills in a record header; call cbt_rec_seal() once the payload is final. */
CBT_INLINE void cbt_rec_init(struct cbt_record *r, uint32_t type, uint64_t seq, uint64_t sector,
			     uint32_t nr_sectors, uint32_t flags, uint64_t timestamp_ns)
{
	cbt_memset(r, 0, sizeof(*r));
	r->magic = CBT_MAGIC_RECORD;
	r->version = CBT_RECORD_VERSION;
	r->type = (uint16_t)type;
	r->flags = flags;
	r->seq = seq;
	r->sector = sector;
	r->nr_sectors = nr_sectors;
	r->timestamp_ns = timestamp_ns;
}

/* Computes data_crc over data (data_len bytes, may be NULL when data_len is 0) and hdr_crc. */
CBT_INLINE void cbt_rec_seal(struct cbt_record *r, const void *data)
{
	r->data_crc = r->data_len ? cbt_crc32c(0, data, r->data_len) : 0;
	r->hdr_crc = cbt_hdr_crc(r, sizeof(*r));
}

/*
 * Validates a record header on its own: magic, version, CRC, type, flags, the lengths the
 * type implies, range overflow, and (when device_sectors != 0) the device bounds.
 */
CBT_INLINE int cbt_rec_check_hdr(const struct cbt_record *r, uint64_t device_sectors)
{
	int err;

	if (r->magic != CBT_MAGIC_RECORD)
		return CBT_FMT_BAD_MAGIC;
	if (r->version != CBT_RECORD_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (r->hdr_crc != cbt_hdr_crc(r, sizeof(*r)))
		return CBT_FMT_BAD_HDR_CRC;
	if (!cbt_rec_type_valid(r->type))
		return CBT_FMT_BAD_TYPE;
	if (r->flags & ~CBT_RF_ALL)
		return CBT_FMT_BAD_FLAGS;
	if (r->data_len % 8 != 0)
		return CBT_FMT_BAD_LENGTH;
	if (!r->data_len && r->data_crc)
		return CBT_FMT_BAD_DATA_CRC;

	switch (r->type) {
	case CBT_REC_WRITE:
		if (r->flags & CBT_RF_APP_CONSISTENT)
			return CBT_FMT_BAD_FLAGS;
		if (r->flags & CBT_RF_HAS_DATA) {
			if ((uint64_t)r->nr_sectors << CBT_SECTOR_SHIFT != r->data_len ||
			    r->data_len > CBT_REC_MAX_DATA)
				return CBT_FMT_BAD_LENGTH;
		} else if (r->data_len) {
			return CBT_FMT_BAD_LENGTH;
		}
		break;
	case CBT_REC_TAG:
		if (r->flags & ~CBT_RF_APP_CONSISTENT)
			return CBT_FMT_BAD_FLAGS;
		if (r->data_len != sizeof(struct cbt_tag) || r->sector || r->nr_sectors)
			return CBT_FMT_BAD_LENGTH;
		break;
	case CBT_REC_GAP:
		if (r->flags)
			return CBT_FMT_BAD_FLAGS;
		if (r->data_len || r->sector || r->nr_sectors)
			return CBT_FMT_BAD_LENGTH;
		if (r->reason > CBT_REASON_MAX)
			return CBT_FMT_BAD_REASON;
		break;
	default: /* DISCARD, WRITE_ZEROES, SECURE_ERASE, DIRTY: a range, no data */
		if (r->flags & (CBT_RF_HAS_DATA | CBT_RF_APP_CONSISTENT))
			return CBT_FMT_BAD_FLAGS;
		if (r->data_len)
			return CBT_FMT_BAD_LENGTH;
		if (r->reason > CBT_REASON_MAX)
			return CBT_FMT_BAD_REASON;
		break;
	}
	if (r->type != CBT_REC_GAP && r->type != CBT_REC_DIRTY && r->reason)
		return CBT_FMT_BAD_REASON;
	if (r->type != CBT_REC_GAP && r->type != CBT_REC_TAG && r->aux)
		return CBT_FMT_BAD_RESERVED;

	if (cbt_rec_type_has_range(r->type)) {
		if (!r->nr_sectors)
			return CBT_FMT_BAD_LENGTH;
		err = cbt_range_check(r->sector, r->nr_sectors,
				      device_sectors ? device_sectors : ~0ull);
		if (err)
			return err;
	}
	return CBT_FMT_OK;
}

/* Validates a tag payload (after its record header passed cbt_rec_check_hdr()). */
CBT_INLINE int cbt_tag_check(const struct cbt_tag *t)
{
	if (t->flags & ~CBT_TAG_FLAGS_ALL)
		return CBT_FMT_BAD_FLAGS;
	if (t->nr_devices < 1 || t->nr_devices > CBT_TAG_MAX_DEVICES)
		return CBT_FMT_BAD_COUNT;
	if (!cbt_str_terminated(t->name, sizeof(t->name)))
		return CBT_FMT_BAD_NAME;
	if (t->reserved)
		return CBT_FMT_BAD_RESERVED;
	return CBT_FMT_OK;
}

/*
 * Decodes the record at buf (avail bytes, no alignment needed): copies its header to *out
 * and checks header, payload size, payload CRC and, for a tag, the tag payload and that
 * the record's tag id matches it. On success *data points at the payload inside buf.
 */
CBT_INLINE int cbt_rec_decode(const void *buf, uint64_t avail, uint64_t device_sectors,
			      struct cbt_record *out, const uint8_t **data)
{
	const uint8_t *p = (const uint8_t *)buf;
	int err;

	if (avail < sizeof(*out))
		return CBT_FMT_TRUNCATED;
	cbt_memcpy(out, p, sizeof(*out));
	err = cbt_rec_check_hdr(out, device_sectors);
	if (err)
		return err;
	if (avail - sizeof(*out) < out->data_len)
		return CBT_FMT_TRUNCATED;
	if (out->data_len && cbt_crc32c(0, p + sizeof(*out), out->data_len) != out->data_crc)
		return CBT_FMT_BAD_DATA_CRC;
	if (out->type == CBT_REC_TAG) {
		struct cbt_tag tag;

		cbt_memcpy(&tag, p + sizeof(*out), sizeof(tag));
		err = cbt_tag_check(&tag);
		if (err)
			return err;
		if (tag.tag_id != out->aux)
			return CBT_FMT_BAD_COUNT;
		if (!!(tag.flags & CBT_TAG_APP_CONSISTENT) !=
		    !!(out->flags & CBT_RF_APP_CONSISTENT))
			return CBT_FMT_BAD_FLAGS;
	}
	if (data)
		*data = p + sizeof(*out);
	return CBT_FMT_OK;
}

CBT_INLINE void cbt_batch_seal(struct cbt_batch *b)
{
	b->hdr_crc = cbt_hdr_crc(b, sizeof(*b));
}

/* Validates a batch header on its own. */
CBT_INLINE int cbt_batch_check_hdr(const struct cbt_batch *b)
{
	if (b->magic != CBT_MAGIC_BATCH)
		return CBT_FMT_BAD_MAGIC;
	if (b->version != CBT_BATCH_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (b->hdr_crc != cbt_hdr_crc(b, sizeof(*b)))
		return CBT_FMT_BAD_HDR_CRC;
	if (b->mode != CBT_MODE_DATA && b->mode != CBT_MODE_META)
		return CBT_FMT_BAD_MODE;
	if (b->flags & ~CBT_BF_ALL)
		return CBT_FMT_BAD_FLAGS;
	if (b->reserved0 || b->reserved1)
		return CBT_FMT_BAD_RESERVED;
	if (!b->batch_id || !b->nr_records)
		return CBT_FMT_BAD_COUNT;
	if (b->last_seq < b->first_seq || b->last_seq - b->first_seq != (uint64_t)b->nr_records - 1)
		return CBT_FMT_BAD_COUNT;
	if (b->payload_len < (uint64_t)b->nr_records * sizeof(struct cbt_record))
		return CBT_FMT_BAD_LENGTH;
	return CBT_FMT_OK;
}

/*
 * Validates a whole batch at buf (header followed by payload, avail bytes): the header,
 * then every record in order (continuous sequence numbers from first_seq, payload exactly
 * consumed, flags and mode agreeing with the records). *len receives the bytes the batch
 * occupies. device_sectors bounds every range when nonzero.
 */
CBT_INLINE int cbt_batch_check(const void *buf, uint64_t avail, uint64_t device_sectors,
			       uint64_t *len)
{
	const uint8_t *p = (const uint8_t *)buf;
	struct cbt_batch b;
	uint64_t off, i;
	uint32_t seen_flags = 0;
	int all_data = 1;
	int err;

	if (avail < sizeof(b))
		return CBT_FMT_TRUNCATED;
	cbt_memcpy(&b, p, sizeof(b));
	err = cbt_batch_check_hdr(&b);
	if (err)
		return err;
	if (avail - sizeof(b) < b.payload_len)
		return CBT_FMT_TRUNCATED;

	off = sizeof(b);
	for (i = 0; i < b.nr_records; i++) {
		struct cbt_record r;

		if (off >= sizeof(b) + b.payload_len)
			return CBT_FMT_BAD_COUNT;
		err = cbt_rec_decode(p + off, sizeof(b) + b.payload_len - off, device_sectors, &r,
				     NULL);
		if (err)
			return err;
		if (r.seq != b.first_seq + i)
			return CBT_FMT_BAD_COUNT;
		if (r.type == CBT_REC_GAP)
			seen_flags |= CBT_BF_HAS_GAP;
		if (r.type == CBT_REC_TAG)
			seen_flags |= CBT_BF_HAS_TAG;
		if (r.type == CBT_REC_WRITE && !(r.flags & CBT_RF_HAS_DATA))
			all_data = 0;
		off += cbt_rec_total_len(&r);
	}
	if (off != sizeof(b) + b.payload_len)
		return CBT_FMT_BAD_LENGTH;
	if (seen_flags != b.flags)
		return CBT_FMT_BAD_FLAGS;
	if ((b.mode == CBT_MODE_DATA) != all_data)
		return CBT_FMT_BAD_MODE;
	if (len)
		*len = off;
	return CBT_FMT_OK;
}

CBT_INLINE void cbt_stream_hdr_init(struct cbt_stream_hdr *h, const char *name,
				    uint64_t device_bytes, uint32_t granularity,
				    uint64_t created_ns)
{
	size_t i;

	cbt_memset(h, 0, sizeof(*h));
	h->magic = CBT_MAGIC_STREAM;
	h->version = CBT_STREAM_VERSION;
	h->kind = CBT_STREAM_KIND_JOURNAL;
	h->device_bytes = device_bytes;
	h->granularity = granularity;
	h->created_ns = created_ns;
	for (i = 0; i + 1 < sizeof(h->name) && name && name[i]; i++)
		h->name[i] = name[i];
	h->hdr_crc = cbt_hdr_crc(h, sizeof(*h));
}

/* Decodes and validates a stream file header from buf (avail bytes). */
CBT_INLINE int cbt_stream_hdr_decode(const void *buf, uint64_t avail, struct cbt_stream_hdr *out)
{
	if (avail < sizeof(*out))
		return CBT_FMT_TRUNCATED;
	cbt_memcpy(out, buf, sizeof(*out));
	if (out->magic != CBT_MAGIC_STREAM)
		return CBT_FMT_BAD_MAGIC;
	if (out->version != CBT_STREAM_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (out->hdr_crc != cbt_hdr_crc(out, sizeof(*out)))
		return CBT_FMT_BAD_HDR_CRC;
	if (out->kind != CBT_STREAM_KIND_JOURNAL)
		return CBT_FMT_BAD_TYPE;
	if (out->flags)
		return CBT_FMT_BAD_FLAGS;
	if (out->reserved0 || out->reserved1)
		return CBT_FMT_BAD_RESERVED;
	if (!cbt_granularity_valid(out->granularity))
		return CBT_FMT_BAD_GRANULARITY;
	if (!out->device_bytes || out->device_bytes % CBT_SECTOR_SIZE)
		return CBT_FMT_BAD_LENGTH;
	if (!cbt_name_valid(out->name, sizeof(out->name)))
		return CBT_FMT_BAD_NAME;
	return CBT_FMT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_RECORD_H */
