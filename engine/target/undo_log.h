// The undo log keeps the replica at its last consistent point while a batch is half
// applied: before a range is overwritten, its old bytes (or "was zero") are appended and
// synced; after the batch is durable and committed in the state file, the log is emptied.
// After a crash, a log whose batch was not committed is played backwards onto the replica.
//
// The log of a committed batch is kept as history (docs/points.md): retire() renames it into
// the history directory instead of emptying it, so the before-images cost no second write.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <cbtrep/replica_store.h>

#include "common/fd.h"
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
        size_t records = 0;   // undo records applied
        bool retired = false; // a committed batch's log was moved into the history
    };
    // Where the log of a committed batch goes (its BEGIN record's seq range); empty = nowhere.
    using RetireTo = std::function<std::string(uint64_t first_seq, uint64_t last_seq)>;
    // Start-up: undoes an uncommitted batch (its last_seq > applied_seq), then empties the log.
    // A committed batch's log (a crash after the state file, before retire) is retired to
    // retire_to() when given and it holds before-images.
    Recovery recover(ReplicaFile &replica, uint64_t applied_seq, const RetireTo &retire_to = {});

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
    // The batch is committed: move its log (synced) to dest and start an empty one.
    void retire(const std::string &dest);
    // More than the BEGIN record: the batch saved before-images.
    bool has_records() const noexcept { return entries_.size() > 1; }
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
