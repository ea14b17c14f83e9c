#include "prep_pool.h"

#include <malloc.h>

namespace cbtrep::daemon
{

namespace
{

// The pipeline allocates one buffer per batch (up to 16 MiB and more: the source's bytes)
// and frees it at the ACK. Above glibc's mmap threshold each one was a fresh mapping:
// page faults, kernel zeroing and munmap for every batch, ~10 % of the daemon's CPU in the
// engine benchmark. Served from the heap and kept there (up to the trim threshold) they are
// reused. The memory held is what the in-flight budget (max_inflight_bytes) lets the
// pipeline hold anyway; it is just not handed back between batches.
void keep_batch_buffers_in_heap()
{
    static std::once_flag once;
    std::call_once(once, [] {
        mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's maximum
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
    });
}

} // namespace

PrepPool::PrepPool(unsigned threads, const PrepareOptions &opts)
{
    keep_batch_buffers_in_heap();
    for (unsigned i = 0; i < std::max(1u, threads); i++)
        preparers_.push_back(std::make_unique<Preparer>(opts));
    for (auto &p : preparers_)
        workers_.emplace_back([this, pp = p.get()] { work(*pp); });
}

PrepPool::~PrepPool()
{
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto &t : workers_)
        t.join();
}

std::shared_ptr<PrepPool::Job> PrepPool::submit(std::shared_ptr<Job> job)
{
    {
        std::lock_guard lock(mu_);
        queue_.push_back(job);
    }
    cv_.notify_one();
    return job;
}

bool PrepPool::wait(Job &job, std::chrono::milliseconds timeout)
{
    std::unique_lock lock(mu_);
    return done_cv_.wait_for(lock, timeout, [&] { return job.done; });
}

std::vector<std::string> PrepPool::take_notes()
{
    std::lock_guard lock(mu_);
    return std::exchange(notes_, {});
}

void PrepPool::work(Preparer &p)
{
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_)
                return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        std::optional<PreparedBatch> result;
        std::exception_ptr error;
        try {
            result = job->fn(p);
        } catch (...) {
            error = std::current_exception();
        }
        auto notes = p.take_reader_notes();
        {
            std::lock_guard lock(mu_);
            job->result = std::move(result);
            job->error = error;
            job->done = true;
            notes_.insert(notes_.end(), notes.begin(), notes.end());
        }
        done_cv_.notify_all();
    }
}

} // namespace cbtrep::daemon
