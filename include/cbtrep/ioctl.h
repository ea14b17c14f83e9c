/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Control-device interface of the tracker: /dev/cbtrep-ctl on Linux, \\.\CbtrepCtl on
 * Windows. The same structs and semantics on both; only the request codes differ.
 *
 * Every struct starts with struct cbt_ioc_hdr: version = CBT_IOCTL_VERSION and size =
 * sizeof(the struct). The tracker rejects any other value (EINVAL / STATUS_INVALID_PARAMETER)
 * before looking at the rest, so an old tool never talks to a new module by accident.
 * Devices are named by the name given at ATTACH. User buffers are passed as 64-bit
 * addresses (buf, buf_len) on Linux; on Windows (METHOD_BUFFERED) buf must be 0 and the
 * data follows the struct in the output buffer.
 *
 * Errors (Linux errno; Windows maps them to NTSTATUS at its boundary):
 *   EINVAL     bad header, name, range, cap or flags     ENOENT  no such device
 *   EEXIST     name or device already attached           ENOSPC  buffer too small
 *              (bytes_needed says how much)              EAGAIN  nothing to GET yet
 *   ESTALE     COMMIT of a batch id that is not the one outstanding
 *   EBUSY      detach/unload refused while in use        ETIMEDOUT WAIT timed out
 */
#ifndef CBTREP_IOCTL_H
#define CBTREP_IOCTL_H

#include "abi.h"
#include "record.h"
#include "bitmap.h"

#if defined(__linux__) || defined(__KERNEL__)
#include <linux/ioctl.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_IOCTL_VERSION 1
#define CBT_CTL_DEVICE_LINUX "/dev/cbtrep-ctl"
#define CBT_CTL_DEVICE_WIN "\\\\.\\CbtrepCtl"

struct cbt_ioc_hdr {
	uint32_t version; /* CBT_IOCTL_VERSION */
	uint32_t size;	  /* sizeof the whole struct */
};
CBT_ASSERT_SIZE(struct cbt_ioc_hdr, 8);

#define CBT_IOC_HDR_INIT(type)                                                                     \
	{                                                                                          \
		CBT_IOCTL_VERSION, (uint32_t)sizeof(type)                                          \
	}

/* VERSION: what the loaded tracker speaks. */
struct cbt_ioc_version {
	struct cbt_ioc_hdr hdr;
	uint32_t abi_version;	 /* out: CBT_ABI_VERSION */
	uint32_t features;	 /* out: CBT_FEAT_* */
	char module_version[32]; /* out: NUL-terminated */
};
CBT_ASSERT_SIZE(struct cbt_ioc_version, 48);
#define CBT_FEAT_DATA_MODE (1u << 0)
#define CBT_FEAT_TAGS (1u << 1)
#define CBT_FEAT_PERSIST (1u << 2)

/* ATTACH flags. */
#define CBT_ATTACH_META_ONLY (1u << 0) /* never capture data: start and stay in META mode */
#define CBT_ATTACH_NO_FREEZE (1u << 1) /* do not freeze the filesystem while attaching */
#define CBT_ATTACH_FLAGS_ALL 0x3u

/* ATTACH: start tracking a block device under a name. */
struct cbt_ioc_attach {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];      /* in: name used by every other call */
	char dev_path[CBT_PATH_LEN];  /* in: block device path, or "" to use dev */
	char meta_path[CBT_PATH_LEN]; /* in: metadata file/device ("" = no persistence) */
	uint64_t dev;		      /* in: Linux dev_t (new_encode_dev) / Windows disk number */
	uint64_t mem_cap_bytes;	      /* in: journal memory cap, 0 = default */
	uint32_t granularity;	      /* in: bytes per bit, 0 = from size; out: chosen */
	uint32_t flags;		      /* in: CBT_ATTACH_* */
	uint32_t state;		      /* out: enum cbt_state the header was FOUND in */
	uint32_t reason;	      /* out: its reason (STATUS gives the state now) */
	uint64_t device_bytes;	      /* out: size of the device */
	uint64_t generation;	      /* out: current bitmap generation */
};
CBT_ASSERT_SIZE(struct cbt_ioc_attach, 600);
CBT_ASSERT_OFFSET(struct cbt_ioc_attach, dev, 552);

