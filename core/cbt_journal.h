/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Journal records in memory. A struct cbt_io is born at submission (cbt_io_begin), holds
 * the captured data in CBT_CHUNK_SIZE chunks, and at successful completion becomes the
 * journal record itself (it gets its seq and is appended to the drainable list), so
 * completion never allocates. No locking here: the tracker locks.
 */
#ifndef CBT_JOURNAL_H
#define CBT_JOURNAL_H

#include "cbt_os.h"
#include <cbtrep/record.h>

struct cbt_io {
	struct cbt_io *next;   /* drainable list, oldest first */
	struct cbt_record hdr; /* seq/timestamp set at completion, CRCs at GET */
	uint64_t sector;       /* range the write covers (device-relative) */
	uint64_t nr_sectors;
	uint64_t mem;	    /* bytes charged to the tracker's mem_used */
	uint32_t nr_chunks; /* data chunks allocated (0: no data) */
	uint8_t journal;    /* a record was planned at submission (not BITMAP mode) */
	uint8_t sealed;	    /* hdr CRCs computed */
	uint8_t pad[2];
	uint8_t *chunk[]; /* nr_chunks pointers */
};

/* Most chunk pointers that keep a struct cbt_io within one NOWAIT allocation. */
#define CBT_IO_MAX_CHUNKS ((CBT_OS_NOWAIT_MAX - sizeof(struct cbt_io)) / sizeof(uint8_t *))
/* Largest write whose data is captured; larger ones are journalled as META records. */
#define CBT_IO_MAX_DATA ((uint64_t)CBT_IO_MAX_CHUNKS * CBT_CHUNK_SIZE)

/* Allocates an io with room for nr_chunks chunk pointers (chunks not allocated). */
struct cbt_io *cbt_jio_alloc(uint32_t nr_chunks, unsigned int alloc_flags);
/* Allocates the io's data chunks (NOWAIT). 0 or CBT_ENOMEM (then no chunk is kept). */
int cbt_jio_alloc_chunks(struct cbt_io *io);
/* Frees the data chunks only (the record becomes data-less). */
void cbt_jio_drop_data(struct cbt_io *io);
void cbt_jio_free(struct cbt_io *io);
/* Computes data_crc and hdr_crc once. */
void cbt_jio_seal(struct cbt_io *io);
/* Emits header + payload at off. Returns 0 or the emit error. */
typedef int (*cbt_jio_emit_fn)(void *ctx, uint64_t off, const void *src, uint64_t len);
int cbt_jio_emit(struct cbt_io *io, cbt_jio_emit_fn emit, void *ctx, uint64_t off);

#endif
