// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata file I/O (see persist.h): through the file system while it runs, straight to
 * the disk (below every filter) at last-chance shutdown, and the boot-time flip of CLEAN
 * headers to DIRTY. PASSIVE_LEVEL only.
 */
#include <errno.h>

#include "persist.h"
#include "lowerio.h"
#include "../lib/ntpath.h"

#include <ntddvol.h>
#include <cbtrep/meta.h>

#define REG_META L"\\Meta" /* under the service's Parameters key: name -> location */
#define PATH_UNITS 300
#define MAX_VOL_EXTENTS 8

/* What the registry remembers per device, for the boot-time flip. */
struct reg_loc {
	uint32_t version;  /* 1 */
	uint32_t disk;	   /* disk number holding the header at attach (information only) */
	uint64_t disk_off; /* byte offset of the header on that disk */
};

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

/* Remembers where the header is, for the boot-time flip (cbt_persist_disk_started).
 * Without this record a CLEAN header would be trusted across an untracked boot, so the
 * raw location is only used when the record was written (returns TRUE). */
static BOOLEAN remember(const char *name, struct cbt_persist *p)
{
	static const WCHAR suffix[] = L"\\Parameters" REG_META;
	struct reg_loc loc = {1, p->raw_disk, p->ext[0].disk_off};
	USHORT klen = cbt_g.service_key.Length + sizeof(suffix);
	WCHAR wname[CBT_NAME_LEN];
	UNICODE_STRING key, val;
	OBJECT_ATTRIBUTES oa;
	HANDLE h;
	ULONG i;
	PWCH kbuf = cbt_persist_alloc(klen);
	BOOLEAN ok = FALSE;

	if (!kbuf)
		return FALSE;
	RtlCopyMemory(kbuf, cbt_g.service_key.Buffer, cbt_g.service_key.Length);
	RtlCopyMemory((PUCHAR)kbuf + cbt_g.service_key.Length, suffix, sizeof(suffix));
	key.Buffer = kbuf;
	key.Length = klen - sizeof(WCHAR);
	key.MaximumLength = klen;
	for (i = 0; i < CBT_NAME_LEN && name[i]; i++)
		wname[i] = (WCHAR)name[i];
	val.Buffer = wname;
	val.Length = val.MaximumLength = (USHORT)(i * sizeof(WCHAR));
	InitializeObjectAttributes(&oa, &key, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
	if (NT_SUCCESS(ZwCreateKey(&h, KEY_WRITE, &oa, 0, NULL, REG_OPTION_NON_VOLATILE, NULL))) {
		ok = NT_SUCCESS(ZwSetValueKey(h, &val, 0, REG_BINARY, &loc, sizeof(loc))) &&
		     NT_SUCCESS(ZwFlushKey(h)); /* must survive a crash right after attach */
		ZwClose(h);
	}
	cbt_persist_free(kbuf);
	return ok;
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
	if (NT_SUCCESS(raw_io(p, FALSE, back, len)) && RtlCompareMemory(back, buf, len) == len)
		p->raw_ok = remember(name, p);
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

/* ---- boot: dirty at start ---------------------------------------------------------- */

static void flip_one(struct cbt_filter *f, const WCHAR *wname, ULONG wlen, ULONGLONG off)
{
	char name[CBT_NAME_LEN] = {0};
	uint8_t *sec = cbt_persist_alloc(CBT_META_AREA_SIZE);
	struct cbt_meta m;
	ULONG i;

	if (!sec)
		return;
	for (i = 0; i < wlen && i + 1 < CBT_NAME_LEN; i++)
		name[i] = (char)wname[i];
	if (!NT_SUCCESS(cbt_lower_rw(f->lower, FALSE, off, sec, CBT_META_AREA_SIZE)))
		goto out;
	if (!header_is(sec, name) || cbt_meta_decode(sec, CBT_META_AREA_SIZE, &m) != CBT_FMT_OK)
		goto out;
	if (m.state != CBT_STATE_CLEAN)
		goto out;
	/* Writes until the engine re-attaches are not tracked: the saved bitmap cannot be
	 * trusted any more. The next ATTACH reports it (unclean shutdown -> resync). */
	m.state = CBT_STATE_DIRTY;
	m.reason = CBT_REASON_NONE;
	cbt_meta_seal(&m);
	RtlCopyMemory(sec, &m, sizeof(m));
	if (NT_SUCCESS(cbt_lower_rw(f->lower, TRUE, off, sec, CBT_META_AREA_SIZE)))
		cbt_log("%s: metadata marked dirty at boot", name);
out:
	cbt_persist_free(sec);
}

void cbt_persist_disk_started(struct cbt_filter *f)
{
	static const WCHAR suffix[] = L"\\Parameters" REG_META;
	USHORT klen = cbt_g.service_key.Length + sizeof(suffix);
	ULONG bsize = 512, got, i;
	PKEY_VALUE_FULL_INFORMATION v;
	UNICODE_STRING key;
	OBJECT_ATTRIBUTES oa;
	HANDLE h;
	PWCH kbuf;

	if (!cbt_g.service_key.Buffer)
		return;
	kbuf = cbt_persist_alloc(klen);
	v = cbt_persist_alloc(bsize);
	if (!kbuf || !v)
		goto out;
	RtlCopyMemory(kbuf, cbt_g.service_key.Buffer, cbt_g.service_key.Length);
	RtlCopyMemory((PUCHAR)kbuf + cbt_g.service_key.Length, suffix, sizeof(suffix));
	key.Buffer = kbuf;
	key.Length = klen - sizeof(WCHAR);
	key.MaximumLength = klen;
	InitializeObjectAttributes(&oa, &key, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, NULL, NULL);
	if (!NT_SUCCESS(ZwOpenKey(&h, KEY_READ, &oa)))
		goto out;
	for (i = 0; NT_SUCCESS(ZwEnumerateValueKey(h, i, KeyValueFullInformation, v, bsize, &got));
	     i++) {
		struct reg_loc loc;

		if (v->Type != REG_BINARY || v->DataLength != sizeof(loc))
			continue;
		RtlCopyMemory(&loc, (PUCHAR)v + v->DataOffset, sizeof(loc));
		/* Disk numbers may change across boots: look on every disk that starts. A
		 * valid, CRC-checked header with this name at this offset is what we flip. */
		if (loc.version == 1 && loc.disk_off % CBT_SECTOR_SIZE == 0 &&
		    (!f->disk_bytes || loc.disk_off + CBT_META_AREA_SIZE <= f->disk_bytes))
			flip_one(f, v->Name, v->NameLength / sizeof(WCHAR), loc.disk_off);
	}
	ZwClose(h);
out:
	cbt_persist_free(kbuf);
	cbt_persist_free(v);
}
