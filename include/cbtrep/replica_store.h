// On-disk formats of cbtrep-target's state directory: the replica state file, the undo log,
// the retained history (segments = undo logs of committed batches), the point catalog and
// the rollback intent. User space only (C++), same conventions as the rest of
// include/cbtrep (fixed-width LE fields, size asserts, magic, version, CRC32C). They never
// cross the wire; they live here because cbtrep-target, the `cbtrep` command and the nbdkit
// plugin all read them. docs/protocol.md ("Target durability") and docs/points.md
// describe them.
#pragma once

#include <cbtrep/abi.h>
#include <cbtrep/crc32c.h>
#include <cbtrep/record.h>

namespace cbtrep::target
{

constexpr uint32_t kStateMagic = 0x51544243u; // "CBTQ"
constexpr uint16_t kStateVersion = 1;
constexpr uint32_t kUndoMagic = 0x55544243u; // "CBTU"
constexpr uint16_t kUndoVersion = 1;

constexpr uint32_t kStateConsistent = 1u
				      << 0; // replica at a consistent point (applied == consistent)
// The replica was rolled back to a point: it is behind its source, whose next batch will not
// follow on (resync required).
constexpr uint32_t kStateRolledBack = 1u << 1;
// Failed over: the replica was promoted (at failover_point) and takes no more batches.
constexpr uint32_t kStateFailedOver = 1u << 2;
// ... and the failover was committed: the other points are gone.
constexpr uint32_t kStateCommitted = 1u << 3;

// <state_dir>/<replica>.state, replaced atomically (write temp, fsync, rename, fsync dir).
struct StateRecord {
	uint32_t magic;		   // kStateMagic
	uint16_t version;	   // kStateVersion
	uint16_t hdr_len;	   // sizeof(StateRecord)
	uint8_t replica_id[16];	   // random at creation, never changes
	uint8_t device_id[16];	   // source device bound at first HELLO, zero = unbound
	uint64_t replica_bytes;	   // size when the state was written
	uint64_t applied_seq;	   // last seq durably applied (0 = none)
	uint64_t applied_batch_id; // its batch
	uint64_t consistent_seq;   // last seq at a consistent point
	uint64_t consistent_batch_id;
	uint64_t commit_ns; // when the last batch was committed
	uint64_t batches;   // batches applied since creation
	uint64_t bytes;	    // decoded bytes applied since creation
	uint64_t tag_id;    // last tag reached (0 = none)
	uint64_t tag_ns;
	uint64_t tag_seq;
	uint32_t tag_flags; // CBT_TAG_*
	uint32_t flags;	    // kState*
	char tag_name[CBT_TAG_NAME_LEN];
	uint64_t failover_point; // point id the replica was promoted at (kStateFailedOver)
	uint8_t reserved[44];	 // 0
	uint32_t crc;		 // crc32c of bytes 0..251
};
static_assert(sizeof(StateRecord) == 256, "StateRecord size");
static_assert(offsetof(StateRecord, tag_name) == 136, "StateRecord.tag_name offset");
static_assert(offsetof(StateRecord, failover_point) == 200, "StateRecord.failover_point offset");

enum UndoType : uint16_t {
	kUndoBegin = 1, // a batch starts: batch_id, first_seq, last_seq
	kUndoData = 2,	// data_len old bytes of [offset, offset + length) follow
	kUndoZero = 3,	// [offset, offset + length) read back as zeroes before the batch
};

// <state_dir>/<replica>.undo: records back to back, each 64 bytes plus data_len bytes. Only
// the batch named by the first (BEGIN) record is in it; records of another batch or with a
// bad CRC end it (they were never synced, so the replica was never written under them).
// Once its batch is committed, the file is renamed into the history directory unchanged:
// <state_dir>/<replica>.history/<first_seq %016x>-<last_seq %016x>.seg is a history segment,
// the before-images of that one batch. Within a segment the first record covering a byte
// holds its value before the batch.
struct UndoRecord {
	uint32_t magic;	   // kUndoMagic
	uint16_t version;  // kUndoVersion
	uint16_t type;	   // UndoType
	uint32_t data_len; // bytes following (kUndoData: == length)
	uint32_t data_crc; // crc32c of them, 0 when none
	uint64_t batch_id;
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t offset;   // replica byte offset
	uint64_t length;   // bytes covered
	uint32_t reserved; // 0
	uint32_t hdr_crc;  // crc32c of bytes 0..59
};
static_assert(sizeof(UndoRecord) == 64, "UndoRecord size");

constexpr uint32_t kPointMagic = 0x4b544243u;	// "CBTK"
constexpr uint32_t kCatalogMagic = 0x43544243u; // "CBTC"
constexpr uint32_t kIntentMagic = 0x57544243u;	// "CBTW"
constexpr uint16_t kPointVersion = 1;

constexpr uint32_t kPointApp = 1u << 0; // app-consistent (source froze the filesystem)

// A recovery point: the replica as it was right after the batch that carried the tag
// (batch_last_seq). Its id is the tag record's sequence number: unique and increasing.
struct PointRecord {
	uint32_t magic;	  // kPointMagic
	uint16_t version; // kPointVersion
	uint16_t hdr_len; // sizeof(PointRecord)
	uint64_t id;	  // the tag's seq
	uint64_t tag_id;
	uint64_t tag_ns;     // when the source cut the tag
	uint64_t reached_ns; // when the target committed the batch (retention age counts from here)
	uint64_t batch_id;
	uint64_t batch_last_seq; // the point is the replica after this seq
	uint32_t flags;		 // kPoint*
	uint32_t tag_flags;	 // CBT_TAG_*
	char name[CBT_TAG_NAME_LEN];
	uint8_t reserved[28]; // 0
	uint32_t crc;	      // crc32c of bytes 0..155
};
static_assert(sizeof(PointRecord) == 160, "PointRecord size");

// <state_dir>/<replica>.history/points: this header and `count` PointRecords, oldest first;
// replaced atomically (temp, fsync, rename, fsync dir) whenever points are added or pruned.
struct CatalogHeader {
	uint32_t magic;	  // kCatalogMagic
	uint16_t version; // kPointVersion
	uint16_t hdr_len; // sizeof(CatalogHeader)
	uint32_t count;
	uint32_t rec_len;     // sizeof(PointRecord)
	uint8_t reserved[44]; // 0
	uint32_t crc;	      // crc32c of bytes 0..59
};
static_assert(sizeof(CatalogHeader) == 64, "CatalogHeader size");

// <state_dir>/<replica>.rollback: written (atomically) before a rollback changes anything and
// removed when it is complete; while it exists the rollback is resumed at every start-up.
struct IntentRecord {
	uint32_t magic;	  // kIntentMagic
	uint16_t version; // kPointVersion
	uint16_t hdr_len; // sizeof(IntentRecord)
	uint64_t point_id;
	uint64_t target_seq; // the point's batch_last_seq
	uint64_t started_ns;
	uint32_t flags;	      // kIntent*
	uint8_t reserved[24]; // 0
	uint32_t crc;	      // crc32c of bytes 0..59
};
static_assert(sizeof(IntentRecord) == 64, "IntentRecord size");
constexpr uint32_t kIntentFailover = 1u << 0; // an unplanned failover: promote once done

} // namespace cbtrep::target
