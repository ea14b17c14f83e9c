#include "applier.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <lz4.h>

#include "common/digest.h"
#include "common/log.h"

namespace cbtrep::target
{
namespace
{

double since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t now_ns()
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

std::string hex(const uint8_t *p, size_t n)
{
    static const char *digits = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

} // namespace

Applier::Applier(ReplicaSpec spec, const std::string &state_dir, size_t stage_bytes)
    : spec_(std::move(spec)), state_dir_(state_dir),
      stage_limit_(std::max<size_t>(stage_bytes, CBT_WIRE_MAX_EXTENT))
{
}

void Applier::open(uint64_t source_bytes)
{
    if (replica_ && !needs_recovery_)
        return;
    if (!replica_) {
        uint64_t create = spec_.create_bytes         ? spec_.create_bytes
                          : spec_.create_from_source ? source_bytes
                                                     : 0;
        replica_ = std::make_unique<ReplicaFile>(spec_.path, create);
        state_file_ = std::make_unique<StateFile>(state_dir_ + "/" + spec_.name + ".state");
        undo_ = std::make_unique<UndoLog>(state_dir_ + "/" + spec_.name + ".undo");
        store_ = std::make_unique<points::Store>(state_dir_, spec_.name);
        if (!state_file_->load(state_)) {
            state_ = new_state(replica_->size());
            state_file_->save(state_);
            log_info("replica ", spec_.name, ": new, ", replica_->size(), " bytes at ", spec_.path,
                     ", id ", hex(state_.replica_id, 16));
        }
    }
    UndoLog::Recovery r;
    try {
        store_->ensure_dir();
        r = undo_->recover(*replica_, state_.applied_seq, [this](uint64_t first, uint64_t last) {
            return store_->segment_path(first, last);
        });
        // Points saved for a batch the crash kept from committing do not exist.
        std::vector<points::PointRecord> pts = store_->load_points();
        size_t n = pts.size();
        std::erase_if(pts, [&](const points::PointRecord &p) {
            return p.batch_last_seq > state_.applied_seq;
        });
        if (pts.size() != n)
            store_->save_points(pts);
    } catch (const points::StoreError &e) {
        throw Error(cat("replica ", spec_.name, ": history: ", e.what()), false);
    }
    needs_recovery_ = false;
    if (r.rolled_back)
        log_warn("replica ", spec_.name, ": rolled back uncommitted batch ", r.batch_id, " (seq ",
                 r.first_seq, "..", r.last_seq, ", ", r.records,
                 " undo records); replica is at seq ", state_.applied_seq);
    else if (r.retired)
        log_info("replica ", spec_.name, ": batch ", r.batch_id,
                 " in the undo log was already committed; kept as history");
    else if (r.found)
        log_info("replica ", spec_.name, ": batch ", r.batch_id,
                 " in the undo log was already committed; log emptied");
    std::optional<IntentRecord> intent;
    try {
        intent = store_->load_intent();
    } catch (const points::StoreError &e) {
        throw Error(cat("replica ", spec_.name, ": ", e.what()), false);
    }
    if (intent) {
        log_warn("replica ", spec_.name, ": finishing the interrupted rollback to point ",
                 intent->point_id);
        finish_rollback(*intent);
    }
    prune_history();
    log_info("replica ", spec_.name, ": applied seq ", state_.applied_seq, " (batch ",
             state_.applied_batch_id, "), consistent seq ", state_.consistent_seq);
}

void Applier::check_or_bind_device(const uint8_t (&device_id)[16])
{
    bool zero_new = cbt_wire_id_zero(device_id, 16);
    bool zero_old = cbt_wire_id_zero(state_.device_id, 16);
    if (zero_new)
        return; // source cannot tell who it is: nothing to compare
    if (zero_old) {
        std::memcpy(state_.device_id, device_id, 16);
        state_file_->save(state_);
        log_info("replica ", spec_.name, ": bound to source device ", hex(device_id, 16));
        return;
    }
    if (std::memcmp(state_.device_id, device_id, 16) != 0)
        throw ApplyError(cat("replica '", spec_.name, "' belongs to source device ",
                             hex(state_.device_id, 16), ", not ", hex(device_id, 16)),
                         CBT_WERR_IDENTITY, true);
}

void Applier::fail_io(const Error &e, const char *what)
{
    int err = e.errno_value();
    if (err == ENOSPC || err == EDQUOT)
        throw ApplyError(cat("replica '", spec_.name, "': disk full while ", what, ": ", e.what()),
                         CBT_WERR_DISK_FULL, false);
    throw ApplyError(cat("replica '", spec_.name, "': ", what, ": ", e.what()), CBT_WERR_IO, false);
}

bool Applier::begin(const cbt_wire_batch_begin &b)
{
    if (in_batch_)
        throw ApplyError("BATCH_BEGIN inside a batch", CBT_WERR_PROTOCOL, false);
    if (needs_recovery_) {
        try {
            open();
        } catch (const Error &e) {
            fail_io(e, "rolling back an earlier batch");
        }
    }
    if (state_.flags & kStateFailedOver)
        throw ApplyError(cat("replica '", spec_.name, "' was failed over at point ",
                             state_.failover_point,
                             " and is no longer a replication target (docs/points.md)"),
                         CBT_WERR_SEQUENCE, true);
    uint64_t applied = state_.applied_seq;
    duplicate_ = false;
    initial_ = (b.flags & CBT_WB_INITIAL) != 0;
    if (initial_) {
        // Copy data is about to land: from now on the replica is not at a consistent point.
        if (state_.flags & kStateConsistent) {
            StateRecord next = state_;
            next.flags &= ~kStateConsistent;
            try {
                state_file_->save(next);
            } catch (const Error &e) {
                fail_io(e, "marking the replica inconsistent for the initial copy");
            }
            state_ = next;
            log_info("replica ", spec_.name,
                     ": initial copy starts; replica inconsistent until "
                     "the next consistent batch");
        }
        if (state_.flags & kStateRolledBack)
            clear_rolled_back();
        try {
            invalidate_history("an initial copy is written without before-images");
        } catch (const Error &e) {
            fail_io(e, "dropping recovery points");
        }
    } else if (applied && b.last_seq <= applied) {
        duplicate_ = true;
    } else if (state_.flags & kStateRolledBack) {
        throw ApplyError(cat("replica '", spec_.name, "' was rolled back to tag '", state_.tag_name,
                             "' (seq ", applied,
                             ") and no longer follows its source: resync required"),
                         CBT_WERR_SEQUENCE, true);
    } else if (applied && b.first_seq <= applied) {
        throw ApplyError(cat("batch ", b.batch_id, " (seq ", b.first_seq, "..", b.last_seq,
                             ") overlaps the applied range ending at ", applied),
                         CBT_WERR_SEQUENCE, true);
    } else if (applied && b.first_seq != applied + 1 && !(b.flags & CBT_WB_SEQ_JUMP)) {
        throw ApplyError(cat("batch ", b.batch_id, " starts at seq ", b.first_seq,
                             " but the replica is at ", applied,
                             ": records are missing, resync required"),
                         CBT_WERR_SEQUENCE, true);
    }
    batch_ = b;
    in_batch_ = true;
    got_extents_ = got_tags_ = 0;
    got_bytes_ = got_payload_ = 0;
    last_tag_.reset();
    tags_.clear();
    staged_.clear();
    stage_used_ = 0;
    if (!duplicate_ && !initial_) {
        try {
            undo_->begin(b.batch_id, b.first_seq, b.last_seq);
        } catch (const Error &e) {
            in_batch_ = false;
            fail_io(e, "starting the undo log");
        }
    }
    return !duplicate_;
}

void Applier::extent(const cbt_wire_extent &e, std::span<const uint8_t> payload)
{
    if (!in_batch_)
        throw ApplyError("EXTENT outside a batch", CBT_WERR_PROTOCOL, false);
    if (e.index != got_extents_ || got_extents_ >= batch_.nr_extents)
        throw ApplyError(cat("batch ", batch_.batch_id, ": extent index ", e.index, ", expected ",
                             got_extents_, " of ", batch_.nr_extents),
                         CBT_WERR_PROTOCOL, false);
    if (e.seq && (e.seq < batch_.first_seq || e.seq > batch_.last_seq))
        throw ApplyError(cat("batch ", batch_.batch_id, ": extent seq ", e.seq, " outside ",
                             batch_.first_seq, "..", batch_.last_seq),
                         CBT_WERR_PROTOCOL, false);
    // The frame validator checked bounds against the replica already; this is the
    // applier's own guard, independent of the caller.
    if (int err =
            cbt_wire_extent_check(&e, static_cast<uint32_t>(payload.size()), replica_->size()))
        throw ApplyError(
            cat("batch ", batch_.batch_id, ": extent ", e.index, ": ", cbt_wire_err_str(err)),
            CBT_WERR_PROTOCOL, false);
    ++got_extents_;
    got_bytes_ += e.length;
    got_payload_ += payload.size();
    if (duplicate_)
        return;

    Staged s{e.offset, e.length, CBT_WE_RAW, 0};
    if (e.encoding == CBT_WE_ZERO || e.encoding == CBT_WE_DISCARD) {
        s.encoding = e.encoding;
    } else {
        if (stage_used_ + e.length > stage_limit_)
            flush();
        if (stage_.size() < stage_limit_)
            stage_.resize(stage_limit_);
        auto t0 = std::chrono::steady_clock::now();
        uint8_t *dst = stage_.data() + stage_used_;
        if (e.encoding == CBT_WE_RAW) {
            std::memcpy(dst, payload.data(), e.length);
        } else {
            int n = LZ4_decompress_safe(
                reinterpret_cast<const char *>(payload.data()), reinterpret_cast<char *>(dst),
                static_cast<int>(payload.size()), static_cast<int>(e.length));
            if (n < 0 || static_cast<uint64_t>(n) != e.length)
                throw ApplyError(cat("batch ", batch_.batch_id, ": extent ", e.index, " at ",
                                     e.offset, ": ", cbt_wire_err_str(CBT_WIRE_E_DECOMPRESS)),
                                 CBT_WERR_PROTOCOL, false);
        }
        Digest d = xxh3_128(dst, e.length);
        if (std::memcmp(d.data(), e.digest, sizeof(e.digest)) != 0)
            throw ApplyError(cat("batch ", batch_.batch_id, ": extent ", e.index, " at byte ",
                                 e.offset, " (", e.length,
                                 " bytes): ", cbt_wire_err_str(CBT_WIRE_E_DIGEST)),
                             CBT_WERR_DIGEST, false);
        s.buf_off = stage_used_;
        stage_used_ += e.length;
        stats_.decode_s += since(t0);
    }
    staged_.push_back(s);
}

void Applier::tag(const cbt_wire_tag &t)
{
    if (!in_batch_)
        throw ApplyError("TAG outside a batch", CBT_WERR_PROTOCOL, false);
    if (t.index != got_tags_ || got_tags_ >= batch_.nr_tags)
        throw ApplyError(cat("batch ", batch_.batch_id, ": tag index ", t.index, ", expected ",
                             got_tags_, " of ", batch_.nr_tags),
                         CBT_WERR_PROTOCOL, false);
    if (t.seq < batch_.first_seq || t.seq > batch_.last_seq)
        throw ApplyError(cat("batch ", batch_.batch_id, ": tag seq ", t.seq, " outside the batch"),
                         CBT_WERR_PROTOCOL, false);
    ++got_tags_;
    last_tag_ = t;
    tags_.push_back(t);
}

void Applier::flush()
{
    if (staged_.empty())
        return;
    auto t0 = std::chrono::steady_clock::now();
    // Disk full: the history yields to replication (oldest point first), then we retry.
    // Saving again what was partly saved is harmless: the first record of a range wins and
    // the replica has not changed since.
    for (;;) {
        try {
            // Old bytes first, durably; only then may the replica change. (Copy batches of
            // the initial sync write over a replica already marked inconsistent: no undo.)
            if (!initial_) {
                for (const Staged &s : staged_)
                    undo_->save(*replica_, s.offset, s.length);
                undo_->sync();
            }
            break;
        } catch (const Error &e) {
            if (!disk_full(e) || !make_room())
                fail_io(e, "saving undo data");
        }
    }
    stats_.undo_s += since(t0);
    t0 = std::chrono::steady_clock::now();
    for (;;) {
        try {
            for (const Staged &s : staged_) {
                if (s.encoding == CBT_WE_RAW)
                    replica_->write(s.offset, std::span(stage_.data() + s.buf_off, s.length));
                else
                    replica_->zero(s.offset, s.length, s.encoding == CBT_WE_DISCARD);
            }
            break;
        } catch (const Error &e) {
            // Writing the staged extents again, in order, gives the same result.
            if (!disk_full(e) || !make_room())
                fail_io(e, "writing");
        }
    }
    stats_.write_s += since(t0);
    staged_.clear();
    stage_used_ = 0;
}

cbt_wire_ack Applier::end(const cbt_wire_batch_end &e)
{
    if (!in_batch_)
        throw ApplyError("BATCH_END outside a batch", CBT_WERR_PROTOCOL, false);
    if (e.batch_id != batch_.batch_id || e.nr_extents != got_extents_ ||
        got_extents_ != batch_.nr_extents || e.nr_tags != got_tags_ ||
        got_tags_ != batch_.nr_tags || e.total_bytes != got_bytes_ ||
        got_bytes_ != batch_.total_bytes || e.payload_bytes != got_payload_)
        throw ApplyError(cat("batch ", batch_.batch_id, ": ", cbt_wire_err_str(CBT_WIRE_E_TOTALS),
                             " (extents ", got_extents_, "/", batch_.nr_extents, "/", e.nr_extents,
                             ", tags ", got_tags_, "/", batch_.nr_tags, "/", e.nr_tags, ", bytes ",
                             got_bytes_, "/", batch_.total_bytes, "/", e.total_bytes, ")"),
                         CBT_WERR_PROTOCOL, false);
    cbt_wire_ack ack{};
    ack.batch_id = batch_.batch_id;
    if (duplicate_) {
        in_batch_ = false;
        ack.last_seq = state_.applied_seq;
        ack.flags = CBT_WA_DUPLICATE;
        ack.applied_ns = state_.commit_ns;
        return ack;
    }
    flush();
    auto t0 = std::chrono::steady_clock::now();
    try {
        replica_->sync();
    } catch (const Error &e2) {
        fail_io(e2, "syncing");
    }
    stats_.sync_s += since(t0);
    t0 = std::chrono::steady_clock::now();
    ack.last_seq = batch_.last_seq;
    ack.applied_ns = now_ns();
    commit(ack);
    stats_.commit_s += since(t0);
    stats_.batches++;
    stats_.bytes += got_bytes_;
    return ack;
}

void Applier::commit(const cbt_wire_ack &ack)
{
    StateRecord next = state_;
    if (!initial_) {
        next.applied_seq = batch_.last_seq;
        next.applied_batch_id = batch_.batch_id;
    } else {
        // A copy batch's first_seq is where the source's journal resumes: the replica now
        // follows that numbering, whatever it applied before (docs/protocol.md).
        next.applied_seq = batch_.first_seq - 1;
        next.applied_batch_id = next.applied_seq ? batch_.batch_id : 0;
    }
    next.commit_ns = ack.applied_ns;
    next.batches++;
    next.bytes += got_bytes_;
    if (initial_) {
        next.flags &= ~kStateConsistent;
    } else if (batch_.flags & CBT_WB_CONSISTENT) {
        next.consistent_seq = batch_.last_seq;
        next.consistent_batch_id = batch_.batch_id;
        next.flags |= kStateConsistent;
    } else {
        next.flags &= ~kStateConsistent;
    }
    // A tag in a consistent batch is a recovery point. The catalog is saved before the state
    // file, so a point never names a batch the history does not keep; open() drops points
    // of a batch that did not commit.
    if (!initial_ && !tags_.empty() && (next.flags & kStateConsistent)) {
        try {
            std::vector<points::PointRecord> pts = store_->load_points();
            for (const cbt_wire_tag &t : tags_) {
                points::PointRecord p{};
                p.id = t.seq;
                p.tag_id = t.tag_id;
                p.tag_ns = t.timestamp_ns;
                p.reached_ns = ack.applied_ns;
                p.batch_id = batch_.batch_id;
                p.batch_last_seq = batch_.last_seq;
                p.tag_flags = t.flags;
                p.flags = (t.flags & CBT_TAG_APP_CONSISTENT) ? target::kPointApp : 0;
                std::memcpy(p.name, t.name, sizeof(p.name));
                p.name[sizeof(p.name) - 1] = 0;
                pts.push_back(p);
            }
            store_->save_points(pts);
        } catch (const std::exception &e) {
            throw ApplyError(cat("replica '", spec_.name, "': saving recovery points: ", e.what()),
                             CBT_WERR_IO, false);
        }
    }
    if (last_tag_) {
        next.tag_id = last_tag_->tag_id;
        next.tag_ns = last_tag_->timestamp_ns;
        next.tag_seq = last_tag_->seq;
        next.tag_flags = last_tag_->flags;
        std::memcpy(next.tag_name, last_tag_->name, sizeof(next.tag_name));
    }
    try {
        state_file_->save(next);
    } catch (const Error &e) {
        fail_io(e, "committing the state file");
    }
    // Committed: from here on a crash keeps this batch (recovery sees applied_seq).
    state_ = next;
    in_batch_ = false;
    keep_history();
    if (last_tag_)
        log_info(
            "replica ", spec_.name, ": reached tag '", last_tag_->name, "' (id ", last_tag_->tag_id,
            last_tag_->flags & CBT_TAG_APP_CONSISTENT ? ", app-consistent)" : ", crash-consistent)",
            " at seq ", last_tag_->seq);
}

void Applier::keep_history() noexcept
{
    // Before-images serve only points older than the batch: with none, nothing to keep.
    bool any_points = false;
    try {
        any_points = !store_->load_points().empty();
    } catch (const std::exception &e) {
        log_warn("replica ", spec_.name, ": ", e.what());
    }
    if (initial_ || !undo_->has_records() || !any_points) {
        try {
            undo_->clear();
        } catch (const Error &e) {
            log_warn("replica ", spec_.name, ": ", e.what(),
                     " (harmless: batch already committed)");
        }
        return;
    }
    try {
        undo_->retire(store_->segment_path(batch_.first_seq, batch_.last_seq));
    } catch (const std::exception &e) {
        // Without this batch's before-images no older point can be rebuilt.
        log_error("replica ", spec_.name, ": keeping batch ", batch_.batch_id,
                  " as history failed: ", e.what());
        invalidate_history("a batch's before-images could not be kept");
        try {
            undo_->clear();
        } catch (const Error &e2) {
            log_warn("replica ", spec_.name, ": ", e2.what());
        }
        return;
    }
    prune_history();
}

void Applier::prune_history() noexcept
{
    try {
        points::StoreLock lk = store_->lock(false);
        if (!lk.held())
            return; // an operator command holds it; next batch prunes
        points::PruneResult r = points::prune(*store_, spec_.retention, points::wall_ns());
        if (r.points)
            log_info("replica ", spec_.name, ": retention pruned ", r.points, " points, ",
                     r.segments, " history segments (", r.bytes, " bytes)");
        // Said once per held point, not after every batch.
        uint64_t held = r.stopped_at_hold.value_or(0);
        if (held && held != hold_logged_)
            log_warn("replica ", spec_.name, ": retention stopped at point ", held,
                     " (in use): history kept past the bound until it is released");
        hold_logged_ = held;
    } catch (const std::exception &e) {
        log_warn("replica ", spec_.name, ": pruning history: ", e.what());
    }
}

bool Applier::disk_full(const Error &e) noexcept
{
    return e.errno_value() == ENOSPC || e.errno_value() == EDQUOT;
}

bool Applier::make_room() noexcept
{
    try {
        points::StoreLock lk = store_->lock(true);
        points::PruneResult r = points::drop_oldest(*store_);
        if (!r.bytes)
            return false;
        log_warn("replica ", spec_.name, ": disk full: dropped ", r.points,
                 " oldest recovery point(s) and ", r.bytes, " bytes of history to make room");
        return true;
    } catch (const std::exception &e) {
        log_warn("replica ", spec_.name, ": making room in the history: ", e.what());
        return false;
    }
}

void Applier::clear_rolled_back()
{
    StateRecord next = state_;
    next.flags &= ~kStateRolledBack;
    state_file_->save(next);
    state_ = next;
    log_info("replica ", spec_.name, ": being copied from its source again after a rollback");
}

void Applier::prepare_resync(std::optional<uint64_t> rebase_seq)
{
    // A failed-over replica is a primary: a resync from its old source (say cbtrepd's
    // automatic one when the old site comes back) would overwrite what was written since.
    // `cbtrep failback` demotes it first (docs/points.md, "Reverse replication and failback").
    if (state_.flags & kStateFailedOver)
        throw ApplyError(cat("replica '", spec_.name, "' was failed over at point ",
                             state_.failover_point,
                             " and is a primary now: a resync would overwrite it"),
                         CBT_WERR_SEQUENCE, true);
    invalidate_history("a resync writes the replica without before-images");
    if (state_.flags & kStateRolledBack)
        clear_rolled_back();
    // Resync writes land in offset order, not write order: the replica is not at a consistent
    // point until the resync has finished and a consistent batch of the journal catch-up is
    // committed (commit() sets the flag again). Marked before the first byte is written.
    // A rebase goes in the same update: once the resync has run, what the replica holds is
    // the source's device, and the source's journal resumes after rebase_seq, whatever
    // numbering the replica followed before (a tracker that lost its metadata starts at 1).
    bool rebase = rebase_seq && *rebase_seq != state_.applied_seq;
    if ((state_.flags & kStateConsistent) || rebase) {
        StateRecord next = state_;
        next.flags &= ~kStateConsistent;
        if (rebase) {
            next.applied_seq = *rebase_seq;
            // No batch of the source's numbering was applied here: a copy-style id (top
            // bit set, never a tracker's), nonzero because applied_seq is (HELLO_OK).
            next.applied_batch_id = next.applied_seq ? 1ull << 63 : 0;
        }
        state_file_->save(next);
        if (rebase)
            log_warn("replica ", spec_.name, ": resync rebases the sequence from ",
                     state_.applied_seq, " to ", next.applied_seq,
                     ": the source's journal resumes after it");
        if (state_.flags & kStateConsistent)
            log_info("replica ", spec_.name,
                     ": resync starts; replica inconsistent until the next consistent batch");
        state_ = next;
    }
}

void Applier::invalidate_history(const std::string &why)
{
    try {
        if (store_->load_points().empty() && store_->segments().empty())
            return;
        points::StoreLock lk = store_->lock(true);
        store_->reset();
        log_warn("replica ", spec_.name, ": all recovery points dropped: ", why);
    } catch (const std::exception &e) {
        throw Error(cat("replica ", spec_.name, ": dropping the history (", why, "): ", e.what()),
                    false);
    }
}

void Applier::abort() noexcept
{
    if (!in_batch_)
        return;
    in_batch_ = false;
    staged_.clear();
    stage_used_ = 0;
    if (duplicate_)
        return;
    if (initial_) {
        log_warn("replica ", spec_.name, ": initial copy batch ", batch_.batch_id,
                 " abandoned, possibly half written; the replica stays marked inconsistent "
                 "until the copy is sent again");
        return;
    }
    try {
        size_t n = undo_->rollback(*replica_);
        log_warn("replica ", spec_.name, ": batch ", batch_.batch_id, " abandoned, ", n,
                 " undo records played back; replica stays at seq ", state_.applied_seq);
    } catch (const std::exception &e) {
        // The undo log is still on disk: recovery runs again before the next batch.
        needs_recovery_ = true;
        log_error("replica ", spec_.name, ": rolling back batch ", batch_.batch_id,
                  " failed: ", e.what(), "; will retry before the next batch");
    }
}

} // namespace cbtrep::target
