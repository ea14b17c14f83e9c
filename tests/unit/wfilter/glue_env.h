/*
 * A fake Windows around wfilter/sys/track_core.c: disks, metadata files and the write
 * path as io.c drives it, so the real glue and the real core run together on Linux.
 * C API, usable from the C++ tests (driver.h itself is C only).
 */
#ifndef CBT_GLUE_ENV_H
#define CBT_GLUE_ENV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void genv_reset(void);
void genv_add_disk(unsigned number, uint64_t bytes);
/* cbt_track_ioctl under the checks of the shim (locks balanced afterwards). */
int genv_ioctl(unsigned nr, void *io, uint32_t out_len, uint64_t *info);

/* One write/discard as io.c handles it: rundown reference, begin before "passing down",
 * end at "completion" with the given outcome. Returns 0 when the disk is not tracked. */
void *genv_begin(unsigned disk, int discard, uint64_t off, uint64_t len, const void *data);
void genv_end(void *h, int ok);
int genv_write(unsigned disk, uint64_t off, const void *data, uint64_t len, int ok);

void genv_remove(unsigned disk);
void genv_shutdown(void);
unsigned genv_ready_events(void);

/* Fake metadata files, by path. */
const uint8_t *genv_file(const char *path, size_t *len);
void genv_file_set(const char *path, const void *buf, size_t len);
unsigned genv_raw_writes(void);

/* Boot re-arm. Every disk gets a GPT identity from its number at genv_add_disk;
 * genv_set_ident replaces it (kind CBT_DISK_ID_*, tag makes it unique). */
void genv_set_ident(unsigned disk, uint32_t kind, uint8_t tag);
/* Memory is lost (trackers freed without writing), files and registry stay; every disk
 * is "not started". */
void genv_reboot(void);
/* START of a disk as persist.c handles it; returns how many records named this disk. */
int genv_boot_start(unsigned disk);
/* The fake registry's re-arm record of @name (raw bytes): 1 if present. */
int genv_record(const char *name, void *rec, size_t cap);
void genv_record_set(const char *name, const void *rec, size_t len);

#ifdef __cplusplus
}
#endif
#endif
