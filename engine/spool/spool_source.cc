#include "spool_source.h"

#include <system_error>

#include "common/log.h"

namespace cbtrep::spool
{

bool is_no_room(const std::exception &e)
{
    if (dynamic_cast<const SpoolLimitError *>(&e))
        return true;
    if (auto *err = dynamic_cast<const Error *>(&e))
        return err->errno_value() == ENOSPC || err->errno_value() == EDQUOT;
    if (auto *se = dynamic_cast<const std::system_error *>(&e))
        return se->code() == std::errc::no_space_on_device || se->code().value() == EDQUOT;
    return false;
}

SpoolSource::SpoolSource(source::Source &inner, Spool &spool) : inner_(inner), spool_(spool)
{
    resume_after_restart();
}

namespace
{
SpoolOptions for_device(SpoolOptions o, const source::DeviceInfo &dev)
{
    o.device = dev;
    return o;
}
} // namespace

SpoolSource::SpoolSource(std::unique_ptr<source::Source> inner, SpoolOptions opts)
    : owned_inner_(std::move(inner)),
      owned_spool_(std::make_unique<Spool>(for_device(std::move(opts), owned_inner_->info()))),
      inner_(*owned_inner_), spool_(*owned_spool_)
{
    resume_after_restart();
    start_pump_thread();
}

SpoolSource::~SpoolSource()
{
    stop_ = true;
    if (pump_thread_.joinable())
        pump_thread_.join();
}

// A drop is recorded durably by the tracker's resync-required state (set before the spool
// is discarded). Found at start, the drop may have been cut short by a crash: discard again,
// and hand nothing out until the resync is done.
void SpoolSource::resume_after_restart()
{
    source::Status st = inner_.status();
    if (st.state != CBT_STATE_RESYNC_REQUIRED || st.state_reason != CBT_REASON_SPOOL_LIMIT)
        return;
    log_warn("spool ", spool_.dir(), ": the tracker is resync-required (",
             cbt_reason_str(CBT_REASON_SPOOL_LIMIT),
             "): the log stays dropped until the resync is done");
    spool_.discard();
    std::lock_guard lk(err_mu_);
    mode_ = Mode::dropped;
    reason_ = cat(cbt_reason_str(CBT_REASON_SPOOL_LIMIT), "; resync pending (found at start)");
}

SpoolSource::Mode SpoolSource::mode() const
{
    std::lock_guard lk(err_mu_);
    return mode_;
}

size_t SpoolSource::pump(uint64_t max_bytes)
{
    std::lock_guard lk(pump_mu_);
    if (mode() != Mode::spooling)
        return 0;
    std::vector<uint64_t> ids; // handed out by the inner source, in order
    uint64_t bytes = 0;
    auto commit_all = [&] {
        spool_.sync();
        for (uint64_t id : ids)
            inner_.commit(id);
        if (!ids.empty())
            log_debug("spool ", spool_.dir(), ": ", ids.size(),
                      " batch(es) durable in the spool, committed to the tracker up to batch ",
                      ids.back());
    };
    try {
        while (bytes < max_bytes && ids.size() < inner_.max_outstanding()) {
            auto b = inner_.next_batch();
            if (!b)
                break;
            spool_.append(*b); // false = already spooled before a restart: commit it too
            ids.push_back(b->id());
            bytes += b->size_bytes();
        }
        commit_all();
    } catch (const SpoolLimitError &) {
        // What fitted is valid: make it durable and free it in the tracker, then report.
        try {
            commit_all();
        } catch (const std::exception &e) {
            log_warn("spool ", spool_.dir(),
                     ": at the limit, the last batches could not be "
                     "made durable: ",
                     e.what());
        }
        inner_.rewind();
        throw;
    } catch (...) {
        // The spool dropped everything since its last sync; the source hands it out again.
        inner_.rewind();
        throw;
    }
    return ids.size();
}

size_t SpoolSource::pump_or_fall_back(uint64_t max_bytes)
{
    try {
        return pump(max_bytes);
    } catch (const std::exception &e) {
        if (!is_no_room(e))
            throw;
        fall_back(e.what());
        return 0;
    }
}

// The order is what makes the drop safe (docs/spool.md, "At the limit"): resync-required
// is durable in the tracker before a single spooled batch is dropped, and read_mu_ keeps
// next_batch() from handing out anything of the dropped log once the drop starts.
void SpoolSource::fall_back(const std::string &why)
{
    std::lock_guard rl(read_mu_);
    std::lock_guard pl(pump_mu_);
    if (mode() != Mode::spooling)
        return;
    log_error("spool ", spool_.dir(), ": ", why,
              ": spooling stops, the replication log is dropped and the device needs a "
              "whole-device resync (",
              cbt_reason_str(CBT_REASON_SPOOL_LIMIT), ")");
    source::ResyncReply r = inner_.require_resync(CBT_REASON_SPOOL_LIMIT);
    log_info("spool ", spool_.dir(), ": tracker state now ", cbt_state_str(r.state), " (",
             cbt_reason_str(r.state_reason), ")");
    spool_.discard();
    std::lock_guard lk(err_mu_);
    mode_ = Mode::dropped;
    reason_ = why;
    ++drops_;
}

void SpoolSource::start_pump_thread()
{
    pump_thread_ = std::thread([this] {
        while (!stop_) {
            try {
                if (mode() != Mode::spooling) {
                    // Dropped or direct: the tracker keeps its changes (journal, then bitmap).
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    continue;
                }
                bool ready;
                {
                    std::lock_guard lk(pump_mu_); // the inner source is not thread-safe
                    ready = inner_.wait(std::chrono::milliseconds(100));
                }
                if (ready)
                    pump_or_fall_back();
            } catch (const std::exception &e) {
                // Logged now: the drain loop may be busy reconnecting for a long time
                // before it calls next_batch()/wait() and sees the error.
                log_error("spool ", spool_.dir(), ": spooling stopped: ", e.what());
                std::lock_guard lk(err_mu_);
                pump_error_ = std::current_exception();
                return;
            }
        }
    });
}

void SpoolSource::rethrow_pump_error()
{
    std::lock_guard lk(err_mu_);
    if (pump_error_)
        std::rethrow_exception(pump_error_);
}

std::optional<source::Batch> SpoolSource::next_batch()
{
    rethrow_pump_error();
    if (!pump_thread_.joinable())
        pump_or_fall_back();
    std::lock_guard rl(read_mu_);
    Mode m = mode();
    if (m == Mode::dropped)
        return std::nullopt; // nothing reaches the replica before the resync
    if (m == Mode::direct) {
        std::lock_guard pl(pump_mu_);
        if (direct_out_ == 0 && outstanding_.empty() && spool_.has_room(spool_.segment_bytes())) {
            log_info("spool ", spool_.dir(), ": room again: spooling resumes");
            std::lock_guard lk(err_mu_);
            mode_ = Mode::spooling;
            reason_.clear();
            return std::nullopt; // the pump fills the spool; the next call reads it
        }
        auto b = inner_.next_batch();
        if (b)
            ++direct_out_;
        return b;
    }
    auto b = spool_.next();
    if (b)
        outstanding_.push_back(Out{b->id(), b->header().last_seq});
    return b;
}

void SpoolSource::commit(uint64_t batch_id)
{
    if (!outstanding_.empty() && outstanding_.front().batch_id == batch_id) {
        try {
            spool_.ack(outstanding_.front().last_seq);
        } catch (const std::exception &e) {
            if (!is_no_room(e))
                throw;
            // The replica has it; only the ACK point is not saved: the segments go at a later
            // ACK, and a restart before that resends what the target then skips.
            log_warn("spool ", spool_.dir(), ": ACK of seq ", outstanding_.front().last_seq,
                     " not saved: ", e.what());
        }
        outstanding_.pop_front();
        return;
    }
    if (outstanding_.empty() && direct_out_ > 0) {
        std::lock_guard pl(pump_mu_);
        inner_.commit(batch_id);
        --direct_out_;
        return;
    }
    throw Error(cat("spool ", spool_.dir(), ": commit of batch ", batch_id,
                    " out of order (oldest handed out: ",
                    outstanding_.empty() ? 0 : outstanding_.front().batch_id, ")"),
                false);
}

void SpoolSource::rewind()
{
    outstanding_.clear();
    spool_.rewind();
    if (direct_out_ > 0 || mode() == Mode::direct) {
        std::lock_guard pl(pump_mu_);
        inner_.rewind();
        direct_out_ = 0;
    }
}

bool SpoolSource::wait(std::chrono::milliseconds timeout)
{
    rethrow_pump_error();
    Mode m = mode();
    if (m == Mode::dropped) {
        // Not drained: the resync is pending. Sleep so a caller polling this does not spin.
        std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(100)));
        return true;
    }
    if (m == Mode::direct) {
        std::lock_guard pl(pump_mu_);
        if (direct_out_ == 0 && outstanding_.empty() && spool_.has_room(spool_.segment_bytes()))
            return true; // next_batch() hands over to the spool
        return inner_.wait(timeout);
    }
    // Unacknowledged batches beyond those handed out: next_batch() has one.
    if (spool_.stats().batches > outstanding_.size())
        return true;
    bool ready;
    {
        std::lock_guard lk(pump_mu_); // the inner source is not thread-safe
        ready = inner_.wait(timeout);
    }
    if (ready)
        pump_or_fall_back();
    return spool_.stats().batches > outstanding_.size() || mode() != Mode::spooling;
}

