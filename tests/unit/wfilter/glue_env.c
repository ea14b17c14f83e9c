/* Fake disks, metadata files and write path around track_core.c (see glue_env.h). */
#include <errno.h>

#include "glue_env.h"
#include "sys/track.h"
#include "sys/persist.h"

#include <cbtrep/abi.h>
#include <cbtrep/meta.h>

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
/* The fake registry: Parameters\Devices\<name>\Rearm, as raw bytes (checked on read). */
static struct {
    char name[CBT_NAME_LEN];
    uint8_t val[sizeof(struct cbt_rearm_rec)];
    size_t len;
} regs[MAX_FILES];

void genv_reset(void)
{
    size_t i;

    for (i = 0; i < MAX_FILES; i++) {
        free(files[i].buf);
        memset(&files[i], 0, sizeof(files[i]));
    }
    memset(regs, 0, sizeof(regs));
    if (!initialized) {
        cbt_track_init(); /* once, like DriverEntry */
        initialized = 1;
    }
    cbt_track_unload(); /* a test that failed half-way leaves nothing behind */
    memset(disks, 0, sizeof(disks));
    memset(disk_present, 0, sizeof(disk_present));
    ready_events = raw_writes = 0;
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
    /* A GPT disk whose GUID is derived from its number: stable across "reboots". */
    disks[n].ident.kind = CBT_DISK_ID_GPT;
    disks[n].ident.gpt_guid[0] = (uint8_t)(0xa0 + n);
    disks[n].ident.gpt_guid[15] = 0x5a;
    disks[n].ident.bytes = bytes;
    disk_present[n] = 1;
}

void genv_set_ident(unsigned n, uint32_t kind, uint8_t tag)
{
    SHIM_CHECK(n < MAX_DISKS);
    memset(&disks[n].ident, 0, sizeof(disks[n].ident));
    disks[n].ident.kind = kind;
    disks[n].ident.mbr_signature = kind == CBT_DISK_ID_MBR ? 0x1000u + tag : 0;
    if (kind == CBT_DISK_ID_GPT) {
        disks[n].ident.gpt_guid[0] = tag;
        disks[n].ident.gpt_guid[15] = 0x5a;
    }
    disks[n].ident.bytes = disks[n].disk_bytes;
}

void genv_reboot(void)
{
    unsigned n;

    cbt_track_unload(); /* memory is gone; files and registry stay */
    for (n = 0; n < MAX_DISKS; n++) {
        disks[n].track = NULL;
        disks[n].started = 0;
    }
}

/* What persist.c does at START: records naming this disk re-arm it, with the image read
 * from the metadata disk (here: the file), if that disk has started. */
int genv_boot_start(unsigned n)
{
    struct cbt_filter *f = &disks[n];
    int i, armed = 0;

    SHIM_CHECK(n < MAX_DISKS && disk_present[n]);
    cbt_track_meta_disk_started(f);
    for (i = 0; i < MAX_FILES; i++) {
        struct cbt_rearm_rec rec;
        const uint8_t *img = NULL;
        unsigned m;
        size_t len = 0;
        int slot_i;

        if (!regs[i].name[0] || cbt_rearm_check(regs[i].val, regs[i].len, &rec) ||
            !cbt_disk_id_eq(&rec.tracked, &f->ident))
            continue;
        armed++;
        for (m = 0; m < MAX_DISKS; m++)
            if (disk_present[m] && disks[m].started &&
                cbt_disk_id_eq(&disks[m].ident, &rec.meta_disk))
                break;
        if (m == MAX_DISKS) {
            cbt_track_rearm(f, &rec, NULL, NULL, 0, CBT_REASON_METADATA_INVALID);
            continue;
        }
        slot_i = (int)(rec.ext[0].disk_off >> 20);
        if (slot_i < MAX_FILES && files[slot_i].path[0])
            img = genv_file(files[slot_i].path, &len);
        if (img && len >= rec.meta_size) {
            ULONG mn = m;

            cbt_track_rearm(f, &rec, &mn, img, rec.meta_size, 0);
        } else {
            ULONG mn = m;

            cbt_track_rearm(f, &rec, &mn, NULL, 0, CBT_REASON_METADATA_INVALID);
        }
    }
    f->started = 1;
    return armed;
}

