// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata file I/O (see persist.h): through the file system while it runs, straight to
 * the disk (below every filter) at last-chance shutdown, the boot re-arm records in the
 * registry and the boot-time read of the image they point at. PASSIVE_LEVEL only.
 */
#include <errno.h>

#include "persist.h"
#include "lowerio.h"
#include "track.h"
#include "../lib/ntpath.h"

#include <ntddvol.h>
#include <cbtrep/meta.h>

#define PATH_UNITS 300
#define MAX_VOL_EXTENTS 8

void *cbt_persist_alloc(ULONG len)
{
	void *p = ExAllocatePoolWithTag(NonPagedPoolNx, len, CBT_POOL_TAG);

	if (p)
		RtlZeroMemory(p, len);
	return p; /* >= PAGE_SIZE: page aligned, as unbuffered and raw I/O need */
}

void cbt_persist_free(void *p)
{
	if (p)
		ExFreePoolWithTag(p, CBT_POOL_TAG);
}

/* Disk extents of the volume holding @h. Returns the number of extents (0 on error). */
static ULONG volume_extents(HANDLE h, VOLUME_DISK_EXTENTS *vde, ULONG size)
{
	PFILE_OBJECT fo;
	PDEVICE_OBJECT top;
	NTSTATUS st;

	if (!NT_SUCCESS(ObReferenceObjectByHandle(h, 0, NULL, KernelMode, (PVOID *)&fo, NULL)))
		return 0;
	top = IoGetAttachedDeviceReference(fo->DeviceObject);
	st = cbt_lower_ioctl(top, IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS, NULL, 0, vde, size, NULL);
	ObDereferenceObject(top);
	ObDereferenceObject(fo);
	return NT_SUCCESS(st) ? vde->NumberOfDiskExtents : 0;
}

static int on_disk(VOLUME_DISK_EXTENTS *vde, ULONG n, ULONG disk)
{
	ULONG i;

	for (i = 0; i < n; i++)
		if (vde->Extents[i].DiskNumber == disk)
			return 1;
	return 0;
}

