// Applies batches to one replica in sequence order, durably, never leaving a half-applied
// batch visible after a crash:
//
//   begin   sequence check (duplicate → acknowledged without applying; gap → fatal),
//           undo log BEGIN
//   extent  decoded (lz4) into a bounded staging buffer, digest checked, then staged;
//           a full buffer is flushed: undo records of the old bytes, undo fdatasync,
//           then the replica writes (pwrite, in order, so overlapping extents keep
//           journal order)
//   end     totals cross-checked, flush, replica fdatasync, state file committed
//           (atomic rename), undo log emptied → the ACK may be sent
//   abort   any failure: the undo log is played backwards, the replica is back where
//           the last committed batch left it
//
// Every check that needs no replica I/O happens before the extent touches anything.
//
// INITIAL batches (the initial full copy, CBT_WB_INITIAL) are the exception to ordering:
// they carry no journal records, are applied whatever their sequence numbers, never count
// as duplicates and do not move applied_seq. The replica is not consistent while a copy is
// under way, so before the first copy byte is written the state file says so, and copy
// batches are written without undo records (a half-applied copy batch is simply sent again).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <cbtrep/wire.h>

#include "common/error.h"
#include "points/store.h"
#include "target/replica_file.h"
#include "target/state_file.h"
#include "target/undo_log.h"

namespace cbtrep::target
{

// A failure to report to the client as an ERROR frame.
class ApplyError : public Error
{
  public:
    ApplyError(const std::string &what, uint32_t code, bool fatal)
        : Error(what, !fatal), code_(code)
    {
    }
    uint32_t code() const noexcept { return code_; } // enum cbt_wire_error_code

  private:
    uint32_t code_;
};

struct ReplicaSpec {
    std::string name;
    std::string path;
    uint64_t create_bytes = 0;                // create a sparse image of this size if absent
    bool create_from_source = false;          // ... or of the source's size at first HELLO
    std::vector<std::string> allowed_clients; // certificate CN/SAN names; "*" = any
    points::Retention retention;              // of the recovery points (docs/points.md)
};

// Where apply time goes (seconds), for the engine benchmark's per-stage breakdown.
struct ApplyStats {
    uint64_t batches = 0;
    uint64_t bytes = 0;  // decoded bytes applied
    double decode_s = 0; // lz4 decode + digest check
    double undo_s = 0;   // reading old bytes, writing and syncing the undo log
    double write_s = 0;  // replica writes and zeroing
    double sync_s = 0;   // replica fdatasync at batch end
    double commit_s = 0; // state file replace + undo log reset
};

class Applier
{
  public:
    Applier(ReplicaSpec spec, const std::string &state_dir, size_t stage_bytes = 16u << 20);

    const ReplicaSpec &spec() const noexcept { return spec_; }
    bool is_open() const noexcept { return replica_ != nullptr; }
    // Opens the replica (creating it with create_bytes, or with source_bytes when
    // create_from_source), loads or creates the state, and rolls back an uncommitted batch
    // left in the undo log.
    void open(uint64_t source_bytes = 0);
    const StateRecord &state() const noexcept { return state_; }
    uint64_t replica_bytes() const noexcept { return replica_ ? replica_->size() : 0; }
    // Binds the replica to a source device identity (first HELLO) or checks it matches.
    void check_or_bind_device(const uint8_t (&device_id)[16]);

    // Returns false when the batch was applied before (acknowledge, do not apply).
    bool begin(const cbt_wire_batch_begin &b);
    void extent(const cbt_wire_extent &e, std::span<const uint8_t> payload);
    void tag(const cbt_wire_tag &t);
    cbt_wire_ack end(const cbt_wire_batch_end &e);
    // Rolls back the batch in progress, if any. Never throws; logs instead.
    void abort() noexcept;

    // Recovery points (docs/points.md). The history is kept by commit(); these are for the
    // operator's commands and for writers that bypass the undo log.
    const points::Store &store() const noexcept { return *store_; }
    // Plays the history back, newest batch first, until the replica is at the point; crash
    // safe (an intent file makes open() finish it). Needs open(), outside a batch.
    // intent_flags kIntentFailover: an unplanned failover, the replica is promoted at the
    // point once the rollback is done (also when open() finishes it after a crash).
    void rollback_to(uint64_t point_id, uint32_t intent_flags = 0);
    // Planned failover: the replica is at its newest point already (nothing applied after
    // the final tag); it is promoted there without a rollback.
    void promote_at_newest();
    // Commits a failover: the other points and their history are dropped.
    void commit_failover();
    // The replica is about to be written without before-images (initial copy, resync):
    // no point can be reconstructed any more.
    void invalidate_history(const std::string &why);
    // A resync (not a verify) is about to write the replica: drops the history and the
    // rolled-back mark (the resync makes the replica follow its source again). With
    // rebase_seq (CBT_WRS_REBASE) applied_seq becomes that, in the same state-file update.
    void prepare_resync(std::optional<uint64_t> rebase_seq = std::nullopt);
    // Applies the retention policy now.
    void prune_history() noexcept;
    bool in_batch() const noexcept { return in_batch_; }
    // Counters since the last call; resets them.
    ApplyStats take_stats() noexcept { return std::exchange(stats_, ApplyStats{}); }

  private:
    struct Staged {
        uint64_t offset;
        uint64_t length;
        uint16_t encoding; // RAW (bytes in stage_) or ZERO/DISCARD
        size_t buf_off;
    };
    void flush();
    void commit(const cbt_wire_ack &ack);
    void keep_history() noexcept;
    void clear_rolled_back();
    static bool disk_full(const Error &e) noexcept;
    // Disk full: drops the oldest unheld point and the history only it needed; false when
    // nothing could be freed.
    bool make_room() noexcept;
    void finish_rollback(const IntentRecord &intent);
    [[noreturn]] void fail_io(const Error &e, const char *what);

    ReplicaSpec spec_;
    std::string state_dir_;
    size_t stage_limit_;
    std::unique_ptr<ReplicaFile> replica_;
    std::unique_ptr<UndoLog> undo_;
    std::unique_ptr<StateFile> state_file_;
    std::unique_ptr<points::Store> store_;
    uint64_t hold_logged_ = 0; // the held point retention last stopped at (logged once)
    StateRecord state_{};
    bool needs_recovery_ = false;

    bool in_batch_ = false;
    bool duplicate_ = false;
    bool initial_ = false;
    cbt_wire_batch_begin batch_{};
    uint32_t got_extents_ = 0, got_tags_ = 0;
    uint64_t got_bytes_ = 0, got_payload_ = 0;
    std::optional<cbt_wire_tag> last_tag_;
    std::vector<cbt_wire_tag> tags_;
    std::vector<uint8_t> stage_;
    size_t stage_used_ = 0;
    std::vector<Staged> staged_;
    ApplyStats stats_;
};

} // namespace cbtrep::target
