#include "replicator.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <cbtrep/wire.h>

#include "common/error.h"
#include "common/log.h"
#include "source/file_source.h"
#include "source/kernel_source.h"
#include "spool/spool_source.h"

namespace cbtrep::daemon
{

namespace
{
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A failure of this side (prepare, read, source) that retrying cannot fix.
class LocalFatal : public Error
{
  public:
    explicit LocalFatal(const std::string &what) : Error(what, false) {}
};

int64_t unix_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Device bytes a batch will hold once prepared: its own bytes plus every range read
// from the device. Reserved against max_inflight_bytes until the batch is acknowledged.
uint64_t estimate_bytes(const source::Batch &b, const source::Bitmap *bm)
{
    uint64_t n = b.size_bytes();
    for (const auto &r : b.records())
        if ((r.hdr.type == CBT_REC_WRITE && !(r.hdr.flags & CBT_RF_HAS_DATA)) ||
            r.hdr.type == CBT_REC_DIRTY)
            n += r.length_bytes();
    if (bm)
        n += bm->count() * bm->granularity;
    return n;
}
} // namespace

Replicator::Replicator(const config::Config &cfg, const config::DeviceConfig &dev,
                       StatusBoard &board, const std::atomic<bool> &stop)
    : cfg_(cfg), dev_(dev), board_(board), stop_(stop),
      backoff_(BackoffPolicy{cfg.retry.steps, cfg.retry.steady, cfg.retry.jitter})
{
}

void Replicator::set_state(const std::string &state, const std::string &reason)
{
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.state = state;
        s.reason = reason;
        if (state != "retrying")
            s.next_attempt_unix = 0;
        s.updated_unix_ns = unix_ns();
    });
}

std::unique_ptr<source::Source> Replicator::open_source()
{
    std::unique_ptr<source::Source> src;
    if (dev_.source.type == "kernel") {
        src = std::make_unique<source::KernelSource>(dev_.name, dev_.source.ctl);
    } else {
        source::FileSourceOptions o;
        o.stream_path = dev_.source.path;
        o.cursor_path = dev_.source.cursor;
        o.bitmap_dir = dev_.source.bitmap_dir;
        o.follow = dev_.source.follow;
        src = std::make_unique<source::FileSource>(o);
    }
    if (dev_.spool.dir.empty())
        return src;
    // The spool drains the source at disk speed and the sender ships from it (issue 9).
    spool::SpoolOptions so;
    so.dir = dev_.spool.dir;
    so.limit_pct = dev_.spool.limit_pct;
    so.limit_bytes = dev_.spool.limit_bytes;
    so.reserve_bytes = dev_.spool.reserve_bytes;
    so.segment_bytes = dev_.spool.segment_bytes;
    return std::make_unique<spool::SpoolSource>(std::move(src), std::move(so));
}

std::unique_ptr<transport::ReplicaSession> Replicator::connect()
{
    transport::TlsConfig tls{cfg_.tls_ca, cfg_.tls_cert, cfg_.tls_key, dev_.target.server_name};
    transport::SourceIdentity id;
    id.replica = dev_.target.replica;
    id.device_id = src_->info().device_id;
    id.device_bytes = src_->info().device_bytes;
    id.granularity = src_->info().granularity;
    id.source_name = src_->info().name;
    transport::SessionOptions so;
    so.window = cfg_.window;
    so.io_timeout = cfg_.io_timeout;
    auto s = transport::ReplicaSession::connect(dev_.target.host, dev_.target.port, tls, id, so);
    const auto &r = s->replica();
    // The target refuses a mismatch itself (CBT_WERR_IDENTITY); checking here too means an
    // old or misconfigured target can never receive a byte of the wrong device.
    bool src_known = id.device_id != std::array<uint8_t, 16>{};
    bool dst_known = r.device_id != std::array<uint8_t, 16>{};
    if (src_known && dst_known && r.device_id != id.device_id)
        throw Error(cat("replica '", id.replica, "' on ", dev_.target.host, ":", dev_.target.port,
                        " is bound to another source device (identity mismatch)"),
                    false);
    if (r.replica_bytes < id.device_bytes)
        throw Error(cat("replica '", id.replica, "' has ", r.replica_bytes,
                        " bytes, smaller than the source (", id.device_bytes, ")"),
                    false);
    log_info(dev_.name, ": connected to ", dev_.target.host, ":", dev_.target.port, " replica '",
             id.replica, "', applied seq ", r.applied_seq,
             (r.flags & CBT_WHO_NEW_REPLICA) ? " (new replica)" : "", ", window ", s->window());
    return s;
}