/* DETACH flags. */
/* DISCARD: do not save the bitmap; leave the header resync-required. */
#define CBT_DETACH_DISCARD (1u << 0)
#define CBT_DETACH_FLAGS_ALL 0x1u

struct cbt_ioc_detach {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint32_t flags;	   /* CBT_DETACH_* */
	uint32_t reserved; /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_ioc_detach, 48);

/* STATUS: everything the operator and the engine need to know about one device. */
struct cbt_ioc_status {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN]; /* in */
	uint32_t mode;		 /* enum cbt_mode */
	uint32_t mode_reason;	 /* enum cbt_reason: why this mode */
	uint32_t state;		 /* enum cbt_state */
	uint32_t state_reason;	 /* enum cbt_reason: why this state */
	uint64_t device_bytes;
	uint32_t granularity;
	uint32_t flags;		    /* CBT_ATTACH_* given at attach */
	uint64_t generation;	    /* current (active) bitmap generation */
	uint64_t frozen_generation; /* cut generation readable with BITMAP_READ, 0 = none */
	uint64_t writes_seen;	    /* write-type bios/IRPs seen */
	uint64_t bytes_seen;	    /* their bytes */
	uint64_t writes_failed;	    /* completed with an error: ranges marked dirty */
	uint64_t records;	    /* records journalled since attach */
	uint64_t records_pending;   /* journalled, not yet committed */
	uint64_t records_dropped;   /* writes not journalled (BITMAP mode) */
	uint64_t next_seq;	    /* sequence number the next record will get */
	uint64_t committed_seq;	    /* last sequence number committed by the engine */
	uint64_t mem_used;	    /* journal bytes held (headers + data) */
	uint64_t mem_cap;	    /* journal memory cap */
	uint64_t bitmap_mem;	    /* bytes of bitmap pages allocated */
	uint64_t dirty_bits;	    /* bits set in the active bitmap */
	uint64_t mode_changes;	    /* transitions since attach */
	uint64_t hook_calls;	    /* calls through the write hook */
	uint64_t hook_ns;	    /* nanoseconds spent in it (submission side) */
	uint64_t reserved[5];
};
CBT_ASSERT_SIZE(struct cbt_ioc_status, 248);

/* LIST: names of attached devices. */
struct cbt_ioc_list {
	struct cbt_ioc_hdr hdr;
	uint64_t buf;	/* in: array of char[CBT_NAME_LEN] */
	uint32_t max;	/* in: entries buf holds */
	uint32_t count; /* out: entries attached (may exceed max) */
};
CBT_ASSERT_SIZE(struct cbt_ioc_list, 24);

/*
 * GET: the outstanding batch, or a new one if none is outstanding. buf receives the batch
 * header followed by its records (the stream-file format), and *batch a copy of the
 * header. Until COMMIT, every GET returns the same batch. A batch holds records of one
 * kind (all with data, or none) and at most max_records records (0 = as many as fit).
 */
struct cbt_ioc_get {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint64_t buf;		/* in: destination (Linux), 0 on Windows */
	uint64_t buf_len;	/* in: its size */
	uint32_t max_records;	/* in: 0 = no limit */
	uint32_t flags;		/* in: 0 */
	uint64_t bytes_needed;	/* out: size of the batch (also on ENOSPC) */
	struct cbt_batch batch; /* out */
};
CBT_ASSERT_SIZE(struct cbt_ioc_get, 136);

/* COMMIT: the engine made the batch durable on the replica; the tracker frees it. */
struct cbt_ioc_commit {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint64_t batch_id;
};
CBT_ASSERT_SIZE(struct cbt_ioc_commit, 48);

/* WAIT ready bits. */
#define CBT_READY_RECORDS (1u << 0) /* GET would return a batch */
#define CBT_READY_STATE (1u << 1)   /* mode or state changed since the last STATUS */

struct cbt_ioc_wait {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint32_t timeout_ms; /* in: 0 = poll */
	uint32_t ready;	     /* out: CBT_READY_* */
};
CBT_ASSERT_SIZE(struct cbt_ioc_wait, 48);

/*
 * TAG: one consistency point in the journals of a group of devices, cut atomically (no
 * write completes between the tag records of two members). The caller freezes the
 * filesystems first for an app-consistent tag.
 */
