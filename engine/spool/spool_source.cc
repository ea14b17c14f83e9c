#include "spool_source.h"

#include "common/log.h"

namespace cbtrep::spool
{

SpoolSource::SpoolSource(source::Source &inner, Spool &spool) : inner_(inner), spool_(spool) {}

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
    start_pump_thread();
}

SpoolSource::~SpoolSource()
{
    stop_ = true;
    if (pump_thread_.joinable())
        pump_thread_.join();
}

size_t SpoolSource::pump(uint64_t max_bytes)
{
    std::lock_guard lk(pump_mu_);
    std::vector<uint64_t> ids; // handed out by the inner source, in order
    uint64_t bytes = 0;
    auto commit_all = [&] {
        spool_.sync();
        for (uint64_t id : ids)
            inner_.commit(id);
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

void SpoolSource::start_pump_thread()
{
    pump_thread_ = std::thread([this] {
        while (!stop_) {
            try {
                bool ready;
                {
                    std::lock_guard lk(pump_mu_); // the inner source is not thread-safe
                    ready = inner_.wait(std::chrono::milliseconds(100));
                }
                if (ready)
                    pump();
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
        pump();
    auto b = spool_.next();
    if (b)
        outstanding_.push_back(Out{b->id(), b->header().last_seq});
    return b;
}

void SpoolSource::commit(uint64_t batch_id)
{
    if (outstanding_.empty() || outstanding_.front().batch_id != batch_id)
        throw Error(cat("spool ", spool_.dir(), ": commit of batch ", batch_id,
                        " out of order (oldest handed out: ",
                        outstanding_.empty() ? 0 : outstanding_.front().batch_id, ")"),
                    false);
    spool_.ack(outstanding_.front().last_seq);
    outstanding_.pop_front();
}

void SpoolSource::rewind()
{
    outstanding_.clear();
    spool_.rewind();
}

bool SpoolSource::wait(std::chrono::milliseconds timeout)
{
    rethrow_pump_error();
    // Unacknowledged batches beyond those handed out: next_batch() has one.
    if (spool_.stats().batches > outstanding_.size())
        return true;
    bool ready;
    {
        std::lock_guard lk(pump_mu_); // the inner source is not thread-safe
        ready = inner_.wait(timeout);
    }
    if (ready)
        pump();
    return spool_.stats().batches > outstanding_.size();
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
    s.committed_seq = sp.acked_seq;
    return s;
}

SpoolSourceStatus SpoolSource::spool_status() const
{
    SpoolSourceStatus st;
    st.stats = spool_.stats();
    st.state = "spooling";
    std::lock_guard lk(err_mu_);
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
