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

#ifdef __cplusplus
}
#endif
#endif