int Replicator::run()
{
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.target = cat(dev_.target.host, ":", dev_.target.port, "/", dev_.target.replica);
    });
    try {
        src_ = open_source();
        codec::Options co;
        co.chunk_bytes = cfg_.chunk_bytes;
        co.compress = cfg_.compress;
        co.acceleration = cfg_.lz4_acceleration;
        PrepareOptions po;
        po.codec = co;
        po.reader.backend = cfg_.reader_backend;
        po.reader.queue_depth = cfg_.queue_depth;
        po.reader.direct = cfg_.direct_io;
        po.device = dev_.device;
        pool_ = std::make_unique<PrepPool>(cfg_.threads, po);
        if (!dev_.device.empty()) {
            // Probe the device now, so the log says which reader runs before any data moves.
            reader::Selection sel = reader::open_reader(dev_.device, po.reader);
            for (const auto &n : sel.notes)
                log_info(dev_.name, ": ", n);
            board_.update(dev_.name, [&](DeviceStatus &s) {
                s.reader = reader::backend_name(sel.reader->backend());
            });
        }
    } catch (const std::exception &e) {
        log_error(dev_.name, ": ", e.what());
        set_state("error", e.what());
        return exit_fatal_local;
    }
    board_.update(dev_.name, [&](DeviceStatus &s) { s.source = src_->describe(); });
    refresh_status();

    bool first = true;
    while (!stop_) {
        std::unique_ptr<transport::ReplicaSession> s;
        try {
            if (!first)
                board_.update(dev_.name, [](DeviceStatus &st) { ++st.reconnects; });
            first = false;
            if (resync_due()) {
                // Before any batch: the replica is made equal first, then the journal follows.
                run_resync();
                refresh_status();
                first = true; // not a reconnect after a failure
                continue;
            }
            s = connect();
            src_->rewind();
            sent_.clear();
            preparing_.clear();
            reserved_ = 0;
            s->on_ack([this](const transport::Ack &a) { on_ack(a); });
            if (want_initial_sync(s->replica())) {
                write_sync_marker(s->replica(), "copying");
                initial_sync(*s);
                if (!stop_)
                    write_sync_marker(s->replica(), "done");
            }
            StreamEnd end = stream(*s);
            s->close();
            if (end == StreamEnd::resync) {
                s.reset();
                first = true;
                continue;
            }
            if (end == StreamEnd::drained) {
                log_info(dev_.name, ": source drained, every batch committed");
                set_state("drained");
            } else {
                set_state("stopped");
            }
            return exit_ok;
        } catch (const LocalFatal &e) {
            log_error(dev_.name, ": stopping: ", e.what());
            set_state("error", e.what());
            return exit_fatal_local;
        } catch (const Error &e) {
            if (!e.recoverable()) {
                // Authentication, identity mismatch, sequence gap, ...: an operator must act.
                log_error(dev_.name, ": stopping: ", e.what());
                set_state("error", e.what());
                return exit_fatal_remote;
            }
            auto delay = backoff_.next();
            int64_t due = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch() + delay)
                              .count();
            log_warn(dev_.name, ": ", e.what(), "; retrying in ", delay.count() / 1000.0, " s");
            board_.update(dev_.name, [&](DeviceStatus &st) {
                st.state = "retrying";
                st.reason = e.what();
                st.next_attempt_unix = due;
                st.updated_unix_ns = unix_ns();
            });
            s.reset();
            if (!sleep_interruptible(delay))
                break;
        } catch (const std::exception &e) {
            // Source corruption, unreadable device, ...: retrying cannot fix it.
            log_error(dev_.name, ": stopping: ", e.what());
            set_state("error", e.what());
            return exit_fatal_local;
        }
    }
    set_state("stopped");
    return exit_ok;
}

