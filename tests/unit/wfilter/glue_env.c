/* Fake disks, metadata files and write path around track_core.c (see glue_env.h). */
#include <errno.h>

#include "glue_env.h"
#include "sys/track.h"
#include "sys/persist.h"

#include <cbtrep/abi.h>

#define MAX_DISKS 4
#define MAX_FILES 4

struct cbt_global cbt_g;

static struct cbt_filter disks[MAX_DISKS];
static int disk_present[MAX_DISKS];
static unsigned ready_events, raw_writes;
static int initialized;

static struct {
	char path[CBT_PATH_LEN];
	uint8_t *buf;
	size_t len;
} files[MAX_FILES];

void genv_reset(void)
{
	size_t i;

	for (i = 0; i < MAX_FILES; i++) {
		free(files[i].buf);
		memset(&files[i], 0, sizeof(files[i]));
	}
	memset(disks, 0, sizeof(disks));
	memset(disk_present, 0, sizeof(disk_present));
	ready_events = raw_writes = 0;
	if (!initialized) {
		cbt_track_init(); /* once, like DriverEntry */
		initialized = 1;
	}
}

void genv_add_disk(unsigned n, uint64_t bytes)
{
	SHIM_CHECK(n < MAX_DISKS);
	memset(&disks[n], 0, sizeof(disks[n]));
	disks[n].c.magic = CBT_DEV_MAGIC_FILTER;
	disks[n].disk_number = n;
	disks[n].have_number = TRUE;
	disks[n].disk_bytes = bytes;
	disks[n].sector_size = 512;
	disks[n].started = 1;
	disk_present[n] = 1;
}

int genv_ioctl(unsigned nr, void *io, uint32_t out_len, uint64_t *info)
{
	ULONG_PTR got = 0;
	int err = cbt_track_ioctl(nr, io, out_len, &got);

	SHIM_CHECK(winshim_spin_held == 0);
	if (info)
		*info = got;
	return err;
}

struct op {
	struct cbt_filter *f;
	struct cbt_track *t;
	struct cbt_wio w;
};

void *genv_begin(unsigned disk, int discard, uint64_t off, uint64_t len, const void *data)
{
	struct cbt_filter *f = &disks[disk];
	struct op *o;

	if (!disk_present[disk] || f->removed || !f->track)
		return NULL;
	o = calloc(1, sizeof(*o));
	o->f = f;
	o->t = f->track;
	f->track_ref.refs++; /* ExAcquireRundownProtection in io.c */
	cbt_track_write_begin(o->t, discard ? CBT_CHANGE_DISCARD : CBT_CHANGE_WRITE, off, len, data,
			      0, &o->w);
	SHIM_CHECK(winshim_spin_held == 0);
	return o;
}

void genv_end(void *h, int ok)
{
	struct op *o = h;

	if (!o)
		return;
	cbt_track_write_end(o->t, &o->w, ok ? TRUE : FALSE);
	o->f->track_ref.refs--;
	SHIM_CHECK(winshim_spin_held == 0);
	free(o);
}

int genv_write(unsigned disk, uint64_t off, const void *data, uint64_t len, int ok)
{
	void *h = genv_begin(disk, 0, off, len, data);

	genv_end(h, ok);
	return h != NULL;
}

void genv_remove(unsigned disk)
{
	disks[disk].removed = 1;
	cbt_track_device_gone(&disks[disk], FALSE);
	disk_present[disk] = 0;
}

void genv_shutdown(void)
{
	cbt_track_shutdown_all();
}

unsigned genv_ready_events(void)
{
	return ready_events;
}

unsigned genv_raw_writes(void)
{
	return raw_writes;
}

static int slot(const char *path, int create)
{
	int i, free_slot = -1;

	for (i = 0; i < MAX_FILES; i++) {
		if (files[i].path[0] && !strcmp(files[i].path, path))
			return i;
		if (!files[i].path[0] && free_slot < 0)
			free_slot = i;
	}
	if (!create || free_slot < 0)
		return -1;
	strncpy(files[free_slot].path, path, CBT_PATH_LEN - 1);
	return free_slot;
}

const uint8_t *genv_file(const char *path, size_t *len)
{
	int i = slot(path, 0);

	*len = i < 0 ? 0 : files[i].len;
	return i < 0 ? NULL : files[i].buf;
}

void genv_file_set(const char *path, const void *buf, size_t len)
{
	int i = slot(path, 1);

	free(files[i].buf);
	files[i].buf = malloc(len);
	memcpy(files[i].buf, buf, len);
	files[i].len = len;
}

/* ---- what the glue calls outside track_core.c ------------------------------------ */

struct cbt_filter *cbt_filter_get_by_number(ULONG n)
{
	return n < MAX_DISKS && disk_present[n] && !disks[n].removed ? &disks[n] : NULL;
}

void cbt_filter_put(struct cbt_filter *f)
{
	(void)f;
}

void cbt_control_notify_data(struct cbt_filter *f)
{
	(void)f;
	ready_events++;
}

NTSTATUS cbt_wait_untracked_drained(struct cbt_filter *f, ULONG timeout_ms)
{
	(void)f, (void)timeout_ms;
	return STATUS_SUCCESS;
}

void *cbt_persist_alloc(ULONG len)
{
	return calloc(1, len);
}

void cbt_persist_free(void *p)
{
	free(p);
}

/* "Files" whose path starts with the tracked disk's letter ('A' + number) are on that
 * disk: refused, as persist.c refuses a metadata file on the tracked disk. */
int cbt_persist_open(struct cbt_persist *p, const char *path, ULONG tracked_disk, ULONG size,
		     void **image, ULONG *len)
{
	int i;

	memset(p, 0, sizeof(*p));
	*image = NULL;
	*len = 0;
	if (path[0] == (char)('A' + tracked_disk))
		return -EINVAL;
	i = slot(path, 1);
	if (i < 0)
		return -ENOMEM;
	*image = calloc(1, size);
	if (files[i].len) {
		*len = files[i].len < size ? (ULONG)files[i].len : size;
		memcpy(*image, files[i].buf, *len);
	}
	p->file = (HANDLE)(uintptr_t)(i + 1);
	p->size = size;
	p->raw_ok = TRUE; /* the real verification is persist.c's, not tested here */
	return 0;
}

static int store(struct cbt_persist *p, const void *buf, ULONG len)
{
	int i = (int)(uintptr_t)p->file - 1;

	if (i < 0 || len > p->size)
		return -EINVAL;
	genv_file_set(files[i].path, buf, len);
	return 0;
}

int cbt_persist_write(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
	(void)name;
	return store(p, buf, len);
}

int cbt_persist_write_raw(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
	(void)name;
	raw_writes++;
	return store(p, buf, len);
}

void cbt_persist_close(struct cbt_persist *p)
{
	p->file = NULL;
	p->raw_ok = FALSE;
}
