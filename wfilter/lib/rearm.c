// SPDX-License-Identifier: GPL-2.0
/* Boot re-arm record: validation and disk identity (see rearm.h). */
#include "rearm.h"

#include <cbtrep/meta.h>

int cbt_disk_id_valid(const struct cbt_disk_id *d)
{
	size_t i;

	if (!d->bytes)
		return 0;
	if (d->kind == CBT_DISK_ID_MBR)
		return d->mbr_signature != 0;
	if (d->kind != CBT_DISK_ID_GPT)
		return 0;
	for (i = 0; i < sizeof(d->gpt_guid); i++)
		if (d->gpt_guid[i])
			return 1;
	return 0;
}

int cbt_disk_id_eq(const struct cbt_disk_id *a, const struct cbt_disk_id *b)
{
	size_t i;

	if (!cbt_disk_id_valid(a) || !cbt_disk_id_valid(b) || a->kind != b->kind ||
	    a->bytes != b->bytes)
		return 0;
	if (a->kind == CBT_DISK_ID_MBR)
		return a->mbr_signature == b->mbr_signature;
	for (i = 0; i < sizeof(a->gpt_guid); i++)
		if (a->gpt_guid[i] != b->gpt_guid[i])
			return 0;
	return 1;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32 (IEEE, reflected, as the UEFI specification uses for GPT headers). */
static uint32_t crc32_ieee(const uint8_t *p, size_t n, size_t zero_at)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		uint8_t b = (i >= zero_at && i < zero_at + 4) ? 0 : p[i];

		crc ^= b;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void zero_id(struct cbt_disk_id *d)
{
	uint8_t *p = (uint8_t *)d;
	size_t i;

	for (i = 0; i < sizeof(*d); i++)
		p[i] = 0;
}

int cbt_disk_id_parse(const uint8_t *buf, uint32_t sector_size, uint64_t bytes,
		      struct cbt_disk_id *out)
{
	static const char efi[8] = {'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T'};
	const uint8_t *gpt = buf + sector_size;
	uint32_t hsize;
	size_t i;

	zero_id(out);
	if (sector_size < 512 || sector_size % 512 || !bytes)
		return 0;
	out->bytes = bytes;
	for (i = 0; i < sizeof(efi) && gpt[i] == (uint8_t)efi[i]; i++)
		;
	hsize = le32(gpt + 12);
	if (i == sizeof(efi) && hsize >= 92 && hsize <= sector_size &&
	    crc32_ieee(gpt, hsize, 16) == le32(gpt + 16)) {
		out->kind = CBT_DISK_ID_GPT;
		for (i = 0; i < sizeof(out->gpt_guid); i++)
			out->gpt_guid[i] = gpt[56 + i];
	} else if (buf[510] == 0x55 && buf[511] == 0xaa) {
		for (i = 0; i < 4; i++)
			if (buf[446 + 16 * i + 4] == 0xee)
				goto none; /* protective MBR of a GPT disk whose header is bad */
		out->kind = CBT_DISK_ID_MBR;
		out->mbr_signature = le32(buf + 440);
	}
	if (cbt_disk_id_valid(out))
		return 1;
none:
	zero_id(out);
	return 0;
}

static uint32_t rec_crc(const struct cbt_rearm_rec *r)
{
	static const uint8_t zero[sizeof(r->crc)];
	const uint8_t *b = (const uint8_t *)r;
	size_t at = offsetof(struct cbt_rearm_rec, crc), after = at + sizeof(r->crc);
	uint32_t c = cbt_crc32c(0, b, at);

	c = cbt_crc32c(c, zero, sizeof(zero));
	return cbt_crc32c(c, b + after, sizeof(*r) - after);
}

void cbt_rearm_seal(struct cbt_rearm_rec *r)
{
	r->magic = CBT_REARM_MAGIC;
	r->version = CBT_REARM_VERSION;
	r->size = sizeof(*r);
	r->crc = rec_crc(r);
}

static int extents_ok(const struct cbt_rearm_rec *r)
{
	uint64_t covered = 0;
	uint32_t i;

	if (r->nr_ext < 1 || r->nr_ext > CBT_REARM_MAX_EXT)
		return 0;
	for (i = 0; i < r->nr_ext; i++) {
		const struct cbt_rearm_ext *e = &r->ext[i];

		if (e->file_off != covered || !e->len || e->len % CBT_SECTOR_SIZE ||
		    e->disk_off % CBT_SECTOR_SIZE || e->disk_off + e->len < e->disk_off)
			return 0;
		covered += e->len;
	}
	return covered >= r->meta_size;
}

enum cbt_rearm_err cbt_rearm_check(const void *buf, size_t len, struct cbt_rearm_rec *out)
{
	struct cbt_rearm_rec r;
	const uint8_t *s = buf;
	uint8_t *d = (uint8_t *)&r;
	size_t i;

	if (len != sizeof(r))
		return CBT_REARM_E_SIZE;
	for (i = 0; i < len; i++) /* no memcpy: also built freestanding (-fno-builtin) */
		d[i] = s[i];
	if (r.magic != CBT_REARM_MAGIC)
		return CBT_REARM_E_MAGIC;
	if (r.version != CBT_REARM_VERSION || r.size != sizeof(r))
		return CBT_REARM_E_VERSION;
	if (r.crc != rec_crc(&r))
		return CBT_REARM_E_CRC;
	if (!cbt_name_valid(r.name, sizeof(r.name)))
		return CBT_REARM_E_NAME;
	if (!cbt_disk_id_valid(&r.tracked) || !cbt_disk_id_valid(&r.meta_disk))
		return CBT_REARM_E_IDENTITY;
	if (!r.granularity || r.meta_size < CBT_META_AREA_SIZE || r.meta_size % CBT_META_AREA_SIZE)
		return CBT_REARM_E_PARAMS;
	if (!extents_ok(&r))
		return CBT_REARM_E_EXTENTS;
	*out = r;
	return CBT_REARM_OK;
}

uint32_t cbt_rearm_attach_reason(const struct cbt_rearm_rec *rec, const struct cbt_disk_id *disk)
{
	if (rec && !cbt_disk_id_eq(&rec->tracked, disk))
		return CBT_REASON_IDENTITY_CHANGED;
	return CBT_REASON_UNTRACKED_WINDOW;
}