bool Replicator::sleep_interruptible(milliseconds d)
{
    auto until = clock::now() + d;
    auto refreshed = clock::now();
    while (!stop_ && clock::now() < until) {
        std::this_thread::sleep_for(
            std::min<clock::duration>(until - clock::now(), milliseconds(100)));
        // Spool hook (issue 9): the spool keeps growing while the target is away, so the
        // status (spool bytes, RPO) is refreshed while waiting to reconnect too.
        if (src_ && dynamic_cast<spool::SpoolSource *>(src_.get()) &&
            clock::now() - refreshed > milliseconds(1000)) {
            refresh_status();
            refreshed = clock::now();
        }
    }
    return !stop_;
}

void Replicator::on_ack(const transport::Ack &a)
{
    if (sent_.empty() || sent_.front().batch_id != a.batch_id)
        throw Error(cat("ACK for batch ", a.batch_id, " does not match the oldest batch sent"),
                    true);
    InFlight f = sent_.front();
    sent_.pop_front();
    if (!f.from_source && a.duplicate)
        // A copy batch acknowledged but not applied: the copy would silently be incomplete.
        throw Error(cat("the target acknowledged initial-copy batch ", a.batch_id,
                        " as a duplicate without applying it: it does not support "
                        "CBT_WB_INITIAL batches, so the initial sync cannot be done"),
                    false);
    if (f.from_source)
        src_->commit(a.batch_id);
    log_debug(dev_.name, ": batch ", a.batch_id, " durable up to seq ", a.last_seq,
              a.duplicate ? " (duplicate: applied before)" : "",
              f.from_source ? ", committed" : "");
    reserved_ -= std::min(reserved_, f.reserved);
    double apply = std::chrono::duration<double>(clock::now() - f.ended).count();
    tp_bytes_ += f.decoded;
    auto now = clock::now();
    double window = std::chrono::duration<double>(now - tp_start_).count();
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.applied_seq = a.last_seq;
        if (f.from_source)
            ++s.committed_batches;
        s.bytes_replicated += f.decoded;
        s.apply_s += apply;
        if (f.tag) {
            s.last_tag_name = f.tag->name;
            s.last_tag_id = f.tag->tag_id;
            s.last_tag_seq = f.tag->seq;
            s.last_tag_unix_ns = int64_t(f.tag->timestamp_ns);
        }
        if (!f.from_source)
            s.initial_sync_done_bytes += f.decoded;
        if (window >= 2.0) {
            s.throughput_bps = double(tp_bytes_) / window;
            tp_bytes_ = 0;
            tp_start_ = now;
        }
    });
    // A durable ACK is progress: the next failure starts the backoff schedule again.
    backoff_.reset();
}

// A batch the replica made durable before its ACK reached us (the target or we died in
// between) is committed without being sent again; its tags are consistency points all the
// same, so the status learns them as on_ack() would have (same rule as send(): content
// read from the device leaves the replica inconsistent until the next DATA-mode tag).
void Replicator::note_applied_before(const source::Batch &b)
{
    std::optional<cbt_tag> last_tag;
    uint64_t last_tag_seq = 0;
    bool consistent = true;
    for (const source::RecordRef &r : b.records()) {
        switch (r.hdr.type) {
        case CBT_REC_WRITE:
            if (!(r.hdr.flags & CBT_RF_HAS_DATA))
                consistent = false;
            break;
        case CBT_REC_DIRTY:
        case CBT_REC_GAP:
            consistent = false;
            break;
        case CBT_REC_TAG:
            last_tag.emplace();
            std::memcpy(&*last_tag, r.data.data(), sizeof(cbt_tag));
            last_tag_seq = r.hdr.seq;
            break;
        default:
            break;
        }
    }
    if (!consistent)
        inconsistent_ = true;
    else if (inconsistent_ && last_tag)
        inconsistent_ = false;
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.applied_seq = std::max(s.applied_seq, b.header().last_seq);
        if (last_tag && !inconsistent_) {
            s.last_tag_name =
                std::string(last_tag->name, strnlen(last_tag->name, sizeof(last_tag->name)));
            s.last_tag_id = last_tag->tag_id;
            s.last_tag_seq = last_tag_seq;
            s.last_tag_unix_ns = int64_t(last_tag->timestamp_ns);
        }
    });
}

