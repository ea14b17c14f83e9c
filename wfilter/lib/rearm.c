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
	if (!r.granularity || r.meta_size < CBT_META_AREA_SIZE ||
	    r.meta_size % CBT_META_AREA_SIZE)
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
