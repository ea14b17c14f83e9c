/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Wire protocol between the engine (cbtrepd, client) and the replica server (cbtrep-target),
 * carried inside a TLS 1.3 connection with mutual certificate authentication.
 *
 * Every frame is a 32-byte header, a fixed-size body whose length the type decides, and,
 * for EXTENT frames only, a payload (raw or lz4-compressed bytes). The header carries its
 * own CRC32C (checked before any length in it is trusted) and the CRC32C of the body.
 * Payload bytes are covered by the extent's XXH3-128 digest of the *decoded* bytes, which
 * the target checks after decompression and before touching the replica.
 *
 * Conversation (docs/protocol.md is the prose version of this header, with the state
 * machine, versioning rules and error table):
 *   client: HELLO                         target: HELLO_OK  (or ERROR, then close)
 *   client: BATCH_BEGIN {EXTENT | TAG}* BATCH_END   ... up to max_window batches unacked
 *   target: ACK per batch, once it is durable on the replica, in batch order
 *   either: PING / PONG at any frame boundary; ERROR then close on any failure
 *
 * A resync or verify session (docs/resync.md) is a connection that, after HELLO_OK, sends
 * RS_BEGIN instead of a batch and then only RS_HASH_REQ, EXTENT (data of differing leaves,
 * outside any batch) and RS_FLUSH; the target answers RS_BEGIN_OK, RS_HASHES per request
 * in request order, and RS_FLUSHED once every earlier EXTENT is durable.
 *
 * Limits keep memory bounded on both sides: a body is at most CBT_WIRE_MAX_BODY bytes, a
 * data extent decodes to at most CBT_WIRE_MAX_EXTENT bytes and its payload is at most
 * CBT_WIRE_MAX_PAYLOAD bytes; zero/discard extents carry no payload and may be longer.
 *
 * Plain C like the other ABI headers; the digest itself is computed in user space with
 * libxxhash (XXH3_128bits), stored low64 then high64, both little-endian.
 */
#ifndef CBTREP_WIRE_H
#define CBTREP_WIRE_H

#include "abi.h"
#include "crc32c.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBT_MAGIC_WIRE 0x57544243u /* "CBTW" wire frame */

/*
 * Protocol versions this header describes. HELLO offers a range, HELLO_OK picks one, and
 * every later frame carries the chosen version. HELLO, HELLO_OK and ERROR keep their
 * version-1 layout in every future version so that any two peers can say why they cannot
 * talk; they are sent with header version CBT_WIRE_VERSION_MIN.
 */
#define CBT_WIRE_VERSION_MIN 1
#define CBT_WIRE_VERSION_MAX 1

#define CBT_WIRE_MAX_BODY 512u
#define CBT_WIRE_MAX_EXTENT (4u << 20) /* decoded bytes of a RAW or LZ4 extent */
/* LZ4_COMPRESSBOUND(CBT_WIRE_MAX_EXTENT): the worst case of incompressible input. */
#define CBT_WIRE_MAX_PAYLOAD (CBT_WIRE_MAX_EXTENT + CBT_WIRE_MAX_EXTENT / 255u + 16u)
#define CBT_WIRE_MAX_ZERO (1ull << 40)	/* one ZERO/DISCARD extent: 1 TiB */
#define CBT_WIRE_MAX_EXTENTS (1u << 20) /* EXTENT frames in one batch */
#define CBT_WIRE_MAX_TAGS 64u		/* TAG frames in one batch */
#define CBT_WIRE_MAX_WINDOW 64u		/* unacknowledged batches a target may allow */
#define CBT_WIRE_ALIGN 512u		/* extent offsets and lengths */
#define CBT_WIRE_MSG_LEN 240		/* ERROR message, NUL-terminated */
#define CBT_WIRE_DIGEST_LEN 16		/* XXH3-128 */
#define CBT_WIRE_ID_LEN 16		/* device, replica and engine identities */

enum cbt_wire_type {
	CBT_WT_HELLO = 1,	/* client → target: who I am, what I want */
	CBT_WT_HELLO_OK = 2,	/* target → client: accepted, where the replica stands */
	CBT_WT_ERROR = 3,	/* either way: why the connection ends */
	CBT_WT_BATCH_BEGIN = 4, /* client: a batch starts */
	CBT_WT_EXTENT = 5,	/* client: one range of the batch (payload for RAW/LZ4) */
	CBT_WT_TAG = 6,		/* client: a consistency tag inside the batch */
	CBT_WT_BATCH_END = 7,	/* client: the batch ends; totals for cross-check */
	CBT_WT_ACK = 8,		/* target: a batch is durable on the replica */
	CBT_WT_PING = 9,	/* either: liveness; the peer answers PONG with the same nonce */
	CBT_WT_PONG = 10,
	CBT_WT_RS_BEGIN = 11,	 /* client: this connection becomes a resync/verify session */
	CBT_WT_RS_BEGIN_OK = 12, /* target: geometry accepted, sizes match */
	CBT_WT_RS_HASH_REQ =
		13,	       /* client: hashes of a region, its blocks, leaves (payload: items) */
	CBT_WT_RS_HASHES = 14, /* target: the answer, in request order (payload: the hashes) */
	CBT_WT_RS_FLUSH = 15,  /* client: make every resync EXTENT so far durable */
	CBT_WT_RS_FLUSHED = 16, /* target: done, same flush_id */
	CBT_WT_MAX = 16,
};

struct cbt_wire_hdr {
	uint32_t magic;	      /* CBT_MAGIC_WIRE */
	uint16_t version;     /* protocol version (see CBT_WIRE_VERSION_*) */
	uint16_t type;	      /* enum cbt_wire_type */
	uint32_t body_len;    /* bytes of body after the header: exactly the type's body size */
	uint32_t payload_len; /* bytes after the body: EXTENT only, else 0 */
	uint64_t reserved;    /* 0 */
	uint32_t body_crc;    /* crc32c of the body */
	uint32_t hdr_crc;     /* crc32c of bytes 0..27 of this header */
};
CBT_ASSERT_SIZE(struct cbt_wire_hdr, 32);
CBT_ASSERT_OFFSET(struct cbt_wire_hdr, reserved, 16);
CBT_ASSERT_OFFSET(struct cbt_wire_hdr, hdr_crc, 28);

