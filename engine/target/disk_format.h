// On-disk formats private to cbtrep-target: the replica state file and the undo log.
// Same conventions as include/cbtrep (fixed-width LE fields, size asserts, magic, version,
// CRC32C); they never cross the wire, so they live here. docs/protocol.md ("Target
// durability") describes them.
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

// <state_dir>/<replica>.state, replaced atomically (write temp, fsync, rename, fsync dir).
struct StateRecord {
    uint32_t magic;            // kStateMagic
    uint16_t version;          // kStateVersion
    uint16_t hdr_len;          // sizeof(StateRecord)
    uint8_t replica_id[16];    // random at creation, never changes
    uint8_t device_id[16];     // source device bound at first HELLO, zero = unbound
    uint64_t replica_bytes;    // size when the state was written
    uint64_t applied_seq;      // last seq durably applied (0 = none)
    uint64_t applied_batch_id; // its batch
    uint64_t consistent_seq;   // last seq at a consistent point
    uint64_t consistent_batch_id;
    uint64_t commit_ns; // when the last batch was committed
    uint64_t batches;   // batches applied since creation
    uint64_t bytes;     // decoded bytes applied since creation
    uint64_t tag_id;    // last tag reached (0 = none)
    uint64_t tag_ns;
    uint64_t tag_seq;
    uint32_t tag_flags; // CBT_TAG_*
    uint32_t flags;     // kState*
    char tag_name[CBT_TAG_NAME_LEN];
    uint8_t reserved[52]; // 0
    uint32_t crc;         // crc32c of bytes 0..251
};
static_assert(sizeof(StateRecord) == 256, "StateRecord size");
static_assert(offsetof(StateRecord, tag_name) == 136, "StateRecord.tag_name offset");

enum UndoType : uint16_t {
    kUndoBegin = 1, // a batch starts: batch_id, first_seq, last_seq
    kUndoData = 2,  // data_len old bytes of [offset, offset + length) follow
    kUndoZero = 3,  // [offset, offset + length) read back as zeroes before the batch
};

// <state_dir>/<replica>.undo: records back to back, each 64 bytes plus data_len bytes. Only
// the batch named by the first (BEGIN) record is in it; records of another batch or with a
// bad CRC end it (they were never synced, so the replica was never written under them).
struct UndoRecord {
    uint32_t magic;    // kUndoMagic
    uint16_t version;  // kUndoVersion
    uint16_t type;     // UndoType
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

} // namespace cbtrep::target