int cbt_persist_open(struct cbt_persist *p, const char *path, ULONG tracked_disk, ULONG size,
		     void **image, ULONG *len)
{
	ULONG vsize = sizeof(VOLUME_DISK_EXTENTS) + MAX_VOL_EXTENTS * sizeof(DISK_EXTENT);
	FILE_STANDARD_INFORMATION fsi;
	FILE_END_OF_FILE_INFORMATION eof;
	VOLUME_DISK_EXTENTS *vde = NULL;
	UNICODE_STRING us;
	OBJECT_ATTRIBUTES oa;
	IO_STATUS_BLOCK iosb;
	LARGE_INTEGER zero = {0};
	PWCH wpath = NULL;
	void *buf = NULL;
	NTSTATUS st;
	ULONG n;
	int err = -ENOMEM;

	RtlZeroMemory(p, sizeof(*p));
	*image = NULL;
	*len = 0;
	wpath = cbt_persist_alloc(PATH_UNITS * sizeof(WCHAR));
	vde = cbt_persist_alloc(vsize);
	buf = cbt_persist_alloc(size);
	if (!wpath || !vde || !buf)
		goto out;
	err = -EINVAL;
	n = (ULONG)cbt_meta_nt_path(path, CBT_PATH_LEN, (uint16_t *)wpath, PATH_UNITS);
	if (!n)
		goto out;
	us.Buffer = wpath;
	us.Length = (USHORT)(n * sizeof(WCHAR));
	us.MaximumLength = us.Length + sizeof(WCHAR);
	InitializeObjectAttributes(&oa, &us, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
	/* Unbuffered and write-through: what the file system says it wrote is on the disk,
	 * which is what the raw verification below relies on. */
	st = ZwCreateFile(&p->file, GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE, &oa, &iosb, NULL,
			  FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ, FILE_OPEN_IF,
			  FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE |
				  FILE_WRITE_THROUGH | FILE_NO_INTERMEDIATE_BUFFERING |
				  FILE_NO_COMPRESSION,
			  NULL, 0);
	if (!NT_SUCCESS(st)) {
		p->file = NULL;
		err = st == STATUS_OBJECT_PATH_NOT_FOUND ? -ENOENT : -EINVAL;
		goto out;
	}
	/* Never on the tracked disk: our own writes there would be tracked, and the header
	 * would describe a disk it changes. */
	n = volume_extents(p->file, vde, vsize);
	if (!n || on_disk(vde, n, tracked_disk))
		goto fail;
	p->raw_disk = vde->Extents[0].DiskNumber;
	p->size = size;

	st = ZwQueryInformationFile(p->file, &iosb, &fsi, sizeof(fsi), FileStandardInformation);
	if (!NT_SUCCESS(st))
		goto fail;
	if (fsi.EndOfFile.QuadPart > 0) {
		st = ZwReadFile(p->file, NULL, NULL, NULL, &iosb, buf, size, &zero, NULL);
		if (NT_SUCCESS(st))
			*len = (ULONG)iosb.Information;
		else if (st != STATUS_END_OF_FILE)
			goto fail;
	}
	if (fsi.EndOfFile.QuadPart < size) {
		eof.EndOfFile.QuadPart = size;
		st = ZwSetInformationFile(p->file, &iosb, &eof, sizeof(eof),
					  FileEndOfFileInformation);
		if (!NT_SUCCESS(st))
			goto fail;
	}
	*image = buf;
	buf = NULL;
	err = 0;
	goto out;
fail:
	err = -EINVAL;
	ZwClose(p->file);
	p->file = NULL;
out:
	cbt_persist_free(wpath);
	cbt_persist_free(vde);
	cbt_persist_free(buf);
	return err;
}

void cbt_persist_close(struct cbt_persist *p)
{
	if (p->file)
		ZwClose(p->file);
	p->file = NULL;
	p->raw_ok = FALSE;
}

/* ---- pre-resolved location --------------------------------------------------------- */

/* Maps the file's clusters to disk offsets (single-disk volumes only). */
static int resolve(struct cbt_persist *p)
{
	ULONG vsize = sizeof(VOLUME_DISK_EXTENTS) + MAX_VOL_EXTENTS * sizeof(DISK_EXTENT);
	ULONG rsize = sizeof(RETRIEVAL_POINTERS_BUFFER) + CBT_PERSIST_MAX_EXT * 16;
	STARTING_VCN_INPUT_BUFFER start;
	RETRIEVAL_POINTER_BASE base;
	FILE_FS_SIZE_INFORMATION fs;
	VOLUME_DISK_EXTENTS *vde = cbt_persist_alloc(vsize);
	RETRIEVAL_POINTERS_BUFFER *rp = cbt_persist_alloc(rsize);
	IO_STATUS_BLOCK iosb;
	ULONGLONG cluster, vcn, vol_off;
	NTSTATUS st;
	ULONG i;
	int err = -EINVAL;

	RtlZeroMemory(&start, sizeof(start));
	RtlZeroMemory(&base, sizeof(base));
	if (!vde || !rp) {
		err = -ENOMEM;
		goto out;
	}
	if (volume_extents(p->file, vde, vsize) != 1)
		goto out; /* spanned/striped volume: no single place to write to */
	st = ZwQueryVolumeInformationFile(p->file, &iosb, &fs, sizeof(fs), FileFsSizeInformation);
	if (!NT_SUCCESS(st))
		goto out;
	cluster = (ULONGLONG)fs.SectorsPerAllocationUnit * fs.BytesPerSector;
	/* Where cluster 0 is, in sectors from the volume start (non-zero on FAT). */
	st = ZwFsControlFile(p->file, NULL, NULL, NULL, &iosb, FSCTL_GET_RETRIEVAL_POINTER_BASE,
			     NULL, 0, &base, sizeof(base));
	if (!NT_SUCCESS(st))
		base.FileAreaOffset.QuadPart = 0; /* NTFS and ReFS: clusters start at the volume */
	st = ZwFsControlFile(p->file, NULL, NULL, NULL, &iosb, FSCTL_GET_RETRIEVAL_POINTERS, &start,
			     sizeof(start), rp, rsize);
	if (!NT_SUCCESS(st) || rp->ExtentCount == 0 || rp->ExtentCount > CBT_PERSIST_MAX_EXT)
		goto out; /* STATUS_BUFFER_OVERFLOW: too fragmented */
	vol_off = (ULONGLONG)vde->Extents[0].StartingOffset.QuadPart +
		  (ULONGLONG)base.FileAreaOffset.QuadPart * fs.BytesPerSector;
	vcn = (ULONGLONG)rp->StartingVcn.QuadPart;
	for (i = 0; i < rp->ExtentCount; i++) {
		ULONGLONG next = (ULONGLONG)rp->Extents[i].NextVcn.QuadPart;

		if (rp->Extents[i].Lcn.QuadPart < 0)
			goto out; /* sparse or compressed run: no fixed place */
		p->ext[i].file_off = vcn * cluster;
		p->ext[i].disk_off = vol_off + (ULONGLONG)rp->Extents[i].Lcn.QuadPart * cluster;
		p->ext[i].len = (next - vcn) * cluster;
		vcn = next;
	}
	p->nr_ext = rp->ExtentCount;
	if (vcn * cluster < p->size)
		goto out;
	p->raw_disk = vde->Extents[0].DiskNumber;
	err = 0;
out:
	cbt_persist_free(vde);
	cbt_persist_free(rp);
	return err;
}

/* Reads or writes [0, len) of the file at its resolved disk location, below the filter. */
static NTSTATUS raw_io(struct cbt_persist *p, BOOLEAN write, void *buf, ULONG len)
{
	struct cbt_filter *f = cbt_filter_get_by_number(p->raw_disk);
	NTSTATUS st = STATUS_NO_SUCH_DEVICE;
	ULONG i;

	if (!f)
		return st;
	st = STATUS_SUCCESS;
	for (i = 0; i < p->nr_ext && NT_SUCCESS(st); i++) {
		ULONGLONG fo = p->ext[i].file_off, n = p->ext[i].len;

		if (fo >= len)
			break;
		if (n > len - fo)
			n = len - fo;
		st = cbt_lower_rw(f->lower, write, p->ext[i].disk_off, (PUCHAR)buf + fo, (ULONG)n);
	}
	cbt_filter_put(f);
	return st;
}

/* ---- registry: Parameters\Devices\<name>, value "Rearm" (lib/rearm.h) ----------------- */

/* Opens (or creates) Parameters\Devices under the service key. */
static NTSTATUS devices_key(BOOLEAN create, HANDLE *h)
{
	static const WCHAR suffix[] = CBT_REARM_KEY;
	static const WCHAR params[] = L"\\Parameters";
	USHORT klen = cbt_g.service_key.Length + sizeof(suffix);
	UNICODE_STRING key;
	OBJECT_ATTRIBUTES oa;
	NTSTATUS st = STATUS_INSUFFICIENT_RESOURCES;
	PWCH kbuf;

	if (!cbt_g.service_key.Buffer)
		return STATUS_OBJECT_NAME_NOT_FOUND;
	kbuf = cbt_persist_alloc(klen);
	if (!kbuf)
		return st;
	RtlCopyMemory(kbuf, cbt_g.service_key.Buffer, cbt_g.service_key.Length);
	key.Buffer = kbuf;
	key.MaximumLength = klen;
	InitializeObjectAttributes(&oa, &key, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
	if (create) {
		/* ZwCreateKey makes one level at a time: Parameters first (the INF made it). */
		RtlCopyMemory((PUCHAR)kbuf + cbt_g.service_key.Length, params, sizeof(params));
		key.Length = cbt_g.service_key.Length + sizeof(params) - sizeof(WCHAR);
		st = ZwCreateKey(h, KEY_WRITE, &oa, 0, NULL, REG_OPTION_NON_VOLATILE, NULL);
		if (NT_SUCCESS(st))
			ZwClose(*h);
	}
	RtlCopyMemory((PUCHAR)kbuf + cbt_g.service_key.Length, suffix, sizeof(suffix));
	key.Length = klen - sizeof(WCHAR);
	if (create)
		st = ZwCreateKey(h, KEY_ALL_ACCESS, &oa, 0, NULL, REG_OPTION_NON_VOLATILE, NULL);
	else
		st = ZwOpenKey(h, KEY_READ, &oa);
	cbt_persist_free(kbuf);
	return st;
}

/* Opens Devices\<name> (@wname, @wlen units) relative to @devices. */
static NTSTATUS device_key(HANDLE devices, const WCHAR *wname, ULONG wlen, BOOLEAN create,
			   ACCESS_MASK access, HANDLE *h)
{
	UNICODE_STRING key;
	OBJECT_ATTRIBUTES oa;

	key.Buffer = (PWCH)wname;
	key.Length = key.MaximumLength = (USHORT)(wlen * sizeof(WCHAR));
	InitializeObjectAttributes(&oa, &key, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, devices,
				   NULL);
	if (create)
		return ZwCreateKey(h, access, &oa, 0, NULL, REG_OPTION_NON_VOLATILE, NULL);
	return ZwOpenKey(h, access, &oa);
}

static ULONG wide_name(const char *name, WCHAR *w)
{
	ULONG i;

	for (i = 0; i < CBT_NAME_LEN && name[i]; i++)
		w[i] = (WCHAR)(UCHAR)name[i];
	return i;
}

/* Reads and validates the "Rearm" value of an open Devices\<name> key. */
static int read_rec(HANDLE h, struct cbt_rearm_rec *rec)
{
	ULONG size = sizeof(KEY_VALUE_PARTIAL_INFORMATION) + sizeof(*rec), got;
	PKEY_VALUE_PARTIAL_INFORMATION v = cbt_persist_alloc(size);
	UNICODE_STRING val;
	int err = -EINVAL;

	if (!v)
		return -ENOMEM;
	RtlInitUnicodeString(&val, CBT_REARM_VALUE);
	if (!NT_SUCCESS(ZwQueryValueKey(h, &val, KeyValuePartialInformation, v, size, &got)))
		err = -ENOENT;
	else if (v->Type == REG_BINARY &&
		 cbt_rearm_check(v->Data, v->DataLength, rec) == CBT_REARM_OK)
		err = 0;
	cbt_persist_free(v);
	return err;
}

int cbt_persist_record_get(const char *name, struct cbt_rearm_rec *rec)
{
	WCHAR wname[CBT_NAME_LEN];
	HANDLE d, h;
	int err = -ENOENT;

	if (!NT_SUCCESS(devices_key(FALSE, &d)))
		return err;
	if (NT_SUCCESS(device_key(d, wname, wide_name(name, wname), FALSE, KEY_READ, &h))) {
		err = read_rec(h, rec);
		ZwClose(h);
	}
	ZwClose(d);
	return err;
}

void cbt_persist_forget(const char *name)
{
	WCHAR wname[CBT_NAME_LEN];
	HANDLE d, h;

	if (!NT_SUCCESS(devices_key(FALSE, &d)))
		return;
	if (NT_SUCCESS(device_key(d, wname, wide_name(name, wname), FALSE, DELETE, &h))) {
		ZwDeleteKey(h);
		ZwClose(h);
		ZwFlushKey(d);
	}
	ZwClose(d);
}

/*
 * Completes the device's re-arm record with where the verified file is (metadata disk
 * identity, extents) and stores it, flushed: it must survive a crash right after attach.
 * Best effort: without it the next boot does not re-arm and the next ATTACH asks for a
 * resync (a CLEAN header alone is never trusted).
 */
static void remember(const char *name, struct cbt_persist *p)
{
	struct cbt_rearm_rec *r = p->rec;
	struct cbt_filter *m;
	ULONG i;

	if (!r)
		return;
	m = cbt_filter_get_by_number(p->raw_disk);
	if (m) {
		r->meta_disk = m->ident;
		cbt_filter_put(m);
	}
	r->meta_size = p->size;
	r->nr_ext = p->nr_ext;
	for (i = 0; i < p->nr_ext && i < CBT_REARM_MAX_EXT; i++) {
		r->ext[i].file_off = p->ext[i].file_off;
		r->ext[i].disk_off = p->ext[i].disk_off;
		r->ext[i].len = p->ext[i].len;
	}
	cbt_rearm_seal(r);
	if (!cbt_disk_id_valid(&r->tracked) || !cbt_disk_id_valid(&r->meta_disk)) {
		cbt_log("%s: tracked or metadata disk has no partition-table identity; "
			"it cannot be re-armed at boot (every reboot will resync)",
			name);
		return;
	}
	if (cbt_persist_record_put(name, r))
		cbt_log("%s: re-arm record not stored (every reboot will resync)", name);
}

int cbt_persist_record_put(const char *name, const struct cbt_rearm_rec *r)
{
	WCHAR wname[CBT_NAME_LEN];
	UNICODE_STRING val;
	HANDLE d, h;
	BOOLEAN ok = FALSE;

	RtlInitUnicodeString(&val, CBT_REARM_VALUE);
	if (NT_SUCCESS(devices_key(TRUE, &d))) {
		if (NT_SUCCESS(device_key(d, wname, wide_name(name, wname), TRUE, KEY_WRITE, &h))) {
			ok = NT_SUCCESS(
				     ZwSetValueKey(h, &val, 0, REG_BINARY, (PVOID)r, sizeof(*r))) &&
			     NT_SUCCESS(ZwFlushKey(h));
			ZwClose(h);
		}
		ZwClose(d);
	}
	return ok ? 0 : -EIO;
}

/* Resolves the location and proves it: what the file system wrote must read back, byte
 * for byte, from the disk below us. BitLocker, compression or a wrong mapping all fail
 * here and leave raw_ok FALSE (then shutdown cannot save, and says so). */
static void resolve_and_verify(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
	void *back;

	if (resolve(p))
		return;
	back = cbt_persist_alloc(len);
	if (!back)
		return;
	if (NT_SUCCESS(raw_io(p, FALSE, back, len)) && RtlCompareMemory(back, buf, len) == len) {
		p->raw_ok = TRUE;
		remember(name, p);
	}
	cbt_persist_free(back);
	if (!p->raw_ok)
		cbt_log("%s: metadata file location could not be verified; "
			"the bitmap cannot be saved at shutdown (next attach will resync)",
			name);
}

int cbt_persist_write(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
	IO_STATUS_BLOCK iosb;
	LARGE_INTEGER zero = {0};
	NTSTATUS st;

	if (!p->file)
		return 0;
	if (len > p->size)
		return -EINVAL;
	st = ZwWriteFile(p->file, NULL, NULL, NULL, &iosb, (PVOID)buf, len, &zero, NULL);
	if (NT_SUCCESS(st))
		st = ZwFlushBuffersFile(p->file, &iosb);
	if (!NT_SUCCESS(st))
		return -EIO;
	if (!p->raw_ok && !p->nr_ext)
		resolve_and_verify(p, name, buf, len);
	return 0;
}

static int header_is(const uint8_t *sec, const char *name)
{
	const struct cbt_meta *m = (const struct cbt_meta *)sec;
	size_t i;

	if (m->magic != CBT_MAGIC_META)
		return 0;
	for (i = 0; i < CBT_NAME_LEN; i++) {
		if (m->name[i] != name[i])
			return 0;
		if (!name[i])
			break;
	}
	return 1;
}

int cbt_persist_write_raw(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
	struct cbt_persist one;
	uint8_t *sec;
	int err = -EIO;

	if (!p->raw_ok)
		return -ENODEV;
	if (len > p->size)
		return -EINVAL;
	/* The file may have moved since attach (defragmentation): our header must still be
	 * where we resolved it, or nothing is written. */
	sec = cbt_persist_alloc(CBT_META_AREA_SIZE);
	if (!sec)
		return -ENOMEM;
	one = *p;
	if (NT_SUCCESS(raw_io(&one, FALSE, sec, CBT_META_AREA_SIZE)) && header_is(sec, name) &&
	    NT_SUCCESS(raw_io(p, TRUE, (void *)buf, len)))
		err = 0;
	cbt_persist_free(sec);
	return err;
}

/* ---- boot: re-arm at START ------------------------------------------------------------ */

/* Reads the metadata image of @rec below every filter and re-arms the tracker on @f. */
static void arm_one(struct cbt_filter *f, const struct cbt_rearm_rec *rec)
{
	struct cbt_filter *m = cbt_filter_get_by_ident(&rec->meta_disk);
	NTSTATUS st = STATUS_SUCCESS;
	uint8_t *img;
	ULONG i;

	if (!m) {
		/* Not started yet (or gone): tracked from now on, but without the saved
		 * bitmap; its header is marked when that disk starts. */
		cbt_log("%s: metadata disk not present at boot", rec->name);
		cbt_track_rearm(f, rec, NULL, NULL, 0, CBT_REASON_METADATA_INVALID);
		return;
	}
	img = cbt_persist_alloc(rec->meta_size);
	for (i = 0; img && i < rec->nr_ext && NT_SUCCESS(st); i++) {
		ULONGLONG fo = rec->ext[i].file_off, n = rec->ext[i].len;

		if (fo >= rec->meta_size)
			break;
		if (n > rec->meta_size - fo)
			n = rec->meta_size - fo;
		st = cbt_lower_rw(m->lower, FALSE, rec->ext[i].disk_off, img + fo, (ULONG)n);
	}
	if (img && NT_SUCCESS(st)) {
		cbt_track_rearm(f, rec, &m->disk_number, img, rec->meta_size, 0);
	} else {
		cbt_log("%s: metadata unreadable at boot (0x%lx)", rec->name, (ULONG)st);
		cbt_track_rearm(f, rec, &m->disk_number, NULL, 0, CBT_REASON_METADATA_INVALID);
	}
	cbt_persist_free(img);
	cbt_filter_put(m);
}

void cbt_persist_disk_started(struct cbt_filter *f)
{
	ULONG bsize = sizeof(KEY_BASIC_INFORMATION) + CBT_NAME_LEN * sizeof(WCHAR) + 64, got, i;
	PKEY_BASIC_INFORMATION kb;
	struct cbt_rearm_rec *rec;
	HANDLE d, h;

	cbt_track_meta_disk_started(f);
	if (!cbt_disk_id_valid(&f->ident) || !NT_SUCCESS(devices_key(FALSE, &d)))
		return;
	kb = cbt_persist_alloc(bsize);
	rec = cbt_persist_alloc(sizeof(*rec));
	for (i = 0;
	     kb && rec && NT_SUCCESS(ZwEnumerateKey(d, i, KeyBasicInformation, kb, bsize, &got));
	     i++) {
		if (!NT_SUCCESS(device_key(d, kb->Name, kb->NameLength / sizeof(WCHAR), FALSE,
					   KEY_READ, &h)))
			continue;
		/* Disk numbers change across boots: the record names the disk by identity. */
		if (!read_rec(h, rec) && cbt_disk_id_eq(&rec->tracked, &f->ident))
			arm_one(f, rec);
		ZwClose(h);
	}
	ZwClose(d);
	cbt_persist_free(kb);
	cbt_persist_free(rec);
}
