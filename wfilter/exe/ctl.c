// SPDX-License-Identifier: GPL-2.0
/*
 * cbtrep.exe requests over the control device, with the structs of include/cbtrep/ioctl.h.
 * Windows convention (ioctl.h): METHOD_BUFFERED, buf = 0, and variable-size results (GET,
 * LIST, BITMAP_READ) follow the struct in the output buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define LIST_MAX 64
#define DUMP_CHUNK (1u << 20)

static HANDLE open_ctl(void)
{
	HANDLE h = CreateFileA(CBT_CTL_DEVICE_WIN, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			       OPEN_EXISTING, 0, NULL);

	if (h == INVALID_HANDLE_VALUE)
		tool_fail("open " CBT_CTL_DEVICE_WIN " (driver loaded? elevated?)", GetLastError());
	return h;
}

/* One request: io holds the struct (in_len bytes) and room for out_len bytes of reply. */
static BOOL ctl(HANDLE h, DWORD code, void *io, DWORD in_len, DWORD out_len, DWORD *got)
{
	DWORD n = 0;
	BOOL ok = DeviceIoControl(h, code, io, in_len, io, out_len, &n, NULL);

	if (got)
		*got = n;
	return ok;
}

/* Zeroes a request struct and fills its header (version, size). */
#define REQ_INIT(r)                                                                                \
	do {                                                                                       \
		memset(&(r), 0, sizeof(r));                                                        \
		(r).hdr.version = CBT_IOCTL_VERSION;                                               \
		(r).hdr.size = sizeof(r);                                                          \
	} while (0)

static void set_name(char *dst, const char *src)
{
	memset(dst, 0, CBT_NAME_LEN);
	strncpy(dst, src, CBT_NAME_LEN - 1);
}

int cmd_version(void)
{
	struct cbt_ioc_version v;
	HANDLE h = open_ctl();

	REQ_INIT(v);
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	if (!ctl(h, CBT_IOC_VERSION, &v, sizeof(v), sizeof(v), NULL))
		return tool_fail("VERSION", GetLastError());
	v.module_version[sizeof(v.module_version) - 1] = '\0';
	printf("%s, ABI %u (tool ABI %u), features 0x%x\n", v.module_version, v.abi_version,
	       CBT_ABI_VERSION, v.features);
	CloseHandle(h);
	return v.abi_version == CBT_ABI_VERSION ? 0 : 1;
}

static int status_one(HANDLE h, const char *name)
{
	struct cbt_ioc_status s;

	REQ_INIT(s);
	set_name(s.name, name);
	if (!ctl(h, CBT_IOC_STATUS, &s, sizeof(s), sizeof(s), NULL))
		return tool_fail(name, GetLastError());
	printf("%s: mode %s (%s), state %s (%s)\n", name, cbt_mode_str(s.mode),
	       cbt_reason_str(s.mode_reason), cbt_state_str(s.state),
	       cbt_reason_str(s.state_reason));
	printf("  device %llu bytes, granularity %u, generation %llu, frozen %llu\n",
	       (unsigned long long)s.device_bytes, s.granularity, (unsigned long long)s.generation,
	       (unsigned long long)s.frozen_generation);
	printf("  writes %llu (%llu bytes, %llu failed), records %llu pending %llu dropped %llu\n",
	       (unsigned long long)s.writes_seen, (unsigned long long)s.bytes_seen,
	       (unsigned long long)s.writes_failed, (unsigned long long)s.records,
	       (unsigned long long)s.records_pending, (unsigned long long)s.records_dropped);
	printf("  seq next %llu committed %llu, memory %llu of %llu, bitmap %llu bytes, %llu dirty "
	       "bits\n",
	       (unsigned long long)s.next_seq, (unsigned long long)s.committed_seq,
	       (unsigned long long)s.mem_used, (unsigned long long)s.mem_cap,
	       (unsigned long long)s.bitmap_mem, (unsigned long long)s.dirty_bits);
	return 0;
}

int cmd_status(const char *name)
{
	size_t size = sizeof(struct cbt_ioc_list) + (size_t)LIST_MAX * CBT_NAME_LEN;
	struct cbt_ioc_list *l;
	HANDLE h = open_ctl();
	uint32_t i;
	int rc = 0;

	if (h == INVALID_HANDLE_VALUE)
		return 1;
	if (name) {
		rc = status_one(h, name);
		CloseHandle(h);
		return rc;
	}
	l = calloc(1, size);
	if (!l)
		return 1;
	l->hdr.version = CBT_IOCTL_VERSION;
	l->hdr.size = sizeof(*l);
	l->max = LIST_MAX;
	if (!ctl(h, CBT_IOC_LIST, l, sizeof(*l), (DWORD)size, NULL))
		return tool_fail("LIST", GetLastError());
	if (!l->count)
		printf("no device attached\n");
	for (i = 0; i < l->count && i < LIST_MAX; i++) {
		char n[CBT_NAME_LEN];

		memcpy(n, (char *)(l + 1) + (size_t)i * CBT_NAME_LEN, CBT_NAME_LEN);
		n[CBT_NAME_LEN - 1] = '\0';
		rc |= status_one(h, n);
	}
	free(l);
	CloseHandle(h);
	return rc;
}

