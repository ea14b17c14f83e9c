// The automatic checksum resync of cbtrepd (docs/resync.md, "In cbtrepd"): when the tracker
// says resync-required, the replication connection is finished and closed, the bitmap
// generation is cut, resync::run() compares the device with the replica through its own
// TLS connection (same certificate, same replica), and DONE(generation) tells the tracker.
// Replication then reconnects and drains the journal, which held every write made during
// the resync, starting with a CBT_WB_SEQ_JUMP batch.
#include <ctime>
#include <filesystem>

#include "common/error.h"
#include "common/log.h"
#include "daemon/replicator.h"
#include "resync/progress.h"
#include "resync/remote_peer.h"
#include "resync/resync.h"

namespace cbtrep::daemon
{

namespace
{

int64_t now_unix_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Whether local time t is inside [start, end) minutes after midnight (wrapping midnight when
// start > end); when not, *opens is the next time it opens.
bool in_window(const config::ResyncConfig &rc, std::time_t t, std::time_t *opens)
{
    std::tm tm{};
    localtime_r(&t, &tm);
    uint32_t m = uint32_t(tm.tm_hour * 60 + tm.tm_min);
    uint32_t a = rc.window_start_min, b = rc.window_end_min;
    bool in = a < b ? (m >= a && m < b) : (m >= a || m < b);
    if (!in && opens) {
        uint32_t wait_min = (a + 24 * 60 - m) % (24 * 60);
        *opens = t - tm.tm_sec + std::time_t(wait_min) * 60;
    }
    return in;
}

} // namespace

bool Replicator::resync_due()
{
    if (tracker_state_ != CBT_STATE_RESYNC_REQUIRED)
        return false;
    if (dev_.device.empty()) {
        // Nothing to read the source from: say so instead of failing over and over.
        board_.update(dev_.name, [&](DeviceStatus &s) {
            s.resync.phase = "waiting";
            s.resync.error = "no \"device\" configured to resync from";
        });
        return false;
    }
    if (!dev_.resync.windowed)
        return true;
    std::time_t opens = 0;
    if (in_window(dev_.resync, std::time(nullptr), &opens))
        return true;
    board_.update(dev_.name, [&](DeviceStatus &s) {
        if (s.resync.phase != "waiting")
            log_info(dev_.name, ": resync required (", cbt_reason_str(tracker_reason_),
                     "); waiting for its window");
        s.resync.phase = "waiting";
        s.resync.reason = cbt_reason_str(tracker_reason_);
        s.resync.window_opens_unix = int64_t(opens);
    });
    return false;
}

void Replicator::run_resync()
{
    const source::DeviceInfo &info = src_->info();
    std::string why = cbt_reason_str(tracker_reason_);
    // Changes from here on are in the journal or the new active bitmap; the frozen one (and
    // any older) is covered by the whole-device comparison, so it is done with.
    uint64_t gen = src_->bitmap_cut(done_generation_);
    done_generation_ = gen;
    log_warn(dev_.name, ": tracker says resync required (", why, "): checksum resync of ",
             dev_.device, " against ", dev_.target.host, ":", dev_.target.port, "/",
             dev_.target.replica, " after bitmap generation ", gen);
    set_state("resyncing", why);
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.resync.phase = "comparing";
        s.resync.reason = why;
        s.resync.generation = gen;
        s.resync.device_bytes = info.device_bytes;
        s.resync.done_bytes = s.resync.compared_bytes = s.resync.differing_bytes = 0;
        s.resync.sent_bytes = s.resync.wire_bytes = 0;
        s.resync.rate_bps = 0;
        s.resync.eta_seconds = -1;
        s.resync.started_unix_ns = now_unix_ns();
        s.resync.finished_unix_ns = 0;
        s.resync.window_opens_unix = 0;
        s.resync.error.clear();
    });