void Replicator::refresh_status()
{
    source::Status st;
    try {
        st = src_->status();
    } catch (const std::exception &e) {
        log_warn(dev_.name, ": status: ", e.what());
        return;
    }
    uint64_t oldest = 0;
    for (const auto &f : sent_)
        if (f.first_ts_ns && (!oldest || f.first_ts_ns < oldest))
            oldest = f.first_ts_ns;
    for (const auto &j : preparing_)
        if (j->first_ts_ns && (!oldest || j->first_ts_ns < oldest))
            oldest = j->first_ts_ns;
    int64_t now = unix_ns();
    tracker_state_ = st.state;
    tracker_reason_ = st.state_reason;
    // Spool hook (issue 9, engine/spool): the log's size, limit and oldest unsent point.
    std::optional<spool::SpoolSourceStatus> sp;
    if (auto *ss = dynamic_cast<spool::SpoolSource *>(src_.get()))
        sp = ss->spool_status();
    if (sp && sp->stats.oldest_unacked_ns && (!oldest || sp->stats.oldest_unacked_ns < oldest))
        oldest = sp->stats.oldest_unacked_ns; // the spooled changes count in the RPO too
    board_.update(dev_.name, [&](DeviceStatus &s) {
        if (sp) {
            s.spool = SpoolStatus{true,
                                  sp->state,
                                  sp->reason,
                                  sp->stats.bytes,
                                  sp->stats.limit_bytes,
                                  sp->stats.segments,
                                  sp->stats.batches,
                                  sp->stats.oldest_unacked_seq,
                                  int64_t(sp->stats.oldest_unacked_ns),
                                  sp->drops};
        }
        s.tracker_mode = cbt_mode_str(st.mode);
        s.tracker_mode_reason = cbt_reason_str(st.mode_reason);
        s.tracker_state = cbt_state_str(st.state);
        s.tracker_state_reason = cbt_reason_str(st.state_reason);
        s.lag_bytes = st.backlog_bytes;
        s.backlog_records = st.records_pending;
        s.lag_seconds = oldest && int64_t(oldest) < now ? double(now - int64_t(oldest)) / 1e9 : 0.0;
        // ACKs stopped: close the throughput window here too, so an idle device shows 0
        // rather than the last burst's figure.
        auto steady_now = std::chrono::steady_clock::now();
        double window = std::chrono::duration<double>(steady_now - tp_start_).count();
        if (window >= 5.0) {
            s.throughput_bps = double(tp_bytes_) / window;
            tp_start_ = steady_now;
            tp_bytes_ = 0;
        }
        if (st.state == CBT_STATE_RESYNC_REQUIRED && s.state != "error" && s.state != "resyncing") {
            s.state = "resync-required";
            s.reason = cbt_reason_str(st.state_reason);
        }
        s.updated_unix_ns = now;
    });
}

void Replicator::send(transport::ReplicaSession &s, PrepPool::Job &job)
{
    if (job.error) {
        try {
            std::rethrow_exception(job.error);
        } catch (const std::exception &e) {
            throw LocalFatal(e.what());
        }
    }
    PreparedBatch &pb = *job.result;
    if (job.from_source) {
        if (jump_next_) {
            pb.info.flags |= CBT_WB_SEQ_JUMP;
            jump_next_ = false;
        }
        // Content read from the device (META, DIRTY, GAP) is newer than the journal around
        // it: the replica is consistent again only at the next tag of a DATA batch.
        if (!(pb.info.flags & CBT_WB_CONSISTENT))
            inconsistent_ = true;
        else if (inconsistent_ && !pb.tags.empty())
            inconsistent_ = false;
        if (inconsistent_)
            pb.info.flags &= ~CBT_WB_CONSISTENT;
    }
    InFlight f{pb.info.batch_id, job.reserved, pb.decoded_bytes, job.first_ts_ns,
               job.from_source,  std::nullopt, clock::now()};
    // Only a consistent batch's tag is a consistency point (the target makes points by the
    // same flag). Decided here, as sent: by the time the ACK arrives later batches may have
    // made inconsistent_ true again, which says nothing about this one.
    if (!pb.tags.empty() && (pb.info.flags & CBT_WB_CONSISTENT))
        f.tag = pb.tags.back();
    // In the queue before the first frame: end_batch() may already read this batch's ACK.
    sent_.push_back(f);
    log_debug(dev_.name, ": sending batch ", pb.info.batch_id, " (seq ", pb.info.first_seq, "..",
              pb.info.last_seq, ", ", pb.extents.size(), " extents, ", pb.tags.size(), " tags, ",
              pb.payload_bytes, " payload bytes)");
    auto t = clock::now();
    auto views = pb.views();
    s.send_batch(pb.info, views, pb.tags);
    double send_s = std::chrono::duration<double>(clock::now() - t).count();
    for (auto &x : sent_)
        if (x.batch_id == pb.info.batch_id)
            x.ended = clock::now();
    board_.update(dev_.name, [&](DeviceStatus &st) {
        st.bytes_sent += pb.payload_bytes;
        st.read_s += pb.times.read_s;
        st.compress_s += pb.times.compress_s;
        st.send_s += send_s;
    });
}