int cmd_attach(const char *name, unsigned long disk, const char *meta, unsigned int flags,
	       unsigned long long cap)
{
	struct cbt_ioc_attach a;
	HANDLE h = open_ctl();

	REQ_INIT(a);
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	set_name(a.name, name);
	strncpy(a.meta_path, meta, sizeof(a.meta_path) - 1);
	a.dev = disk;
	a.flags = flags;
	a.mem_cap_bytes = cap;
	if (!ctl(h, CBT_IOC_ATTACH, &a, sizeof(a), sizeof(a), NULL))
		return tool_fail("ATTACH", GetLastError());
	printf("%s: attached to disk %lu, %llu bytes, granularity %u, state %s (%s)\n", name, disk,
	       (unsigned long long)a.device_bytes, a.granularity, cbt_state_str(a.state),
	       cbt_reason_str(a.reason));
	CloseHandle(h);
	return 0;
}

int cmd_detach(const char *name, unsigned int flags)
{
	struct cbt_ioc_detach d;
	HANDLE h = open_ctl();

	REQ_INIT(d);
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	set_name(d.name, name);
	d.flags = flags;
	if (!ctl(h, CBT_IOC_DETACH, &d, sizeof(d), sizeof(d), NULL))
		return tool_fail("DETACH", GetLastError());
	CloseHandle(h);
	return 0;
}

/*
 * dump: BITMAP_CUT without dropping anything (a later cut merges this frozen bitmap
 * again, so dumping never loses a change), then BITMAP_READ in 1 MiB pieces into FILE in
 * the bitmap dump format, with bits_crc and hdr_crc computed here.
 */
int cmd_dump(const char *name, const wchar_t *path)
{
	struct cbt_ioc_cut c;
	size_t size = sizeof(struct cbt_ioc_bitmap_read) + DUMP_CHUNK;
	struct cbt_ioc_bitmap_read *r = calloc(1, size);
	struct cbt_bitmap_hdr hdr;
	uint64_t off = 0;
	uint32_t crc = 0;
	HANDLE h, out;
	DWORD n;

	REQ_INIT(c);
	if (!r)
		return 1;
	h = open_ctl();
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	set_name(c.name, name);
	if (!ctl(h, CBT_IOC_BITMAP_CUT, &c, sizeof(c), sizeof(c), NULL))
		return tool_fail("BITMAP_CUT", GetLastError());
	out = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	if (out == INVALID_HANDLE_VALUE)
		return tool_fail("create dump file", GetLastError());
	memset(&hdr, 0, sizeof(hdr));
	WriteFile(out, &hdr, sizeof(hdr), &n, NULL); /* placeholder, rewritten at the end */
	do {
		memset(r, 0, sizeof(*r));
		r->hdr.version = CBT_IOCTL_VERSION;
		r->hdr.size = sizeof(*r);
		set_name(r->name, name);
		r->generation = c.generation;
		r->first_byte = off;
		r->buf_len = DUMP_CHUNK;
		if (!ctl(h, CBT_IOC_BITMAP_READ, r, sizeof(*r), (DWORD)size, NULL))
			return tool_fail("BITMAP_READ", GetLastError());
		hdr = r->bitmap;
		if (r->bytes_copied > DUMP_CHUNK)
			return tool_fail("BITMAP_READ returned too much", ERROR_INVALID_DATA);
		crc = cbt_crc32c(crc, r + 1, (size_t)r->bytes_copied);
		if (!WriteFile(out, r + 1, (DWORD)r->bytes_copied, &n, NULL) ||
		    n != r->bytes_copied)
			return tool_fail("write dump file", GetLastError());
		off += r->bytes_copied;
	} while (r->bytes_copied && off < hdr.bits_len);
	if (off != hdr.bits_len)
		return tool_fail("bitmap shorter than its header says", ERROR_INVALID_DATA);
	hdr.bits_crc = crc;
	hdr.hdr_crc = cbt_hdr_crc(&hdr, sizeof(hdr));
	SetFilePointer(out, 0, NULL, FILE_BEGIN);
	if (!WriteFile(out, &hdr, sizeof(hdr), &n, NULL) || n != sizeof(hdr))
		return tool_fail("write dump header", GetLastError());
	CloseHandle(out);
	CloseHandle(h);
	printf("%s: generation %llu, %llu dirty bits, %llu bytes of bits\n", name,
	       (unsigned long long)c.generation, (unsigned long long)c.dirty_bits,
	       (unsigned long long)hdr.bits_len);
	free(r);
	return 0;
}

/*
 * RESYNC: REQUIRE(reason) or DONE(generation, as printed by dump). A DONE refused because
 * something required a resync after that cut fails with ERROR_NO_MORE_ITEMS; the state
 * still comes back (a warning status) and is printed.
 */
int cmd_resync(const char *name, unsigned int op, unsigned int reason,
	       unsigned long long generation)
{
	struct cbt_ioc_resync r;
	HANDLE h = open_ctl();
	DWORD err = 0;

	REQ_INIT(r);
	if (h == INVALID_HANDLE_VALUE)
		return 1;
	set_name(r.name, name);
	r.op = op;
	r.reason = reason;
	r.generation = generation;
	if (!ctl(h, CBT_IOC_RESYNC, &r, sizeof(r), sizeof(r), NULL))
		err = GetLastError();
	CloseHandle(h);
	if (err && err != ERROR_NO_MORE_ITEMS)
		return tool_fail("RESYNC", err);
	printf("%s: state %s (%s)\n", name, cbt_state_str(r.state), cbt_reason_str(r.state_reason));
	return err ? tool_fail("RESYNC: resync-required was set again after that cut", err) : 0;
}