struct cbt_ioc_tag {
	struct cbt_ioc_hdr hdr;
	char tag_name[CBT_TAG_NAME_LEN];
	uint32_t flags;	     /* in: CBT_TAG_APP_CONSISTENT */
	uint32_t nr_devices; /* in: 1..CBT_TAG_MAX_DEVICES */
	char devices[CBT_TAG_MAX_DEVICES][CBT_NAME_LEN];
	uint64_t tag_id;		    /* out */
	uint64_t seqs[CBT_TAG_MAX_DEVICES]; /* out: the tag record's seq on each member */
};
CBT_ASSERT_SIZE(struct cbt_ioc_tag, 728);

/* MARK_DIRTY: the caller knows a range changed (or must be re-read): bitmap + DIRTY record. */
struct cbt_ioc_mark_dirty {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint64_t sector;
	uint64_t nr_sectors;
};
CBT_ASSERT_SIZE(struct cbt_ioc_mark_dirty, 56);

/*
 * BITMAP_CUT: freeze the active bitmap and start a new generation. The frozen bitmap is
 * readable with BITMAP_READ until the next cut. done_generation names a frozen generation
 * the caller has finished with: it is dropped. A frozen bitmap not named there is merged
 * into the new frozen one, so no change is ever forgotten by cutting twice.
 */
struct cbt_ioc_cut {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint64_t done_generation; /* in: 0 = none */
	uint64_t generation;	  /* out: generation of the new frozen bitmap */
	uint64_t dirty_bits;	  /* out: bits set in it */
};
CBT_ASSERT_SIZE(struct cbt_ioc_cut, 64);

/*
 * BITMAP_READ: copy bits of the frozen bitmap, from byte offset first_byte (a multiple of
 * 8) into buf. *bitmap is filled in (bits_crc is 0 here: dump writers compute it).
 */
struct cbt_ioc_bitmap_read {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint64_t generation;	      /* in: must be the frozen generation (ESTALE otherwise) */
	uint64_t first_byte;	      /* in */
	uint64_t buf;		      /* in: destination (Linux), 0 on Windows */
	uint64_t buf_len;	      /* in */
	uint64_t bytes_copied;	      /* out */
	struct cbt_bitmap_hdr bitmap; /* out */
};
CBT_ASSERT_SIZE(struct cbt_ioc_bitmap_read, 144);

/*
 * RESYNC: the engine's half of the resync-required state.
 *
 * CBT_RESYNC_REQUIRE sets state resync-required with the given reason (for example
 * CBT_REASON_SPOOL_LIMIT when the engine had to drop its replication log): from then on
 * the replica can only be made equal by a checksum resync.
 *
 * CBT_RESYNC_DONE says: "a checksum resync of the whole device that started after the
 * BITMAP_CUT which returned `generation` has finished". The tracker clears resync-required
 * (state back to dirty, reason none) only if nothing set it again after that cut; otherwise
 * it answers EAGAIN and stays resync-required. Writes made during the resync are in the
 * journal or the active bitmap, so they are replicated normally afterwards.
 *
 * Both ops report the state after the call in state / state_reason.
 */
#define CBT_RESYNC_REQUIRE 1u
#define CBT_RESYNC_DONE 2u

struct cbt_ioc_resync {
	struct cbt_ioc_hdr hdr;
	char name[CBT_NAME_LEN];
	uint32_t op;	       /* in: CBT_RESYNC_* */
	uint32_t reason;       /* in (REQUIRE): enum cbt_reason, not NONE */
	uint64_t generation;   /* in (DONE): generation returned by the cut the resync followed */
	uint32_t state;	       /* out: enum cbt_state */
	uint32_t state_reason; /* out: enum cbt_reason */
};
CBT_ASSERT_SIZE(struct cbt_ioc_resync, 64);

/* Request numbers, the same on both systems. */
#define CBT_IOC_NR_VERSION 0x00
#define CBT_IOC_NR_ATTACH 0x01
#define CBT_IOC_NR_DETACH 0x02
#define CBT_IOC_NR_STATUS 0x03
#define CBT_IOC_NR_LIST 0x04
#define CBT_IOC_NR_GET 0x05
#define CBT_IOC_NR_COMMIT 0x06
#define CBT_IOC_NR_WAIT 0x07
#define CBT_IOC_NR_TAG 0x08
#define CBT_IOC_NR_MARK_DIRTY 0x09
#define CBT_IOC_NR_BITMAP_CUT 0x0a
#define CBT_IOC_NR_BITMAP_READ 0x0b
#define CBT_IOC_NR_RESYNC 0x0c