namespace
{
std::string hex(const std::array<uint8_t, 16> &id)
{
    static const char *digits = "0123456789abcdef";
    std::string h;
    for (uint8_t b : id) {
        h += digits[b >> 4];
        h += digits[b & 15];
    }
    return h;
}
} // namespace

// The marker <state_dir>/<device>.initial-sync says "cbtrep-sync 1 <replica id> copying|done":
// a copy interrupted by a crash or a lost connection is started again for the same replica,
// and a replica that is no longer new (it applied copy batches) is not mistaken for a
// complete one.
bool Replicator::want_initial_sync(const transport::ReplicaInfo &r)
{
    if (dev_.initial_sync == config::InitialSync::never || dev_.device.empty() || synced_)
        return false;
    if (dev_.initial_sync == config::InitialSync::always || (r.flags & CBT_WHO_NEW_REPLICA))
        return true;
    std::ifstream in(cfg_.state_dir + "/" + dev_.name + ".initial-sync");
    std::string magic, id, what;
    int version = 0;
    if (in >> magic >> version >> id >> what && magic == "cbtrep-sync" && id == hex(r.replica_id) &&
        what == "copying") {
        log_warn(dev_.name,
                 ": the initial sync of this replica was interrupted; starting it again");
        return true;
    }
    return false;
}

void Replicator::write_sync_marker(const transport::ReplicaInfo &r, const char *what)
{
    std::error_code ec;
    std::filesystem::create_directories(cfg_.state_dir, ec);
    std::string path = cfg_.state_dir + "/" + dev_.name + ".initial-sync";
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << "cbtrep-sync 1 " << hex(r.replica_id) << " " << what << "\n";
        if (!out)
            throw LocalFatal(cat("cannot write ", tmp, " (state_dir)"));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw LocalFatal(cat("cannot rename ", tmp, " to ", path));
}

void Replicator::initial_sync(transport::ReplicaSession &s)
{
    Preparer probe(PrepareOptions{{}, {}, dev_.device});
    uint64_t size = std::min(probe.reader().size(), src_->info().device_bytes);
    // Copy batches carry the sequence the journal resumes at; the target rebases to it.
    uint64_t base_seq = src_->status().committed_seq + 1;
    log_info(dev_.name, ": initial sync of ", size, " bytes from ", dev_.device,
             " while tracking continues");
    set_state("initial-sync");
    board_.update(dev_.name, [&](DeviceStatus &st) {
        st.initial_sync_total_bytes = size;
        st.initial_sync_done_bytes = 0;
    });
    inconsistent_ = true;
    uint64_t off = 0;
    std::deque<std::shared_ptr<PrepPool::Job>> jobs;
    while ((off < size || !jobs.empty()) && !stop_) {
        while (off < size && jobs.size() < 2 * pool_->threads() &&
               reserved_ < cfg_.max_inflight_bytes) {
            uint64_t len = std::min(cfg_.sync_batch_bytes, size - off);
            transport::BatchInfo info;
            // Copy batches carry no journal records: ids of their own (top bit set, never a
            // tracker id) and the sequence number the journal resumes at (docs/engine.md).
            info.batch_id = (1ull << 63) | ++sync_batch_id_;
            info.first_seq = info.last_seq = base_seq;
            info.mode = CBT_MODE_BITMAP;
            info.flags = CBT_WB_INITIAL | CBT_WB_SEQ_JUMP;
            info.timestamp_ns = uint64_t(unix_ns());
            auto job = std::make_shared<PrepPool::Job>();
            reader::Range range{off, len};
            job->fn = [info, range](Preparer &p) { return p.prepare_copy(info, range); };
            job->reserved = len;
            job->from_source = false;
            reserved_ += len;
            jobs.push_back(pool_->submit(job));
            off += len;
        }
        if (pool_->wait(*jobs.front(), milliseconds(50))) {
            auto job = jobs.front();
            jobs.pop_front();
            send(s, *job);
        } else {
            s.poll_acks(milliseconds(0));
        }
    }
    s.wait_all_acked();
    if (stop_)
        return;
    synced_ = true;
    jump_next_ = true;
    log_info(dev_.name, ": initial sync done; the replica is consistent at the next tag");
    set_state("replicating");
}

