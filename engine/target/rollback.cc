// Applier::rollback_to(): puts the replica back at a retained recovery point by playing the
// history segments newer than the point backwards (newest batch first, within a batch newest
// record first). Crash safety: an intent file is written before anything changes, each
// segment is removed only after its before-images are on the replica and synced (so the
// set of remaining segments is the progress), and open() finishes an intent it finds.
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/log.h"
#include "points/segment.h"
#include "target/applier.h"

namespace cbtrep::target
{

void Applier::rollback_to(uint64_t point_id, uint32_t intent_flags)
{
    if (!replica_ || in_batch_)
        throw Error(
            cat("replica ", spec_.name, ": rollback needs an open replica, outside a batch"),
            false);
    if (state_.flags & kStateFailedOver)
        throw Error(cat("replica ", spec_.name, " is in state ",
                        state_.flags & kStateCommitted ? "committed" : "failed-over",
                        " (promoted at point ", state_.failover_point,
                        "): it may have been written since, its history no longer applies"),
                    false);
    try {
        std::optional<points::PointRecord> p = store_->find_point(point_id);
        if (!p)
            throw Error(cat("replica ", spec_.name, ": point ", point_id,
                            " is not retained (see `cbtrep points list ", spec_.name, "`)"),
                        false);
        if (p->batch_last_seq > state_.applied_seq)
            throw Error(cat("replica ", spec_.name, ": point ", point_id, " (seq ",
                            p->batch_last_seq, ") is ahead of the replica (seq ",
                            state_.applied_seq, "): the catalog does not match the state file"),
                        false);
        points::StoreLock lk = store_->lock(true);
        for (uint64_t h : store_->holds())
            if (h >= point_id)
                throw Error(cat("replica ", spec_.name, ": point ", h,
                                " is in use by a test failover; rolling back to point ", point_id,
                                " would remove what it reads (run `cbtrep failover "
                                "--test-cleanup ",
                                spec_.name, "` first)"),
                            false);
        IntentRecord intent{};
        intent.point_id = point_id;
        intent.target_seq = p->batch_last_seq;
        intent.started_ns = points::wall_ns();
        intent.flags = intent_flags;
        store_->save_intent(intent);
        finish_rollback(intent);
    } catch (const points::StoreError &e) {
        throw Error(cat("replica ", spec_.name, ": rollback: ", e.what()), false);
    }
}

void Applier::finish_rollback(const IntentRecord &intent)
{
    const uint64_t target_seq = intent.target_seq;
    std::optional<points::PointRecord> point;
    std::vector<points::PointRecord> pts = store_->load_points();
    for (const points::PointRecord &p : pts)
        if (p.id == intent.point_id)
            point = p;
    if (!point)
        throw Error(cat("replica ", spec_.name, ": rollback intent names point ", intent.point_id,
                        ", which is not in the catalog"),
                    false);
    std::vector<points::Segment> segs = store_->segments();
    // Every segment to play is checked in full (headers, bounds, data CRCs) before anything
    // changes: a corrupt history stops the rollback with the replica and catalog untouched.
    for (auto it = segs.rbegin(); it != segs.rend() && it->first_seq > target_seq; ++it) {
        UniqueFd fd(::open(it->path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            throw_errno(cat("opening history segment ", it->path));
        points::scan_undo(fd.get(), it->path, replica_->size(), true, true);
    }
    // Points after the target cannot be reached once their history is played back.
    std::erase_if(pts, [&](const points::PointRecord &p) { return p.id > intent.point_id; });
    store_->save_points(pts);

    size_t played = 0, records = 0;
    std::vector<uint8_t> buf;
    const char *pause = std::getenv("CBTREP_TEST_ROLLBACK_PAUSE_MS"); // tests: a window to kill
    // Played segments are removed in groups, after one replica sync, newest first: the
    // segments left are always the oldest ones, and playing them all again newest first
    // from whatever the replica holds still ends at the point (each byte ends with the
    // before-image of the oldest segment covering it).
    constexpr size_t kSyncGroup = 8;
    std::vector<points::Segment> done;
    auto retire_played = [&] {
        if (done.empty())
            return;
        replica_->sync();
        for (const points::Segment &s : done)
            store_->remove_segment(s);
        points::fsync_dir(store_->dir());
        done.clear();
    };
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->first_seq <= target_seq)
            break;
        UniqueFd fd(::open(it->path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            throw_errno(cat("opening history segment ", it->path));
        points::SegmentScan scan =
            points::scan_undo(fd.get(), it->path, replica_->size(), true, false);
        for (auto e = scan.entries.rbegin(); e != scan.entries.rend(); ++e) {
            if (e->rec.type == kUndoZero) {
                replica_->zero(e->rec.offset, e->rec.length, false);
            } else {
                points::read_undo_data(fd.get(), it->path, *e, buf);
                replica_->write(e->rec.offset, buf);
            }
            ++records;
        }
        done.push_back(*it);
        ++played;
        if (done.size() == kSyncGroup)
            retire_played();
        if (pause)
            ::usleep(static_cast<useconds_t>(std::atoi(pause)) * 1000);
    }
    retire_played();
    StateRecord next = state_;
    next.applied_seq = target_seq;
    next.applied_batch_id = point->batch_id;
    next.consistent_seq = target_seq;
    next.consistent_batch_id = point->batch_id;
    next.flags |= kStateConsistent | kStateRolledBack;
    if (intent.flags & kIntentFailover) {
        next.flags |= kStateFailedOver;
        next.failover_point = point->id;
    }
    next.tag_id = point->tag_id;
    next.tag_ns = point->tag_ns;
    next.tag_seq = point->id;
    next.tag_flags = point->tag_flags;
    std::memcpy(next.tag_name, point->name, sizeof(next.tag_name));
    state_file_->save(next);
    state_ = next;
    store_->remove_intent();
    log_warn("replica ", spec_.name, ": rolled back to point ", point->id, " '", point->name,
             "' (seq ", target_seq, "): ", played, " batches, ", records,
             " undo records played back; the source must be resynced before replication "
             "resumes");
    if (intent.flags & kIntentFailover)
        log_warn("replica ", spec_.name, ": failed over (unplanned) at point ", point->id,
                 "; it takes no more batches from its source");
}

void Applier::promote_at_newest()
{
    if (state_.flags & kStateFailedOver)
        throw Error(
            cat("replica ", spec_.name, " is already failed over at point ", state_.failover_point),
            false);
    std::vector<points::PointRecord> pts = store_->load_points();
    if (pts.empty() || pts.back().batch_last_seq != state_.applied_seq)
        throw Error(cat("replica ", spec_.name, " is at seq ", state_.applied_seq,
                        pts.empty() ? std::string(", and has no recovery point")
                                    : cat(", past its newest point ", pts.back().id, " (seq ",
                                          pts.back().batch_last_seq, ")"),
                        ": a planned failover needs a final tag from the source, replicated "
                        "with nothing after it (or use --unplanned)"),
                    false);
    StateRecord next = state_;
    next.flags |= kStateFailedOver;
    next.failover_point = pts.back().id;
    state_file_->save(next);
    state_ = next;
    log_warn("replica ", spec_.name, ": failed over (planned) at point ", pts.back().id,
             "; it takes no more batches from its source");
}

void Applier::commit_failover()
{
    if (!(state_.flags & kStateFailedOver))
        throw Error(
            cat("replica ", spec_.name, " is not failed over: there is no failover to commit"),
            false);
    if (state_.flags & kStateCommitted)
        throw Error(cat("replica ", spec_.name, ": the failover at point ", state_.failover_point,
                        " is already committed"),
                    false);
    {
        points::StoreLock lk = store_->lock(true);
        store_->reset();
    }
    StateRecord next = state_;
    next.flags |= kStateCommitted;
    state_file_->save(next);
    state_ = next;
    log_warn("replica ", spec_.name, ": failover at point ", state_.failover_point,
             " committed; the other recovery points are gone");
}

} // namespace cbtrep::target