#if defined(_WIN32) || defined(_KERNEL_MODE)
/* CTL_CODE(0x8cb0, 0x800 + nr, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS) */
#define CBT_WIN_DEVICE_TYPE 0x8cb0u
#define CBT_WIN_CTL(nr) ((CBT_WIN_DEVICE_TYPE << 16) | (3u << 14) | ((0x800u + (nr)) << 2) | 0u)
#define CBT_IOC_VERSION CBT_WIN_CTL(CBT_IOC_NR_VERSION)
#define CBT_IOC_ATTACH CBT_WIN_CTL(CBT_IOC_NR_ATTACH)
#define CBT_IOC_DETACH CBT_WIN_CTL(CBT_IOC_NR_DETACH)
#define CBT_IOC_STATUS CBT_WIN_CTL(CBT_IOC_NR_STATUS)
#define CBT_IOC_LIST CBT_WIN_CTL(CBT_IOC_NR_LIST)
#define CBT_IOC_GET CBT_WIN_CTL(CBT_IOC_NR_GET)
#define CBT_IOC_COMMIT CBT_WIN_CTL(CBT_IOC_NR_COMMIT)
#define CBT_IOC_WAIT CBT_WIN_CTL(CBT_IOC_NR_WAIT)
#define CBT_IOC_TAG CBT_WIN_CTL(CBT_IOC_NR_TAG)
#define CBT_IOC_MARK_DIRTY CBT_WIN_CTL(CBT_IOC_NR_MARK_DIRTY)
#define CBT_IOC_BITMAP_CUT CBT_WIN_CTL(CBT_IOC_NR_BITMAP_CUT)
#define CBT_IOC_BITMAP_READ CBT_WIN_CTL(CBT_IOC_NR_BITMAP_READ)
#define CBT_IOC_RESYNC CBT_WIN_CTL(CBT_IOC_NR_RESYNC)
#else
#define CBT_IOC_MAGIC 0xcb
#define CBT_IOC_VERSION _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_VERSION, struct cbt_ioc_version)
#define CBT_IOC_ATTACH _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_ATTACH, struct cbt_ioc_attach)
#define CBT_IOC_DETACH _IOW(CBT_IOC_MAGIC, CBT_IOC_NR_DETACH, struct cbt_ioc_detach)
#define CBT_IOC_STATUS _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_STATUS, struct cbt_ioc_status)
#define CBT_IOC_LIST _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_LIST, struct cbt_ioc_list)
#define CBT_IOC_GET _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_GET, struct cbt_ioc_get)
#define CBT_IOC_COMMIT _IOW(CBT_IOC_MAGIC, CBT_IOC_NR_COMMIT, struct cbt_ioc_commit)
#define CBT_IOC_WAIT _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_WAIT, struct cbt_ioc_wait)
#define CBT_IOC_TAG _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_TAG, struct cbt_ioc_tag)
#define CBT_IOC_MARK_DIRTY _IOW(CBT_IOC_MAGIC, CBT_IOC_NR_MARK_DIRTY, struct cbt_ioc_mark_dirty)
#define CBT_IOC_BITMAP_CUT _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_BITMAP_CUT, struct cbt_ioc_cut)
#define CBT_IOC_BITMAP_READ _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_BITMAP_READ, struct cbt_ioc_bitmap_read)
#define CBT_IOC_RESYNC _IOWR(CBT_IOC_MAGIC, CBT_IOC_NR_RESYNC, struct cbt_ioc_resync)
#endif

/* Checks the common header of an ioctl struct of type size. */
CBT_INLINE int cbt_ioc_hdr_check(const struct cbt_ioc_hdr *h, uint32_t size)
{
	if (h->version != CBT_IOCTL_VERSION)
		return CBT_FMT_BAD_VERSION;
	if (h->size != size)
		return CBT_FMT_BAD_LENGTH;
	return CBT_FMT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_IOCTL_H */
