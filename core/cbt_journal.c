// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* Journal records in memory: see cbt_journal.h. */
#include "cbt_journal.h"
#include "cbt_tracker.h"

/*
 * Data chunks come from the platform's chunk allocator when it has one (kmod: recycled
 * pages, not zeroed: every byte up to data_len is written before it is read, nothing past
 * it is read); otherwise they are ordinary zeroed NOWAIT allocations.
 */
#ifndef cbt_os_chunk_alloc
#define cbt_os_chunk_alloc() cbt_os_alloc(CBT_CHUNK_SIZE, CBT_ALLOC_NOWAIT)
#define cbt_os_chunk_free(p) cbt_os_free((p), CBT_CHUNK_SIZE)
#endif

static uint64_t io_size(uint32_t nr_chunks)
{
	return sizeof(struct cbt_io) + (uint64_t)nr_chunks * sizeof(uint8_t *);
}

struct cbt_io *cbt_jio_alloc(uint32_t nr_chunks, unsigned int alloc_flags)
{
	struct cbt_io *io;

	if (nr_chunks > CBT_IO_MAX_CHUNKS)
		return NULL;
	io = cbt_os_alloc(io_size(nr_chunks), alloc_flags);
	if (io)
		io->nr_chunks = nr_chunks;
	return io;
}

int cbt_jio_alloc_chunks(struct cbt_io *io)
{
	uint32_t i;

	for (i = 0; i < io->nr_chunks; i++) {
		io->chunk[i] = cbt_os_chunk_alloc();
		if (!io->chunk[i]) {
			cbt_jio_drop_data(io);
			return CBT_ENOMEM;
		}
	}
	return 0;
}

void cbt_jio_drop_data(struct cbt_io *io)
{
	uint32_t i;

	for (i = 0; i < io->nr_chunks; i++) {
		cbt_os_chunk_free(io->chunk[i]);
		io->chunk[i] = NULL;
	}
	io->hdr.flags &= ~CBT_RF_HAS_DATA;
	io->hdr.data_len = 0;
}

void cbt_jio_free(struct cbt_io *io)
{
	uint32_t n;

	if (!io)
		return;
	n = io->nr_chunks;
	cbt_jio_drop_data(io);
	cbt_os_free(io, io_size(n));
}

void cbt_jio_seal(struct cbt_io *io)
{
	uint64_t left = io->hdr.data_len;
	uint32_t crc = 0, i;

	if (io->sealed)
		return;
	for (i = 0; left; i++) {
		uint64_t n = left < CBT_CHUNK_SIZE ? left : CBT_CHUNK_SIZE;

		crc = cbt_crc32c(crc, io->chunk[i], (size_t)n);
		left -= n;
	}
	io->hdr.data_crc = io->hdr.data_len ? crc : 0;
	io->hdr.hdr_crc = cbt_hdr_crc(&io->hdr, sizeof(io->hdr));
	io->sealed = 1;
}

int cbt_jio_emit(struct cbt_io *io, cbt_jio_emit_fn emit, void *ctx, uint64_t off)
{
	uint64_t left = io->hdr.data_len;
	uint32_t i;
	int err;

	err = emit(ctx, off, &io->hdr, sizeof(io->hdr));
	if (err)
		return err;
	off += sizeof(io->hdr);
	for (i = 0; left; i++) {
		uint64_t n = left < CBT_CHUNK_SIZE ? left : CBT_CHUNK_SIZE;

		err = emit(ctx, off, io->chunk[i], n);
		if (err)
			return err;
		off += n;
		left -= n;
	}
	return 0;
}