int genv_record(const char *name, void *rec, size_t cap)
{
    int i;

    for (i = 0; i < MAX_FILES; i++)
        if (regs[i].name[0] && !strcmp(regs[i].name, name) && cap >= regs[i].len) {
            memcpy(rec, regs[i].val, regs[i].len);
            return 1;
        }
    return 0;
}

void genv_record_set(const char *name, const void *rec, size_t len)
{
    int i, fr = -1;

    for (i = 0; i < MAX_FILES; i++) {
        if (regs[i].name[0] && !strcmp(regs[i].name, name))
            break;
        if (!regs[i].name[0] && fr < 0)
            fr = i;
    }
    if (i == MAX_FILES)
        i = fr;
    SHIM_CHECK(i >= 0 && len <= sizeof(regs[i].val));
    strncpy(regs[i].name, name, CBT_NAME_LEN - 1);
    memcpy(regs[i].val, rec, len);
    regs[i].len = len;
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
    cbt_track_write_begin(o->t, discard ? CBT_CHANGE_DISCARD : CBT_CHANGE_WRITE, off, len, data, 0,
                          &o->w);
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

/* persist.c's remember(): the fake "metadata disk" is the disk whose letter starts the
 * path; the fake extent encodes the file slot in disk_off (slot << 20). */
static void remember(struct cbt_persist *p, const char *name)
{
    struct cbt_rearm_rec *r = p->rec;
    int i = (int)(uintptr_t)p->file - 1;
    unsigned d = (unsigned)(files[i].path[0] - 'A');

    if (!r)
        return;
    if (d < MAX_DISKS)
        r->meta_disk = disks[d].ident;
    r->meta_size = p->size;
    r->nr_ext = 1;
    r->ext[0].file_off = 0;
    r->ext[0].disk_off = (uint64_t)i << 20;
    r->ext[0].len = p->size;
    cbt_rearm_seal(r);
    if (cbt_disk_id_valid(&r->tracked) && cbt_disk_id_valid(&r->meta_disk))
        genv_record_set(name, r, sizeof(*r));
}

int cbt_persist_write(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
    int err;

    if (!p->file)
        return 0; /* raw-only location (boot): no file system yet */
    err = store(p, buf, len);
    if (!err && !p->nr_ext) {
        p->nr_ext = 1; /* "resolved and verified" once, like persist.c */
        remember(p, name);
    }
    return err;
}

int cbt_persist_record_get(const char *name, struct cbt_rearm_rec *rec)
{
    uint8_t raw[sizeof(*rec)];
    int i;

    for (i = 0; i < MAX_FILES; i++)
        if (regs[i].name[0] && !strcmp(regs[i].name, name)) {
            memcpy(raw, regs[i].val, sizeof(raw));
            return cbt_rearm_check(raw, regs[i].len, rec) ? -EINVAL : 0;
        }
    return -ENOENT;
}

int cbt_persist_record_put(const char *name, const struct cbt_rearm_rec *r)
{
    genv_record_set(name, r, sizeof(*r));
    return 0;
}

void cbt_persist_forget(const char *name)
{
    int i;

    for (i = 0; i < MAX_FILES; i++)
        if (regs[i].name[0] && !strcmp(regs[i].name, name))
            memset(&regs[i], 0, sizeof(regs[i]));
}

/* Raw writes find the "file" by its handle (attached) or by the boot extent (re-armed);
 * like persist.c, nothing is written unless our header is still there. */
int cbt_persist_write_raw(struct cbt_persist *p, const char *name, const void *buf, ULONG len)
{
    int i = p->file ? (int)(uintptr_t)p->file - 1 : (int)(p->ext[0].disk_off >> 20);
    struct cbt_meta m;

    if (!p->raw_ok)
        return -ENODEV;
    if (i < 0 || i >= MAX_FILES || !files[i].path[0] || len > p->size)
        return -EINVAL;
    if (cbt_meta_decode(files[i].buf, files[i].len, &m) != CBT_FMT_OK ||
        strncmp(m.name, name, CBT_NAME_LEN))
        return -EIO;
    raw_writes++;
    genv_file_set(files[i].path, buf, len);
    return 0;
}

void cbt_persist_close(struct cbt_persist *p)
{
    p->file = NULL;
    p->raw_ok = FALSE;
}