Replicator::StreamEnd Replicator::stream(transport::ReplicaSession &s)
{
    set_state("replicating");
    for (const auto &n : pool_->take_notes())
        log_info(dev_.name, ": ", n);
    const uint64_t applied_at_connect = s.replica().applied_seq;
    auto last_activity = clock::now();
    auto last_status = clock::time_point{};
    tp_start_ = clock::now();
    tp_bytes_ = 0;
    for (;;) {
        if (stop_) {
            // Finish what is on the wire so the commits are not lost work.
            s.wait_all_acked();
            return StreamEnd::stopped;
        }
        if (clock::now() - last_status > milliseconds(500)) {
            refresh_status();
            last_status = clock::now();
            if (resync_due()) {
                // The resync takes this replica's connection: finish what is on the wire
                // (its commits are real progress) and leave the prepared rest to rewind().
                s.wait_all_acked();
                return StreamEnd::resync;
            }
        }
        // 1. Fetch and start preparing batches, within the memory budget.
        while (preparing_.size() < 2 * pool_->threads() &&
               (reserved_ < cfg_.max_inflight_bytes || (preparing_.empty() && sent_.empty()))) {
            auto b = src_->next_batch();
            if (!b)
                break;
            if (applied_at_connect && b->header().last_seq <= applied_at_connect &&
                preparing_.empty() && sent_.empty()) {
                // Durable on the replica already (we died between its ACK and our commit).
                log_info(dev_.name, ": batch ", b->id(), " (seq ", b->header().first_seq, "..",
                         b->header().last_seq, ") already applied on the replica; committing");
                note_applied_before(*b);
                src_->commit(b->id());
                continue;
            }
            std::shared_ptr<source::Bitmap> bm;
            if (b->header().flags & CBT_BF_HAS_GAP) {
                uint64_t gen = src_->bitmap_cut(done_generation_);
                bm = std::make_shared<source::Bitmap>(src_->bitmap_read(gen));
                done_generation_ = gen;
                log_warn(dev_.name, ": batch ", b->id(), " has a GAP: resending ", bm->count(),
                         " blocks of bitmap generation ", gen, " from the device");
            }
            auto job = std::make_shared<PrepPool::Job>();
            job->reserved = estimate_bytes(*b, bm.get());
            job->first_ts_ns = b->records().front().hdr.timestamp_ns;
            reserved_ += job->reserved;
            auto batch = std::make_shared<source::Batch>(std::move(*b));
            job->fn = [batch, bm](Preparer &p) { return p.prepare(*batch, bm.get()); };
            preparing_.push_back(pool_->submit(job));
        }
        // 2. Send the oldest prepared batch (in order).
        if (!preparing_.empty() && pool_->wait(*preparing_.front(), milliseconds(0))) {
            auto job = preparing_.front();
            preparing_.pop_front();
            send(s, *job);
            last_activity = clock::now();
            continue;
        }
        // 3. Wait for whatever comes first.
        if (!preparing_.empty()) {
            s.poll_acks(milliseconds(0));
            pool_->wait(*preparing_.front(), milliseconds(20));
            continue;
        }
        if (!sent_.empty()) {
            s.poll_acks(milliseconds(100));
            last_activity = clock::now();
            continue;
        }
        // Idle: nothing prepared, nothing unacknowledged.
        if (dev_.exit_when_drained && !src_->wait(milliseconds(0))) {
            refresh_status();
            return StreamEnd::drained;
        }
        if (!src_->wait(milliseconds(250)) &&
            clock::now() - last_activity > std::chrono::seconds(15)) {
            s.ping(); // a dead peer is found while idle, not at the next write burst
            last_activity = clock::now();
        }
    }
}

} // namespace cbtrep::daemon
