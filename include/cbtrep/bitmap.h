/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Bitmap dump: a 64-byte header followed by bits_len bytes of bits. Bit i covers bytes
 * [i * granularity, (i + 1) * granularity) of the device; bit i lives in byte i / 8 at
 * position i % 8 (little-endian 64-bit words read the same). bits_len is nr_bits rounded
 * up to whole 64-bit words; bits past nr_bits are zero.
 */
#ifndef CBTREP_BITMAP_H
#define CBTREP_BITMAP_H

#include "abi.h"
#include "crc32c.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_BITMAP_VERSION 1

struct cbt_bitmap_hdr {
	uint32_t magic;	       /* CBT_MAGIC_BITMAP */
	uint16_t version;      /* CBT_BITMAP_VERSION */
	uint16_t reserved0;    /* 0 */
	uint64_t generation;   /* generation this bitmap was cut as */
	uint64_t device_bytes; /* size of the device it covers */
	uint32_t granularity;  /* bytes per bit, power of two, 4..64 KiB */
	uint32_t flags;	       /* 0 */
	uint64_t nr_bits;      /* ceil(device_bytes / granularity) */
	uint64_t bits_len;     /* bytes of bits following: ceil(nr_bits / 64) * 8 */
	uint64_t reserved1;    /* 0 */
	uint32_t bits_crc;     /* crc32c of the bits */
	uint32_t hdr_crc;      /* crc32c of bytes 0..59 */
};
CBT_ASSERT_SIZE(struct cbt_bitmap_hdr, 64);
CBT_ASSERT_OFFSET(struct cbt_bitmap_hdr, nr_bits, 32);
CBT_ASSERT_OFFSET(struct cbt_bitmap_hdr, bits_crc, 56);

CBT_INLINE uint64_t cbt_bitmap_bits_len(uint64_t nr_bits)
{
	return (nr_bits + 63) / 64 * 8;
}

CBT_INLINE void cbt_bitmap_hdr_init(struct cbt_bitmap_hdr *h, uint64_t generation,
				    uint64_t device_bytes, uint32_t granularity)
{
	cbt_memset(h, 0, sizeof(*h));
	h->magic = CBT_MAGIC_BITMAP;
	h->version = CBT_BITMAP_VERSION;
	h->generation = generation;
	h->device_bytes = device_bytes;
	h->granularity = granularity;
	h->nr_bits = cbt_bitmap_bits(device_bytes, granularity);
	h->bits_len = cbt_bitmap_bits_len(h->nr_bits);
}

/* Sets bits_crc over bits (bits_len bytes) and seals the header. */
CBT_INLINE void cbt_bitmap_hdr_seal(struct cbt_bitmap_hdr *h, const void *bits)
{
	h->bits_crc = cbt_crc32c(0, bits, h->bits_len);
	h->hdr_crc = cbt_hdr_crc(h, sizeof(*h));
}

CBT_INLINE int cbt_bitmap_hdr_check(const struct cbt_bitmap_hdr *h)
{
	if (h->magic != CBT_MAGIC_BITMAP)
		return CBT_FMT_BAD_MAGIC;
	if (h->version != CBT_BITMAP_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (h->hdr_crc != cbt_hdr_crc(h, sizeof(*h)))
		return CBT_FMT_BAD_HDR_CRC;
	if (h->flags)
		return CBT_FMT_BAD_FLAGS;
	if (h->reserved0 || h->reserved1)
		return CBT_FMT_BAD_RESERVED;
	if (!cbt_granularity_valid(h->granularity))
		return CBT_FMT_BAD_GRANULARITY;
	if (!h->device_bytes || h->device_bytes % CBT_SECTOR_SIZE)
		return CBT_FMT_BAD_LENGTH;
	if (h->nr_bits != cbt_bitmap_bits(h->device_bytes, h->granularity) ||
	    h->bits_len != cbt_bitmap_bits_len(h->nr_bits))
		return CBT_FMT_BAD_LENGTH;
	return CBT_FMT_OK;
}

/*
 * Decodes a whole bitmap dump at buf (avail bytes): header, bits CRC, and zero bits past
 * nr_bits. On success *bits points at the bits inside buf.
 */
CBT_INLINE int cbt_bitmap_decode(const void *buf, uint64_t avail, struct cbt_bitmap_hdr *out,
				 const uint8_t **bits)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint64_t i;
	int err;

	if (avail < sizeof(*out))
		return CBT_FMT_TRUNCATED;
	cbt_memcpy(out, p, sizeof(*out));
	err = cbt_bitmap_hdr_check(out);
	if (err)
		return err;
	if (avail - sizeof(*out) < out->bits_len)
		return CBT_FMT_TRUNCATED;
	p += sizeof(*out);
	if (cbt_crc32c(0, p, out->bits_len) != out->bits_crc)
		return CBT_FMT_BAD_DATA_CRC;
	for (i = out->nr_bits; i < out->bits_len * 8; i++)
		if (p[i / 8] & (1u << (i % 8)))
			return CBT_FMT_BAD_LENGTH;
	if (bits)
		*bits = p;
	return CBT_FMT_OK;
}

CBT_INLINE int cbt_bitmap_test(const uint8_t *bits, uint64_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

CBT_INLINE void cbt_bitmap_set(uint8_t *bits, uint64_t i)
{
	bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_BITMAP_H */
