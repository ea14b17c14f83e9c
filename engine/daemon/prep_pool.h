// Worker threads that prepare batches (device reads + compression) while the replicator
// thread sends earlier ones: the pipeline's parallel stage. Each worker owns a Preparer
// (its own reader and encoder); jobs finish in any order, the replicator consumes them in
// submission order.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "daemon/prepare.h"

namespace cbtrep::daemon
{

class PrepPool
{
  public:
    struct Job {
        std::function<PreparedBatch(Preparer &)> fn;
        std::optional<PreparedBatch> result;
        std::exception_ptr error;
        bool done = false;
        uint64_t reserved = 0;    // memory budget held until the batch is acknowledged
        uint64_t first_ts_ns = 0; // oldest change in the batch (lag)
        bool from_source = true;  // commit to the source on ACK
    };

    PrepPool(unsigned threads, const PrepareOptions &opts);
    ~PrepPool();
    PrepPool(const PrepPool &) = delete;
    PrepPool &operator=(const PrepPool &) = delete;

    std::shared_ptr<Job> submit(std::shared_ptr<Job> job);
    // True once job is done (waits up to timeout).
    bool wait(Job &job, std::chrono::milliseconds timeout);
    // Reader notes collected by the workers (backend choice, fallbacks).
    std::vector<std::string> take_notes();
    unsigned threads() const { return unsigned(workers_.size()); }

  private:
    void work(Preparer &p);

    std::mutex mu_;
    std::condition_variable cv_;      // new job or stop
    std::condition_variable done_cv_; // a job finished
    std::deque<std::shared_ptr<Job>> queue_;
    std::vector<std::string> notes_;
    bool stop_ = false;
    std::vector<std::unique_ptr<Preparer>> preparers_;
    std::vector<std::thread> workers_;
};

} // namespace cbtrep::daemon