/* HELLO: the client names the replica it wants and describes the source device. */
struct cbt_wire_hello {
	uint16_t version_min;		    /* lowest protocol version the client speaks, >= 1 */
	uint16_t version_max;		    /* highest, >= version_min */
	uint32_t flags;			    /* 0 */
	char replica[CBT_NAME_LEN];	    /* replica name on the target, cbt_name_valid() */
	uint8_t device_id[CBT_WIRE_ID_LEN]; /* identity of the source device, zero = unknown */
	uint64_t device_bytes;		    /* source device size, nonzero multiple of 512 */
	uint32_t granularity;		    /* source bitmap granularity, cbt_granularity_valid() */
	uint32_t reserved0;		    /* 0 */
	uint8_t engine_id[CBT_WIRE_ID_LEN]; /* identity of the engine instance (logged) */
	char source[CBT_NAME_LEN];	    /* source device name at the engine (logged) */
	uint64_t reserved1[4];		    /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_hello, 152);
CBT_ASSERT_OFFSET(struct cbt_wire_hello, device_id, 40);
CBT_ASSERT_OFFSET(struct cbt_wire_hello, engine_id, 72);
CBT_ASSERT_OFFSET(struct cbt_wire_hello, source, 88);

/* HELLO_OK: where the replica stands, so the client resumes after applied_seq. */
struct cbt_wire_hello_ok {
	uint16_t version;	   /* chosen protocol version, within the client's range */
	uint16_t reserved0;	   /* 0 */
	uint32_t flags;		   /* CBT_WHO_* */
	uint64_t replica_bytes;	   /* size of the replica, >= the source's device_bytes */
	uint64_t applied_seq;	   /* last sequence number durably applied, 0 = none */
	uint64_t applied_batch_id; /* batch id of that batch, 0 = none */
	uint8_t replica_id[CBT_WIRE_ID_LEN]; /* identity of the replica (random at creation) */
	uint8_t device_id[CBT_WIRE_ID_LEN];  /* source device the replica is bound to */
	uint32_t max_window;	 /* batches the client may send before waiting for ACK */
	uint32_t max_extent;	 /* largest decoded RAW/LZ4 extent accepted */
	uint64_t consistent_seq; /* last seq at which the replica was consistent */
	uint64_t reserved1[3];	 /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_hello_ok, 104);
CBT_ASSERT_OFFSET(struct cbt_wire_hello_ok, replica_id, 32);
CBT_ASSERT_OFFSET(struct cbt_wire_hello_ok, max_window, 64);

#define CBT_WHO_NEW_REPLICA (1u << 0) /* the replica has never applied a batch */
#define CBT_WHO_CONSISTENT (1u << 1)  /* the replica is at a consistent point now */
#define CBT_WHO_ALL 0x3u

/* ERROR codes. The FATAL flag, not the code, tells the client whether to retry. */
enum cbt_wire_error_code {
	CBT_WERR_PROTOCOL = 1,	      /* malformed or unexpected frame (recoverable) */
	CBT_WERR_VERSION = 2,	      /* no common protocol version (fatal) */
	CBT_WERR_AUTH = 3,	      /* client identity not allowed for the replica (fatal) */
	CBT_WERR_UNKNOWN_REPLICA = 4, /* no replica of that name (fatal) */
	CBT_WERR_IDENTITY = 5,	      /* source device differs from the replica's (fatal) */
	CBT_WERR_SIZE = 6,	      /* replica smaller than the source device (fatal) */
	CBT_WERR_SEQUENCE = 7,	      /* batch does not follow the last applied one (fatal) */
	CBT_WERR_BUSY = 8,	      /* replica in use by another connection (recoverable) */
	CBT_WERR_DISK_FULL = 9,	      /* ENOSPC on the target, nothing half-applied (recoverable) */
	CBT_WERR_IO = 10,	      /* I/O error on the target (recoverable) */
	CBT_WERR_SHUTDOWN = 11,	      /* target is stopping (recoverable) */
	CBT_WERR_INTERNAL = 12,	      /* bug or resource shortage on the target (recoverable) */
	CBT_WERR_DIGEST = 13,	      /* extent digest mismatch after decoding (recoverable) */
	CBT_WERR_TIMEOUT = 14,	      /* peer silent for too long (recoverable) */
	CBT_WERR_MAX = 14,
};

#define CBT_WERR_F_FATAL (1u << 0) /* do not retry: an operator must act */
#define CBT_WERR_F_ALL 0x1u

struct cbt_wire_error {
	uint32_t code;			/* enum cbt_wire_error_code */
	uint32_t flags;			/* CBT_WERR_F_* */
	uint64_t batch_id;		/* batch concerned, 0 = none */
	char message[CBT_WIRE_MSG_LEN]; /* human-readable, NUL-terminated */
};
CBT_ASSERT_SIZE(struct cbt_wire_error, 256);

/* Batch flags (BATCH_BEGIN). */
#define CBT_WB_CONSISTENT (1u << 0) /* the replica is crash-consistent at the end of the batch */
#define CBT_WB_HAS_TAG (1u << 1)    /* TAG frames follow (nr_tags > 0) */
#define CBT_WB_HAS_GAP (1u << 2)    /* the source batch held a GAP record (logged) */
#define CBT_WB_SEQ_JUMP (1u << 3)   /* first_seq may skip past applied_seq + 1 (resync, sync) */
#define CBT_WB_INITIAL (1u << 4)    /* part of the initial full copy */
#define CBT_WB_ALL 0x1fu