source::Status SpoolSource::status()
{
    source::Status s;
    {
        std::lock_guard lk(pump_mu_);
        s = inner_.status();
    }
    auto sp = spool_.stats();
    // The backlog the sender sees is what the spool holds; the tracker's own is near zero.
    s.backlog_bytes += sp.bytes;
    s.records_pending += sp.durable_seq - sp.acked_seq;
    if (mode() == Mode::spooling)
        s.committed_seq = sp.acked_seq;
    return s;
}

source::ResyncReply SpoolSource::require_resync(uint32_t reason)
{
    std::lock_guard lk(pump_mu_);
    return inner_.require_resync(reason);
}

source::ResyncReply SpoolSource::resync_done(uint64_t generation)
{
    source::ResyncReply r;
    {
        std::lock_guard lk(pump_mu_);
        r = inner_.resync_done(generation);
    }
    std::lock_guard lk(err_mu_);
    if (r.cleared && mode_ == Mode::dropped) {
        log_info("spool ", spool_.dir(), ": resync done (generation ", generation,
                 "): replication goes on, through the spool again once it has room");
        mode_ = Mode::direct;
        reason_ = "resync done; waiting for room in the spool";
    }
    return r;
}

SpoolSourceStatus SpoolSource::spool_status() const
{
    SpoolSourceStatus st;
    st.stats = spool_.stats();
    std::lock_guard lk(err_mu_);
    st.drops = drops_;
    st.reason = reason_;
    switch (mode_) {
    case Mode::spooling:
        st.state = "spooling";
        break;
    case Mode::dropped:
        st.state = "dropped";
        break;
    case Mode::direct:
        st.state = "direct";
        break;
    }
    if (pump_error_) {
        st.state = "stopped";
        try {
            std::rethrow_exception(pump_error_);
        } catch (const std::exception &e) {
            st.reason = e.what();
        }
    }
    return st;
}

std::string SpoolSource::describe() const
{
    return "spool " + spool_.dir() + " of " + inner_.describe();
}

} // namespace cbtrep::spool
