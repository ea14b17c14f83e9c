/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * cbtrep shared ABI: the base every format header builds on.
 *
 * Plain C usable unchanged from the Linux module (__KERNEL__), the Windows driver
 * (_KERNEL_MODE, mingw-w64), C user space and C++. Every multi-byte field in every
 * format is little-endian; the formats are laid out with natural alignment (no padding,
 * no packing) and their sizes and offsets are asserted at compile time.
 *
 * Only little-endian hosts are supported: a big-endian build stops here rather than
 * writing byte-swapped journals.
 */
#ifndef CBTREP_ABI_H
#define CBTREP_ABI_H

#if defined(__KERNEL__)
#include <linux/types.h>
#include <linux/stddef.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cbtrep formats are little-endian; big-endian hosts are not supported"
#endif

#ifdef __cplusplus
#define CBT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define CBT_INLINE static inline
extern "C" {
#else
#define CBT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define CBT_INLINE static inline
#endif

/* Asserts that a format struct has the size and field offsets the docs promise. */
#define CBT_ASSERT_SIZE(type, bytes) CBT_STATIC_ASSERT(sizeof(type) == (bytes), #type " size")
#define CBT_ASSERT_OFFSET(type, field, off)                                                        \
	CBT_STATIC_ASSERT(offsetof(type, field) == (off), #type "." #field " offset")

/* Version of the whole ABI (formats and ioctls). Bumped on any incompatible change. */
#define CBT_ABI_VERSION 1

#define CBT_SECTOR_SHIFT 9
#define CBT_SECTOR_SIZE 512u

/* Device names (attach name, tag group members): [A-Za-z0-9._-], NUL-terminated. */
#define CBT_NAME_LEN 32
/* Paths in ioctls: NUL-terminated. */
#define CBT_PATH_LEN 256
/* Tag names: any printable bytes, NUL-terminated. */
#define CBT_TAG_NAME_LEN 64

/* Magic numbers: ASCII, little-endian, readable in a hex dump. */
#define CBT_MAGIC_RECORD 0x52544243u /* "CBTR" journal record */
#define CBT_MAGIC_BATCH 0x42544243u  /* "CBTB" drain batch */
#define CBT_MAGIC_STREAM 0x53544243u /* "CBTS" journal stream (dump) file */
#define CBT_MAGIC_BITMAP 0x4d544243u /* "CBTM" bitmap dump */
#define CBT_MAGIC_META 0x48544243u   /* "CBTH" persistent metadata header */

/* Tracking mode of a device's journal (see docs/formats.md, "Modes"). */
enum cbt_mode {
	CBT_MODE_DATA = 1,   /* records carry the written bytes */
	CBT_MODE_META = 2,   /* records carry ranges only; data is read from the device */
	CBT_MODE_BITMAP = 3, /* no records; only the bitmap tracks changes */
};

/* Persistent state of a tracked device (metadata header, STATUS). */
enum cbt_state {
	CBT_STATE_CLEAN = 1,	       /* orderly detach/shutdown: the saved bitmap is complete */
	CBT_STATE_DIRTY = 2,	       /* attached and tracking */
	CBT_STATE_RESYNC_REQUIRED = 3, /* changes may have been missed: checksum resync needed */
};

/*
 * Why a device is in its state or mode. One list for both, so STATUS and the metadata
 * header always say why in the same words (cbt_reason_str()).
 */
enum cbt_reason {
	CBT_REASON_NONE = 0,
	CBT_REASON_UNCLEAN_SHUTDOWN = 1,   /* header was dirty at attach */
	CBT_REASON_JOURNAL_DATA_CAP = 2,   /* DATA -> META: data memory cap reached */
	CBT_REASON_JOURNAL_RECORD_CAP = 3, /* META -> BITMAP: record memory cap reached */
	CBT_REASON_WRITE_ERROR = 4,	   /* a tracked write failed; its range is dirty */
	CBT_REASON_ALLOC_FAILED = 5,	   /* memory allocation failed in the I/O path */
	CBT_REASON_USER_REQUEST = 6,	   /* operator asked (mark dirty, forced mode, resync) */
	CBT_REASON_NEW_DEVICE = 7,	   /* no metadata yet: initial full copy needed */
	CBT_REASON_SIZE_CHANGED = 8,	   /* device size differs from the metadata header */
	CBT_REASON_SPOOL_LIMIT = 9,	   /* replication log reached its limit */
	CBT_REASON_DEVICE_REMOVED = 10,	   /* device went away while attached */
	CBT_REASON_METADATA_INVALID = 11,  /* metadata header unreadable or corrupt */
	CBT_REASON_RECOVERED = 12,	   /* journal drained: back to a richer mode */
	CBT_REASON_IDENTITY_CHANGED = 13,  /* metadata belongs to another device */
	CBT_REASON_UNTRACKED_WINDOW = 14,  /* clean header, but writes may have happened while
					    * nothing tracked (attached after the device was in
					    * use: re-attach, boot before the tracker) */
	CBT_REASON_BYPASSED = 15,	   /* a change reached the disk below the tracker
					    * (partition table rewrite, pass-through write) */
	CBT_REASON_MAX = 15,
};

CBT_INLINE const char *cbt_reason_str(uint32_t reason)
{
	switch (reason) {
	case CBT_REASON_NONE: return "none";
	case CBT_REASON_UNCLEAN_SHUTDOWN: return "unclean shutdown";
	case CBT_REASON_JOURNAL_DATA_CAP: return "journal data memory cap reached";
	case CBT_REASON_JOURNAL_RECORD_CAP: return "journal record memory cap reached";
	case CBT_REASON_WRITE_ERROR: return "write error";
	case CBT_REASON_ALLOC_FAILED: return "memory allocation failed";
	case CBT_REASON_USER_REQUEST: return "user request";
	case CBT_REASON_NEW_DEVICE: return "new device";
	case CBT_REASON_SIZE_CHANGED: return "device size changed";
	case CBT_REASON_SPOOL_LIMIT: return "replication log reached its limit";
	case CBT_REASON_DEVICE_REMOVED: return "device removed";
	case CBT_REASON_METADATA_INVALID: return "metadata invalid";
	case CBT_REASON_RECOVERED: return "recovered after drain";
	case CBT_REASON_IDENTITY_CHANGED: return "device identity changed";
	case CBT_REASON_UNTRACKED_WINDOW: return "writes possible while untracked";
	case CBT_REASON_BYPASSED: return "change bypassed the tracker";
	default: return "unknown reason";
	}
}

CBT_INLINE const char *cbt_mode_str(uint32_t mode)
{
	switch (mode) {
	case CBT_MODE_DATA: return "data";
	case CBT_MODE_META: return "meta";
	case CBT_MODE_BITMAP: return "bitmap";
	default: return "unknown mode";
	}
}

CBT_INLINE const char *cbt_state_str(uint32_t state)
{
	switch (state) {
	case CBT_STATE_CLEAN: return "clean";
	case CBT_STATE_DIRTY: return "dirty";
	case CBT_STATE_RESYNC_REQUIRED: return "resync-required";
	default: return "unknown state";
	}
}

/*
 * Result of every decode/validate helper: CBT_FMT_OK or the first thing found wrong.
 * cbt_fmt_err_str() turns it into the sentence shown to the user.
 */
enum cbt_fmt_err {
	CBT_FMT_OK = 0,
	CBT_FMT_TRUNCATED, /* buffer shorter than the header or the length it declares */
	CBT_FMT_BAD_MAGIC,
	CBT_FMT_BAD_VERSION,
	CBT_FMT_BAD_HDR_CRC,
	CBT_FMT_BAD_DATA_CRC,
	CBT_FMT_BAD_TYPE,
	CBT_FMT_BAD_FLAGS,	/* unknown flag bits set */
	CBT_FMT_BAD_LENGTH,	/* a length field disagrees with the type or the other fields */
	CBT_FMT_RANGE_OVERFLOW, /* offset + length wraps around */
	CBT_FMT_OUT_OF_BOUNDS,	/* range ends past the device */
	CBT_FMT_BAD_GRANULARITY,
	CBT_FMT_BAD_STATE,
	CBT_FMT_BAD_REASON,
	CBT_FMT_BAD_MODE,
	CBT_FMT_BAD_NAME,     /* not NUL-terminated, empty, or bad characters */
	CBT_FMT_BAD_COUNT,    /* record count or sequence range disagrees with the content */
	CBT_FMT_BAD_RESERVED, /* a reserved field is not zero */
	CBT_FMT_ERR_MAX,
};

CBT_INLINE const char *cbt_fmt_err_str(int err)
{
	switch (err) {
	case CBT_FMT_OK: return "ok";
	case CBT_FMT_TRUNCATED: return "truncated";
	case CBT_FMT_BAD_MAGIC: return "bad magic";
	case CBT_FMT_BAD_VERSION: return "unsupported version";
	case CBT_FMT_BAD_HDR_CRC: return "header checksum mismatch";
	case CBT_FMT_BAD_DATA_CRC: return "data checksum mismatch";
	case CBT_FMT_BAD_TYPE: return "unknown type";
	case CBT_FMT_BAD_FLAGS: return "unknown flags";
	case CBT_FMT_BAD_LENGTH: return "inconsistent length";
	case CBT_FMT_RANGE_OVERFLOW: return "offset plus length overflows";
	case CBT_FMT_OUT_OF_BOUNDS: return "range beyond the end of the device";
	case CBT_FMT_BAD_GRANULARITY: return "bad granularity";
	case CBT_FMT_BAD_STATE: return "unknown state";
	case CBT_FMT_BAD_REASON: return "unknown reason";
	case CBT_FMT_BAD_MODE: return "unknown mode";
	case CBT_FMT_BAD_NAME: return "bad name";
	case CBT_FMT_BAD_COUNT: return "record count or sequence range mismatch";
	case CBT_FMT_BAD_RESERVED: return "reserved field not zero";
	default: return "unknown format error";
	}
}

/* Byte copy and fill without libc: the builtins lower to memcpy/memset, which the Linux
 * kernel, ntoskrnl and every C library provide. */
#define cbt_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define cbt_memset(d, c, n) __builtin_memset((d), (c), (n))

/* A name field is valid when it is NUL-terminated within len, non-empty and uses only
 * [A-Za-z0-9._-]. */
CBT_INLINE int cbt_name_valid(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '\0')
			return i > 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 0;
}

/* True when the NUL-terminated string fits in len bytes (terminator included). */
CBT_INLINE int cbt_str_terminated(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			return 1;
	return 0;
}

/* Granularity (bytes per bitmap bit): a power of two from 4 KiB to 64 KiB. */
#define CBT_GRANULARITY_MIN 4096u
#define CBT_GRANULARITY_MAX 65536u

CBT_INLINE int cbt_granularity_valid(uint32_t g)
{
	return g >= CBT_GRANULARITY_MIN && g <= CBT_GRANULARITY_MAX && (g & (g - 1)) == 0;
}

/*
 * Granularity chosen from the device size: the smallest power of two in 4..64 KiB that
 * keeps the bitmap at or under 4 Mi bits (512 KiB), so 16 GiB gets 4 KiB and 256 GiB or
 * more gets 64 KiB (2 MiB of bitmap per TiB at most).
 */
CBT_INLINE uint32_t cbt_granularity_for_size(uint64_t device_bytes)
{
	uint32_t g = CBT_GRANULARITY_MIN;

	while (g < CBT_GRANULARITY_MAX && device_bytes / g > (1ull << 22))
		g <<= 1;
	return g;
}

/* Number of bitmap bits for a device: ceil(device_bytes / granularity). */
CBT_INLINE uint64_t cbt_bitmap_bits(uint64_t device_bytes, uint32_t granularity)
{
	return device_bytes / granularity + (device_bytes % granularity != 0);
}

/* Checks a sector range against overflow and the device end (in sectors). */
CBT_INLINE int cbt_range_check(uint64_t sector, uint64_t nr_sectors, uint64_t device_sectors)
{
	if (sector + nr_sectors < sector)
		return CBT_FMT_RANGE_OVERFLOW;
	if (nr_sectors > (~0ull >> CBT_SECTOR_SHIFT) || sector > (~0ull >> CBT_SECTOR_SHIFT))
		return CBT_FMT_RANGE_OVERFLOW;
	if (sector + nr_sectors > device_sectors)
		return CBT_FMT_OUT_OF_BOUNDS;
	return CBT_FMT_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_ABI_H */