struct cbt_wire_batch_begin {
	uint64_t batch_id;     /* nonzero; the ACK names it */
	uint64_t first_seq;    /* first sequence number covered, nonzero */
	uint64_t last_seq;     /* last, >= first_seq; resume point after the ACK */
	uint32_t nr_extents;   /* EXTENT frames that follow, <= CBT_WIRE_MAX_EXTENTS */
	uint32_t nr_tags;      /* TAG frames that follow, <= CBT_WIRE_MAX_TAGS */
	uint16_t mode;	       /* enum cbt_mode of the source batch */
	uint16_t reserved0;    /* 0 */
	uint32_t flags;	       /* CBT_WB_* */
	uint64_t timestamp_ns; /* newest write time in the batch (lag reporting) */
	uint64_t total_bytes;  /* sum of the extents' decoded lengths */
	uint64_t reserved1;    /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_batch_begin, 64);
CBT_ASSERT_OFFSET(struct cbt_wire_batch_begin, mode, 32);
CBT_ASSERT_OFFSET(struct cbt_wire_batch_begin, total_bytes, 48);

enum cbt_wire_encoding {
	CBT_WE_RAW = 1,	    /* payload is the bytes, payload_len == length */
	CBT_WE_LZ4 = 2,	    /* payload is one LZ4 block decoding to exactly length bytes */
	CBT_WE_ZERO = 3,    /* range reads back as zeroes; no payload */
	CBT_WE_DISCARD = 4, /* range discarded; replicas zero it; no payload */
	CBT_WE_MAX = 4,
};

struct cbt_wire_extent {
	uint64_t offset;      /* byte offset in the replica, multiple of CBT_WIRE_ALIGN */
	uint64_t length;      /* decoded bytes, nonzero multiple of CBT_WIRE_ALIGN */
	uint16_t encoding;    /* enum cbt_wire_encoding */
	uint16_t flags;	      /* 0 */
	uint32_t encoded_len; /* payload bytes; equals the header's payload_len */
	uint64_t seq;	      /* sequence number of the record it came from, 0 = unknown */
	uint8_t digest[CBT_WIRE_DIGEST_LEN]; /* XXH3-128 of the decoded bytes; zero for ZERO/DISCARD
					      */
	uint32_t index;			     /* position in the batch, 0 .. nr_extents-1 */
	uint32_t reserved;		     /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_extent, 56);
CBT_ASSERT_OFFSET(struct cbt_wire_extent, digest, 32);

struct cbt_wire_tag {
	uint64_t tag_id;	     /* same id on every device of the tag's group */
	uint64_t timestamp_ns;	     /* when the tag was cut */
	uint64_t seq;		     /* sequence number of the TAG record */
	uint32_t flags;		     /* CBT_TAG_* (record.h) */
	uint32_t nr_devices;	     /* devices in the group, 1..CBT_TAG_MAX_DEVICES */
	char name[CBT_TAG_NAME_LEN]; /* NUL-terminated */
	uint32_t index;		     /* position among the batch's tags */
	uint32_t reserved;	     /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_tag, 104);
CBT_ASSERT_OFFSET(struct cbt_wire_tag, name, 32);

