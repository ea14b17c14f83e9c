// The undo log keeps the replica at its last consistent point while a batch is half
// applied: before a range is overwritten, its old bytes (or "was zero") are appended and
// synced; after the batch is durable and committed in the state file, the log is emptied.
// After a crash, a log whose batch was not committed is played backwards onto the replica.
//
// Records carry the batch id and sequence range (disk_format.h), so a later retention
// feature can keep per-batch undo records instead of discarding them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "target/disk_format.h"
#include "target/replica_file.h"

namespace cbtrep::target
{

class UndoLog
{
  public:
    explicit UndoLog(std::string path);
    const std::string &path() const noexcept { return path_; }

    struct Recovery {
        bool found = false;       // the log named a batch
        bool rolled_back = false; // ... that was not committed, and was undone
        uint64_t batch_id = 0, first_seq = 0, last_seq = 0;
        size_t records = 0; // undo records applied
    };
    // Start-up: undoes an uncommitted batch (its last_seq > applied_seq), then empties the log.
    Recovery recover(ReplicaFile &replica, uint64_t applied_seq);

    // Starts a batch: empties the log and writes its BEGIN record (not yet synced).
    void begin(uint64_t batch_id, uint64_t first_seq, uint64_t last_seq);
    // Appends the current content of [offset, offset+length) of the replica.
    void save(ReplicaFile &replica, uint64_t offset, uint64_t length);
    // Makes everything appended so far durable; call before writing the replica.
    void sync();
    // Undoes the current batch on the replica (newest record first), syncs it, empties the log.
    size_t rollback(ReplicaFile &replica);
    // The batch is committed: forget it.
    void clear();
    bool active() const noexcept { return active_; }
    uint64_t bytes() const noexcept { return end_; }

  private:
    struct Entry {
        uint64_t file_off; // where the record header is in the log
        UndoRecord rec;
    };
    void append(UndoRecord &rec, const uint8_t *data);
    size_t play_back(ReplicaFile &replica, const std::vector<Entry> &entries);
    void truncate();

    std::string path_;
    UniqueFd fd_;
    uint64_t end_ = 0;
    bool active_ = false;
    UndoRecord batch_{};
    std::vector<Entry> entries_;
    std::vector<uint8_t> buf_;
};

} // namespace cbtrep::target