    resync::TargetOptions t;
    t.tls = transport::TlsConfig{cfg_.tls_ca, cfg_.tls_cert, cfg_.tls_key, dev_.target.server_name};
    t.source_name = info.name;
    t.device_id = info.device_id;
    // Nothing is in flight (stream() waited for every ACK): the journal resumes after the
    // committed sequence, also when the tracker's numbering restarted below the replica's.
    t.rebase_seq = src_->status().committed_seq;
    t.io_timeout = std::max<std::chrono::milliseconds>(cfg_.io_timeout, t.io_timeout);
    resync::RemotePeer peer({dev_.target.host, dev_.target.port, dev_.target.replica}, t);

    resync::Options o;
    o.max_rate = dev_.resync.max_rate;
    std::error_code ec;
    std::filesystem::create_directories(cfg_.state_dir, ec);
    // Survives a restart of the daemon: the next run resumes at its position.
    o.checkpoint = cfg_.state_dir + "/" + dev_.name + ".resync";
    o.reader.backend = cfg_.reader_backend;
    o.reader.queue_depth = cfg_.queue_depth;
    o.codec.compress = cfg_.compress;
    o.codec.acceleration = cfg_.lz4_acceleration;
    o.should_stop = [this] { return stop_.load(); };
    o.progress_interval = std::chrono::milliseconds(500);
    o.on_note = [this](const std::string &n) { log_info(dev_.name, ": resync: ", n); };
    o.on_progress = [this](const resync::Stats &st) {
        board_.update(dev_.name, [&](DeviceStatus &s) {
            s.resync.done_bytes = st.done_bytes;
            s.resync.compared_bytes = st.compared_bytes;
            s.resync.differing_bytes = st.differing_bytes;
            s.resync.sent_bytes = st.sent_bytes;
            s.resync.wire_bytes = st.wire_bytes;
            s.resync.rate_bps = resync::compare_rate(st);
            s.resync.eta_seconds = resync::eta_seconds(st);
            s.updated_unix_ns = now_unix_ns();
        });
    };
    resync::Result r;
    try {
        r = resync::run(dev_.device, peer, o);
    } catch (const std::exception &e) {
        board_.update(dev_.name, [&](DeviceStatus &s) {
            s.resync.phase = "interrupted";
            s.resync.error = e.what();
        });
        throw;
    }
    if (!r.complete) {
        log_info(dev_.name, ": resync stopped at byte ", r.stats.done_bytes,
                 "; the next start resumes from its checkpoint");
        board_.update(dev_.name, [&](DeviceStatus &s) { s.resync.phase = "interrupted"; });
        return;
    }
    source::ResyncReply done = src_->resync_done(gen);
    tracker_state_ = done.state;
    tracker_reason_ = done.state_reason;
    log_info(dev_.name, ": resync complete: ", resync::human_bytes(double(r.stats.compared_bytes)),
             " compared, ", resync::human_bytes(double(r.stats.differing_bytes)), " differing, ",
             resync::human_bytes(double(r.stats.sent_bytes)), " sent in ", r.stats.seconds, " s");
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.resync.phase = "done";
        s.resync.done_bytes = r.stats.done_bytes;
        s.resync.eta_seconds = 0;
        s.resync.finished_unix_ns = now_unix_ns();
        ++s.resync.completed;
        s.tracker_state = cbt_state_str(done.state);
        s.tracker_state_reason = cbt_reason_str(done.state_reason);
    });
    if (!done.cleared)
        log_warn(dev_.name, ": resync required again during the resync (",
                 cbt_reason_str(done.state_reason), "): resyncing again");
    else
        log_info(dev_.name, ": tracker cleared resync-required as of generation ", gen,
                 "; replicating the journal, replica consistent at its next tag");
    // The replica now holds the device as it was during the resync: the journal resumes with
    // a sequence jump, and nothing is consistent before the next tag of a journal batch.
    synced_ = true;
    jump_next_ = true;
    inconsistent_ = true;
}

} // namespace cbtrep::daemon