struct cbt_wire_batch_end {
	uint64_t batch_id;	/* as in BATCH_BEGIN */
	uint32_t nr_extents;	/* EXTENT frames sent */
	uint32_t nr_tags;	/* TAG frames sent */
	uint64_t total_bytes;	/* sum of decoded lengths sent */
	uint64_t payload_bytes; /* sum of payload bytes sent */
	uint64_t reserved;	/* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_batch_end, 40);

#define CBT_WA_DUPLICATE (1u << 0) /* already applied earlier: acknowledged, not re-applied */
#define CBT_WA_ALL 0x1u

struct cbt_wire_ack {
	uint64_t batch_id;   /* the batch now durable */
	uint64_t last_seq;   /* every seq <= this is durable on the replica */
	uint32_t flags;	     /* CBT_WA_* */
	uint32_t reserved0;  /* 0 */
	uint64_t applied_ns; /* target wall clock when it became durable */
};
CBT_ASSERT_SIZE(struct cbt_wire_ack, 32);

struct cbt_wire_ping {
	uint64_t nonce;	  /* echoed by PONG */
	uint64_t time_ns; /* sender's wall clock */
};
CBT_ASSERT_SIZE(struct cbt_wire_ping, 16);

/*
 * Resync (docs/resync.md). Both sides cut the device at fixed offsets into regions, blocks
 * and leaves (powers of two); a leaf's hash covers its bytes, a block's the concatenation
 * of its leaves' hashes, a region's that of its blocks' hashes.
 */
#define CBT_WRS_HASH_XXH3_128 1 /* XXH3-128, low64 then high64, little-endian: 16 bytes */
#define CBT_WRS_HASH_SHA256 2	/* SHA-256: 32 bytes */
#define CBT_WRS_MAX_HASH_LEN 32
#define CBT_WRS_MAX_REGION (1ull << 30)
/* Leaves per region: bounds every RS_HASHES payload (at most this many 32-byte hashes). */
#define CBT_WRS_MAX_LEAVES (1u << 17)

#define CBT_WRS_VERIFY (1u << 0) /* read-only session: the target refuses EXTENT frames */
/*
 * The source's journal resumes after base_seq once this resync is done: before writing
 * anything the target sets the replica's applied_seq to base_seq (with the not-consistent
 * mark, in one state-file update). Sent by cbtrepd's automatic resync, whose tracker may
 * have restarted its numbering (metadata lost: NEW_DEVICE, METADATA_INVALID) below what the
 * replica applied; without it every later batch would look like a duplicate. Not with VERIFY.
 */
#define CBT_WRS_REBASE (1u << 1)
#define CBT_WRS_ALL 0x3u

struct cbt_wire_rs_begin {
	uint64_t region_bytes; /* power of two, block_bytes .. CBT_WRS_MAX_REGION */
	uint32_t block_bytes;  /* power of two, leaf_bytes .. region_bytes */
	uint32_t leaf_bytes;   /* power of two, >= 512; region / leaf <= CBT_WRS_MAX_LEAVES */
	uint16_t hash;	       /* CBT_WRS_HASH_* */
	uint16_t reserved0;    /* 0 */
	uint32_t flags;	       /* CBT_WRS_* */
	uint64_t device_bytes; /* source size; the target refuses a replica of another size */
	uint64_t base_seq;     /* with CBT_WRS_REBASE: applied_seq from now on; else 0 */
	uint64_t reserved1;    /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_rs_begin, 48);
CBT_ASSERT_OFFSET(struct cbt_wire_rs_begin, base_seq, 32);
CBT_ASSERT_OFFSET(struct cbt_wire_rs_begin, hash, 16);
CBT_ASSERT_OFFSET(struct cbt_wire_rs_begin, device_bytes, 24);

struct cbt_wire_rs_begin_ok {
	uint64_t replica_bytes; /* equals the RS_BEGIN device_bytes */
	uint32_t flags;		/* the RS_BEGIN flags, echoed */
	uint32_t reserved0;	/* 0 */
	uint64_t reserved1[2];	/* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_rs_begin_ok, 32);

enum cbt_wire_rs_kind {
	CBT_WRS_REGION = 1, /* the region's hash; no items */
	CBT_WRS_BLOCKS = 2, /* every block hash of the region; no items */
	CBT_WRS_LEAVES = 3, /* the leaves of some blocks; items: u32 block indexes, ascending */
	CBT_WRS_REHASH = 4, /* fresh leaf hashes, read again; items: {u64 offset, u64 length} */
	CBT_WRS_KIND_MAX = 4,
};

struct cbt_wire_rs_hash_req {
	uint64_t req_id;   /* nonzero, +1 per request; echoed by RS_HASHES */
	uint64_t region;   /* region index (REHASH: the region the ranges lie in) */
	uint16_t kind;	   /* enum cbt_wire_rs_kind */
	uint16_t reserved; /* 0 */
	uint32_t nr_items; /* LEAVES, REHASH: 1..CBT_WRS_MAX_LEAVES; else 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_rs_hash_req, 24);

struct cbt_wire_rs_hashes {
	uint64_t req_id;    /* of the request answered */
	uint64_t region;    /* as in the request */
	uint16_t kind;	    /* as in the request */
	uint16_t hash_len;  /* 16 (XXH3-128) or 32 (SHA-256) */
	uint32_t nr_hashes; /* <= CBT_WRS_MAX_LEAVES; payload is nr_hashes * hash_len bytes */
};
CBT_ASSERT_SIZE(struct cbt_wire_rs_hashes, 24);

struct cbt_wire_rs_flush {
	uint64_t flush_id; /* nonzero; RS_FLUSHED echoes it */
	uint64_t reserved; /* 0 */
};
CBT_ASSERT_SIZE(struct cbt_wire_rs_flush, 16);

/* ---- what a validator found wrong --------------------------------------------------- */

enum cbt_wire_err {
	CBT_WIRE_OK = 0,
	CBT_WIRE_E_TRUNCATED, /* fewer bytes than the header or body needs */
	CBT_WIRE_E_MAGIC,
	CBT_WIRE_E_VERSION,
	CBT_WIRE_E_HDR_CRC,
	CBT_WIRE_E_BODY_CRC,
	CBT_WIRE_E_TYPE,
	CBT_WIRE_E_BODY_LEN,
	CBT_WIRE_E_PAYLOAD_LEN,
	CBT_WIRE_E_RESERVED,
	CBT_WIRE_E_FLAGS,
	CBT_WIRE_E_VERSION_RANGE,
	CBT_WIRE_E_NAME,
	CBT_WIRE_E_DEVICE_SIZE,
	CBT_WIRE_E_GRANULARITY,
	CBT_WIRE_E_MESSAGE,
	CBT_WIRE_E_ERROR_CODE,
	CBT_WIRE_E_BATCH_ID,
	CBT_WIRE_E_SEQ_RANGE,
	CBT_WIRE_E_MODE,
	CBT_WIRE_E_COUNT,
	CBT_WIRE_E_ENCODING,
	CBT_WIRE_E_ALIGN,
	CBT_WIRE_E_EXTENT_LEN,
	CBT_WIRE_E_ENCODED_LEN,
	CBT_WIRE_E_OVERFLOW,
	CBT_WIRE_E_OUT_OF_BOUNDS,
	CBT_WIRE_E_DIGEST_FIELD,
	CBT_WIRE_E_TAG_NAME,
	CBT_WIRE_E_WINDOW,
	/* found by the receiver's state machine or decoder, not by a single-frame validator */
	CBT_WIRE_E_DIGEST,
	CBT_WIRE_E_DECOMPRESS,
	CBT_WIRE_E_TOTALS,
	CBT_WIRE_E_ORDER,
	CBT_WIRE_E_UNEXPECTED,
	/* resync frames */
	CBT_WIRE_E_RS_GEOMETRY,
	CBT_WIRE_E_RS_HASH,
	CBT_WIRE_E_RS_KIND,
	CBT_WIRE_E_MAX,
};

CBT_INLINE const char *cbt_wire_err_str(int err)
{
	switch (err) {
	case CBT_WIRE_OK: return "ok";
	case CBT_WIRE_E_TRUNCATED: return "frame truncated";
	case CBT_WIRE_E_MAGIC: return "bad frame magic";
	case CBT_WIRE_E_VERSION: return "unsupported frame version";
	case CBT_WIRE_E_HDR_CRC: return "frame header checksum mismatch";
	case CBT_WIRE_E_BODY_CRC: return "frame body checksum mismatch";
	case CBT_WIRE_E_TYPE: return "unknown frame type";
	case CBT_WIRE_E_BODY_LEN: return "body length does not match the frame type";
	case CBT_WIRE_E_PAYLOAD_LEN:
		return "payload length not allowed for the frame or above the limit";
	case CBT_WIRE_E_RESERVED: return "reserved field not zero";
	case CBT_WIRE_E_FLAGS: return "unknown flags";
	case CBT_WIRE_E_VERSION_RANGE: return "bad protocol version range";
	case CBT_WIRE_E_NAME: return "bad replica or source name";
	case CBT_WIRE_E_DEVICE_SIZE: return "device size zero or not a multiple of 512";
	case CBT_WIRE_E_GRANULARITY: return "bad granularity";
	case CBT_WIRE_E_MESSAGE: return "error message not NUL-terminated";
	case CBT_WIRE_E_ERROR_CODE: return "unknown error code";
	case CBT_WIRE_E_BATCH_ID: return "batch id is zero";
	case CBT_WIRE_E_SEQ_RANGE: return "bad sequence range";
	case CBT_WIRE_E_MODE: return "unknown batch mode";
	case CBT_WIRE_E_COUNT: return "too many extents or tags";
	case CBT_WIRE_E_ENCODING: return "unknown extent encoding";
	case CBT_WIRE_E_ALIGN: return "extent offset or length not a multiple of 512";
	case CBT_WIRE_E_EXTENT_LEN: return "extent length zero or above the limit";
	case CBT_WIRE_E_ENCODED_LEN: return "encoded length disagrees with the encoding or frame";
	case CBT_WIRE_E_OVERFLOW: return "extent offset plus length overflows";
	case CBT_WIRE_E_OUT_OF_BOUNDS: return "extent ends past the replica";
	case CBT_WIRE_E_DIGEST_FIELD: return "digest must be zero for a zero or discard extent";
	case CBT_WIRE_E_TAG_NAME: return "tag name not NUL-terminated or device count invalid";
	case CBT_WIRE_E_WINDOW: return "window or extent limit outside the protocol limits";
	case CBT_WIRE_E_DIGEST: return "extent digest mismatch";
	case CBT_WIRE_E_DECOMPRESS: return "lz4 payload does not decode to the extent length";
	case CBT_WIRE_E_TOTALS: return "batch totals disagree with the frames received";
	case CBT_WIRE_E_ORDER: return "frame out of order (index or sequence)";
	case CBT_WIRE_E_UNEXPECTED: return "frame not allowed in this state";
	case CBT_WIRE_E_RS_GEOMETRY: return "bad resync region, block or leaf size";
	case CBT_WIRE_E_RS_HASH: return "unknown resync hash or hash length";
	case CBT_WIRE_E_RS_KIND: return "unknown resync request kind or bad item count";
	default: return "unknown wire error";
	}
}

CBT_INLINE const char *cbt_wire_type_str(uint32_t type)
{
	switch (type) {
	case CBT_WT_HELLO: return "HELLO";
	case CBT_WT_HELLO_OK: return "HELLO_OK";
	case CBT_WT_ERROR: return "ERROR";
	case CBT_WT_BATCH_BEGIN: return "BATCH_BEGIN";
	case CBT_WT_EXTENT: return "EXTENT";
	case CBT_WT_TAG: return "TAG";
	case CBT_WT_BATCH_END: return "BATCH_END";
	case CBT_WT_ACK: return "ACK";
	case CBT_WT_PING: return "PING";
	case CBT_WT_PONG: return "PONG";
	case CBT_WT_RS_BEGIN: return "RS_BEGIN";
	case CBT_WT_RS_BEGIN_OK: return "RS_BEGIN_OK";
	case CBT_WT_RS_HASH_REQ: return "RS_HASH_REQ";
	case CBT_WT_RS_HASHES: return "RS_HASHES";
	case CBT_WT_RS_FLUSH: return "RS_FLUSH";
	case CBT_WT_RS_FLUSHED: return "RS_FLUSHED";
	default: return "unknown";
	}
}

CBT_INLINE const char *cbt_wire_error_code_str(uint32_t code)
{
	switch (code) {
	case CBT_WERR_PROTOCOL: return "protocol error";
	case CBT_WERR_VERSION: return "no common protocol version";
	case CBT_WERR_AUTH: return "not authorized";
	case CBT_WERR_UNKNOWN_REPLICA: return "unknown replica";
	case CBT_WERR_IDENTITY: return "replica identity mismatch";
	case CBT_WERR_SIZE: return "replica too small";
	case CBT_WERR_SEQUENCE: return "sequence gap";
	case CBT_WERR_BUSY: return "replica busy";
	case CBT_WERR_DISK_FULL: return "disk full";
	case CBT_WERR_IO: return "I/O error";
	case CBT_WERR_SHUTDOWN: return "target shutting down";
	case CBT_WERR_INTERNAL: return "internal error";
	case CBT_WERR_DIGEST: return "digest mismatch";
	case CBT_WERR_TIMEOUT: return "timeout";
	default: return "unknown error code";
	}
}

/* ---- encode / validate ---------------------------------------------------------------- */

/* Exact body size of a frame type, 0 for an unknown type. */
CBT_INLINE uint32_t cbt_wire_body_size(uint32_t type)
{
	switch (type) {
	case CBT_WT_HELLO: return sizeof(struct cbt_wire_hello);
	case CBT_WT_HELLO_OK: return sizeof(struct cbt_wire_hello_ok);
	case CBT_WT_ERROR: return sizeof(struct cbt_wire_error);
	case CBT_WT_BATCH_BEGIN: return sizeof(struct cbt_wire_batch_begin);
	case CBT_WT_EXTENT: return sizeof(struct cbt_wire_extent);
	case CBT_WT_TAG: return sizeof(struct cbt_wire_tag);
	case CBT_WT_BATCH_END: return sizeof(struct cbt_wire_batch_end);
	case CBT_WT_ACK: return sizeof(struct cbt_wire_ack);
	case CBT_WT_PING:
	case CBT_WT_PONG: return sizeof(struct cbt_wire_ping);
	case CBT_WT_RS_BEGIN: return sizeof(struct cbt_wire_rs_begin);
	case CBT_WT_RS_BEGIN_OK: return sizeof(struct cbt_wire_rs_begin_ok);
	case CBT_WT_RS_HASH_REQ: return sizeof(struct cbt_wire_rs_hash_req);
	case CBT_WT_RS_HASHES: return sizeof(struct cbt_wire_rs_hashes);
	case CBT_WT_RS_FLUSH:
	case CBT_WT_RS_FLUSHED: return sizeof(struct cbt_wire_rs_flush);
	default: return 0;
	}
}

/* Whether frames of a type may carry a payload after the body. */
CBT_INLINE int cbt_wire_type_has_payload(uint32_t type)
{
	return type == CBT_WT_EXTENT || type == CBT_WT_RS_HASH_REQ || type == CBT_WT_RS_HASHES;
}

/* Fills in a header for body (body_size bytes) and payload_len payload bytes. */
CBT_INLINE void cbt_wire_hdr_init(struct cbt_wire_hdr *h, uint16_t version, uint16_t type,
				  const void *body, uint32_t body_size, uint32_t payload_len)
{
	cbt_memset(h, 0, sizeof(*h));
	h->magic = CBT_MAGIC_WIRE;
	h->version = version;
	h->type = type;
	h->body_len = body_size;
	h->payload_len = payload_len;
	h->body_crc = cbt_crc32c(0, body, body_size);
	h->hdr_crc = cbt_hdr_crc(h, sizeof(*h));
}

/*
 * Validates a frame header on its own, before any length in it is used: magic, CRC,
 * version (== version, or within CBT_WIRE_VERSION_MIN..MAX when version is 0), type,
 * the body length the type implies, and the payload length (EXTENT, RS_HASH_REQ and
 * RS_HASHES only, bounded).
 */
CBT_INLINE int cbt_wire_hdr_check(const struct cbt_wire_hdr *h, uint16_t version)
{
	if (h->magic != CBT_MAGIC_WIRE)
		return CBT_WIRE_E_MAGIC;
	if (h->hdr_crc != cbt_hdr_crc(h, sizeof(*h)))
		return CBT_WIRE_E_HDR_CRC;
	if (version ? h->version != version
		    : (h->version < CBT_WIRE_VERSION_MIN || h->version > CBT_WIRE_VERSION_MAX))
		return CBT_WIRE_E_VERSION;
	if (h->type < 1 || h->type > CBT_WT_MAX)
		return CBT_WIRE_E_TYPE;
	if (h->reserved)
		return CBT_WIRE_E_RESERVED;
	if (h->body_len != cbt_wire_body_size(h->type))
		return CBT_WIRE_E_BODY_LEN;
	if (cbt_wire_type_has_payload(h->type) ? h->payload_len > CBT_WIRE_MAX_PAYLOAD
					       : h->payload_len != 0)
		return CBT_WIRE_E_PAYLOAD_LEN;
	return CBT_WIRE_OK;
}

/* Checks the body CRC once body (h->body_len bytes) has been read. */
CBT_INLINE int cbt_wire_body_crc_check(const struct cbt_wire_hdr *h, const void *body)
{
	return cbt_crc32c(0, body, h->body_len) == h->body_crc ? CBT_WIRE_OK : CBT_WIRE_E_BODY_CRC;
}

CBT_INLINE int cbt_wire_id_zero(const uint8_t *id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (id[i])
			return 0;
	return 1;
}

CBT_INLINE int cbt_wire_hello_check(const struct cbt_wire_hello *b)
{
	size_t i;

	if (b->version_min < 1 || b->version_max < b->version_min)
		return CBT_WIRE_E_VERSION_RANGE;
	if (b->flags)
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0)
		return CBT_WIRE_E_RESERVED;
	for (i = 0; i < 4; i++)
		if (b->reserved1[i])
			return CBT_WIRE_E_RESERVED;
	if (!cbt_name_valid(b->replica, sizeof(b->replica)))
		return CBT_WIRE_E_NAME;
	if (b->source[0] && !cbt_name_valid(b->source, sizeof(b->source)))
		return CBT_WIRE_E_NAME;
	if (!b->device_bytes || b->device_bytes % CBT_SECTOR_SIZE)
		return CBT_WIRE_E_DEVICE_SIZE;
	if (!cbt_granularity_valid(b->granularity))
		return CBT_WIRE_E_GRANULARITY;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_hello_ok_check(const struct cbt_wire_hello_ok *b)
{
	size_t i;

	if (b->version < CBT_WIRE_VERSION_MIN || b->version > CBT_WIRE_VERSION_MAX)
		return CBT_WIRE_E_VERSION;
	if (b->flags & ~CBT_WHO_ALL)
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0)
		return CBT_WIRE_E_RESERVED;
	for (i = 0; i < 3; i++)
		if (b->reserved1[i])
			return CBT_WIRE_E_RESERVED;
	if (!b->replica_bytes || b->replica_bytes % CBT_SECTOR_SIZE)
		return CBT_WIRE_E_DEVICE_SIZE;
	if (!b->max_window || b->max_window > CBT_WIRE_MAX_WINDOW || !b->max_extent ||
	    b->max_extent > CBT_WIRE_MAX_EXTENT || b->max_extent % CBT_WIRE_ALIGN)
		return CBT_WIRE_E_WINDOW;
	if ((b->applied_seq == 0) != (b->applied_batch_id == 0) ||
	    b->consistent_seq > b->applied_seq)
		return CBT_WIRE_E_SEQ_RANGE;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_error_check(const struct cbt_wire_error *b)
{
	if (b->code < 1 || b->code > CBT_WERR_MAX)
		return CBT_WIRE_E_ERROR_CODE;
	if (b->flags & ~CBT_WERR_F_ALL)
		return CBT_WIRE_E_FLAGS;
	if (!cbt_str_terminated(b->message, sizeof(b->message)))
		return CBT_WIRE_E_MESSAGE;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_batch_begin_check(const struct cbt_wire_batch_begin *b)
{
	if (!b->batch_id)
		return CBT_WIRE_E_BATCH_ID;
	if (!b->first_seq || b->last_seq < b->first_seq)
		return CBT_WIRE_E_SEQ_RANGE;
	if (b->mode < CBT_MODE_DATA || b->mode > CBT_MODE_BITMAP)
		return CBT_WIRE_E_MODE;
	if (b->flags & ~CBT_WB_ALL)
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0 || b->reserved1)
		return CBT_WIRE_E_RESERVED;
	if (b->nr_extents > CBT_WIRE_MAX_EXTENTS || b->nr_tags > CBT_WIRE_MAX_TAGS)
		return CBT_WIRE_E_COUNT;
	if (!!(b->flags & CBT_WB_HAS_TAG) != (b->nr_tags != 0))
		return CBT_WIRE_E_FLAGS;
	return CBT_WIRE_OK;
}

/*
 * Validates an EXTENT body against the frame's payload_len and, when replica_bytes is
 * nonzero, against the replica's end. The digest itself is checked after decoding.
 */
CBT_INLINE int cbt_wire_extent_check(const struct cbt_wire_extent *e, uint32_t payload_len,
				     uint64_t replica_bytes)
{
	if (e->encoding < CBT_WE_RAW || e->encoding > CBT_WE_MAX)
		return CBT_WIRE_E_ENCODING;
	if (e->flags)
		return CBT_WIRE_E_FLAGS;
	if (e->reserved)
		return CBT_WIRE_E_RESERVED;
	if (e->encoded_len != payload_len)
		return CBT_WIRE_E_ENCODED_LEN;
	if (e->offset % CBT_WIRE_ALIGN || e->length % CBT_WIRE_ALIGN)
		return CBT_WIRE_E_ALIGN;
	if (!e->length)
		return CBT_WIRE_E_EXTENT_LEN;
	switch (e->encoding) {
	case CBT_WE_RAW:
		if (e->length > CBT_WIRE_MAX_EXTENT)
			return CBT_WIRE_E_EXTENT_LEN;
		if (payload_len != e->length)
			return CBT_WIRE_E_ENCODED_LEN;
		break;
	case CBT_WE_LZ4:
		if (e->length > CBT_WIRE_MAX_EXTENT)
			return CBT_WIRE_E_EXTENT_LEN;
		if (!payload_len || payload_len > e->length + e->length / 255u + 16u)
			return CBT_WIRE_E_ENCODED_LEN;
		break;
	default: /* ZERO, DISCARD */
		if (e->length > CBT_WIRE_MAX_ZERO)
			return CBT_WIRE_E_EXTENT_LEN;
		if (payload_len)
			return CBT_WIRE_E_ENCODED_LEN;
		if (!cbt_wire_id_zero(e->digest, sizeof(e->digest)))
			return CBT_WIRE_E_DIGEST_FIELD;
		break;
	}
	if (e->offset + e->length < e->offset)
		return CBT_WIRE_E_OVERFLOW;
	if (replica_bytes && e->offset + e->length > replica_bytes)
		return CBT_WIRE_E_OUT_OF_BOUNDS;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_tag_check(const struct cbt_wire_tag *t)
{
	if (t->flags & ~CBT_TAG_FLAGS_ALL)
		return CBT_WIRE_E_FLAGS;
	if (t->reserved)
		return CBT_WIRE_E_RESERVED;
	if (!t->seq)
		return CBT_WIRE_E_SEQ_RANGE;
	if (!cbt_str_terminated(t->name, sizeof(t->name)) || t->nr_devices < 1 ||
	    t->nr_devices > CBT_TAG_MAX_DEVICES)
		return CBT_WIRE_E_TAG_NAME;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_batch_end_check(const struct cbt_wire_batch_end *b)
{
	if (!b->batch_id)
		return CBT_WIRE_E_BATCH_ID;
	if (b->reserved)
		return CBT_WIRE_E_RESERVED;
	if (b->nr_extents > CBT_WIRE_MAX_EXTENTS || b->nr_tags > CBT_WIRE_MAX_TAGS)
		return CBT_WIRE_E_COUNT;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_ack_check(const struct cbt_wire_ack *b)
{
	if (!b->batch_id)
		return CBT_WIRE_E_BATCH_ID;
	if (!b->last_seq)
		return CBT_WIRE_E_SEQ_RANGE;
	if (b->flags & ~CBT_WA_ALL)
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0)
		return CBT_WIRE_E_RESERVED;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

CBT_INLINE uint32_t cbt_wire_rs_hash_len(uint32_t hash)
{
	return hash == CBT_WRS_HASH_XXH3_128 ? 16 : hash == CBT_WRS_HASH_SHA256 ? 32 : 0;
}

CBT_INLINE int cbt_wire_rs_begin_check(const struct cbt_wire_rs_begin *b)
{
	if (!cbt_wire_rs_hash_len(b->hash))
		return CBT_WIRE_E_RS_HASH;
	if (b->flags & ~CBT_WRS_ALL)
		return CBT_WIRE_E_FLAGS;
	if ((b->flags & CBT_WRS_REBASE) && (b->flags & CBT_WRS_VERIFY))
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0 || b->reserved1 || (!(b->flags & CBT_WRS_REBASE) && b->base_seq))
		return CBT_WIRE_E_RESERVED;
	if (!cbt_wire_pow2(b->leaf_bytes) || b->leaf_bytes < CBT_SECTOR_SIZE ||
	    !cbt_wire_pow2(b->block_bytes) || b->block_bytes < b->leaf_bytes ||
	    !cbt_wire_pow2(b->region_bytes) || b->region_bytes < b->block_bytes ||
	    b->region_bytes > CBT_WRS_MAX_REGION ||
	    b->region_bytes / b->leaf_bytes > CBT_WRS_MAX_LEAVES)
		return CBT_WIRE_E_RS_GEOMETRY;
	if (!b->device_bytes || b->device_bytes % CBT_SECTOR_SIZE)
		return CBT_WIRE_E_DEVICE_SIZE;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_rs_begin_ok_check(const struct cbt_wire_rs_begin_ok *b)
{
	if (b->flags & ~CBT_WRS_ALL)
		return CBT_WIRE_E_FLAGS;
	if (b->reserved0 || b->reserved1[0] || b->reserved1[1])
		return CBT_WIRE_E_RESERVED;
	if (!b->replica_bytes || b->replica_bytes % CBT_SECTOR_SIZE)
		return CBT_WIRE_E_DEVICE_SIZE;
	return CBT_WIRE_OK;
}

/* payload_len: the frame's; LEAVES items are 4 bytes, REHASH items 16. */
CBT_INLINE int cbt_wire_rs_hash_req_check(const struct cbt_wire_rs_hash_req *r,
					  uint32_t payload_len)
{
	uint32_t item;

	if (!r->req_id)
		return CBT_WIRE_E_BATCH_ID;
	if (r->reserved)
		return CBT_WIRE_E_RESERVED;
	switch (r->kind) {
	case CBT_WRS_REGION:
	case CBT_WRS_BLOCKS:
		if (r->nr_items)
			return CBT_WIRE_E_RS_KIND;
		item = 0;
		break;
	case CBT_WRS_LEAVES: item = 4; break;
	case CBT_WRS_REHASH: item = 16; break;
	default: return CBT_WIRE_E_RS_KIND;
	}
	if (item && (!r->nr_items || r->nr_items > CBT_WRS_MAX_LEAVES))
		return CBT_WIRE_E_RS_KIND;
	if ((uint64_t)r->nr_items * item != payload_len)
		return CBT_WIRE_E_PAYLOAD_LEN;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_rs_hashes_check(const struct cbt_wire_rs_hashes *h, uint32_t payload_len)
{
	if (!h->req_id)
		return CBT_WIRE_E_BATCH_ID;
	if (h->kind < CBT_WRS_REGION || h->kind > CBT_WRS_KIND_MAX)
		return CBT_WIRE_E_RS_KIND;
	if (h->hash_len != 16 && h->hash_len != 32)
		return CBT_WIRE_E_RS_HASH;
	if (h->nr_hashes > CBT_WRS_MAX_LEAVES)
		return CBT_WIRE_E_COUNT;
	if ((uint64_t)h->nr_hashes * h->hash_len != payload_len)
		return CBT_WIRE_E_PAYLOAD_LEN;
	return CBT_WIRE_OK;
}

CBT_INLINE int cbt_wire_rs_flush_check(const struct cbt_wire_rs_flush *f)
{
	if (!f->flush_id)
		return CBT_WIRE_E_BATCH_ID;
	if (f->reserved)
		return CBT_WIRE_E_RESERVED;
	return CBT_WIRE_OK;
}

/*
 * Validates the body of any frame whose header passed cbt_wire_hdr_check() and whose body
 * CRC matched; body must hold h->body_len bytes (no alignment needed: it is copied).
 * replica_bytes bounds EXTENT frames when nonzero.
 */
CBT_INLINE int cbt_wire_body_check(const struct cbt_wire_hdr *h, const void *body,
				   uint64_t replica_bytes)
{
	union {
		struct cbt_wire_hello hello;
		struct cbt_wire_hello_ok hello_ok;
		struct cbt_wire_error error;
		struct cbt_wire_batch_begin begin;
		struct cbt_wire_extent extent;
		struct cbt_wire_tag tag;
		struct cbt_wire_batch_end end;
		struct cbt_wire_ack ack;
		struct cbt_wire_ping ping;
		struct cbt_wire_rs_begin rs_begin;
		struct cbt_wire_rs_begin_ok rs_begin_ok;
		struct cbt_wire_rs_hash_req rs_req;
		struct cbt_wire_rs_hashes rs_hashes;
		struct cbt_wire_rs_flush rs_flush;
	} u;

	if (h->body_len != cbt_wire_body_size(h->type) || h->body_len > sizeof(u))
		return CBT_WIRE_E_BODY_LEN;
	cbt_memcpy(&u, body, h->body_len);
	switch (h->type) {
	case CBT_WT_HELLO: return cbt_wire_hello_check(&u.hello);
	case CBT_WT_HELLO_OK: return cbt_wire_hello_ok_check(&u.hello_ok);
	case CBT_WT_ERROR: return cbt_wire_error_check(&u.error);
	case CBT_WT_BATCH_BEGIN: return cbt_wire_batch_begin_check(&u.begin);
	case CBT_WT_EXTENT: return cbt_wire_extent_check(&u.extent, h->payload_len, replica_bytes);
	case CBT_WT_TAG: return cbt_wire_tag_check(&u.tag);
	case CBT_WT_BATCH_END: return cbt_wire_batch_end_check(&u.end);
	case CBT_WT_ACK: return cbt_wire_ack_check(&u.ack);
	case CBT_WT_PING:
	case CBT_WT_PONG: return CBT_WIRE_OK;
	case CBT_WT_RS_BEGIN: return cbt_wire_rs_begin_check(&u.rs_begin);
	case CBT_WT_RS_BEGIN_OK: return cbt_wire_rs_begin_ok_check(&u.rs_begin_ok);
	case CBT_WT_RS_HASH_REQ: return cbt_wire_rs_hash_req_check(&u.rs_req, h->payload_len);
	case CBT_WT_RS_HASHES: return cbt_wire_rs_hashes_check(&u.rs_hashes, h->payload_len);
	case CBT_WT_RS_FLUSH:
	case CBT_WT_RS_FLUSHED: return cbt_wire_rs_flush_check(&u.rs_flush);
	default: return CBT_WIRE_E_TYPE;
	}
}

/*
 * Decodes one whole frame from buf (avail bytes): header, body CRC and body. On success
 * *hdr holds the header, *body points at the body and *payload at the payload inside buf.
 * version and replica_bytes as for cbt_wire_hdr_check() and cbt_wire_body_check().
 */
CBT_INLINE int cbt_wire_decode(const void *buf, uint64_t avail, uint16_t version,
			       uint64_t replica_bytes, struct cbt_wire_hdr *hdr,
			       const uint8_t **body, const uint8_t **payload)
{
	const uint8_t *p = (const uint8_t *)buf;
	int err;

	if (avail < sizeof(*hdr))
		return CBT_WIRE_E_TRUNCATED;
	cbt_memcpy(hdr, p, sizeof(*hdr));
	err = cbt_wire_hdr_check(hdr, version);
	if (err)
		return err;
	if (avail - sizeof(*hdr) < (uint64_t)hdr->body_len + hdr->payload_len)
		return CBT_WIRE_E_TRUNCATED;
	err = cbt_wire_body_crc_check(hdr, p + sizeof(*hdr));
	if (err)
		return err;
	err = cbt_wire_body_check(hdr, p + sizeof(*hdr), replica_bytes);
	if (err)
		return err;
	if (body)
		*body = p + sizeof(*hdr);
	if (payload)
		*payload = p + sizeof(*hdr) + hdr->body_len;
	return CBT_WIRE_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* CBTREP_WIRE_H */
