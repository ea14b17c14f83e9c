// The always-available backend: synchronous pread, one piece at a time.
#include <cerrno>

#include <unistd.h>

#include "queued_reader.h"

namespace cbtrep::reader
{

namespace
{

class PreadReader final : public QueuedReader
{
  public:
    PreadReader(const std::string &path, const Options &opts) : QueuedReader(path, opts1(opts)) {}
    Backend backend() const override { return Backend::pread; }

  private:
    // Synchronous: queueing more than one piece would only cost memory.
    static Options opts1(Options o)
    {
        o.queue_depth = 1;
        return o;
    }
    void submit(unsigned slot, int fd, uint64_t off, uint8_t *dst, size_t len) override
    {
        ssize_t n = ::pread(fd, dst, len, static_cast<off_t>(off));
        // O_DIRECT can refuse an aligned request on some file systems: retry buffered (never
        // on a block device, where the page cache may be stale).
        if (n < 0 && errno == EINVAL && fd != fd_ && may_read_buffered())
            n = ::pread(fd_, dst, len, static_cast<off_t>(off));
        ready_.push_back({slot, n < 0 ? -int64_t(errno) : int64_t(n)});
    }
    void flush() override {}
    void reap(std::vector<Completion> &out) override
    {
        out.insert(out.end(), ready_.begin(), ready_.end());
        ready_.clear();
    }
    std::vector<Completion> ready_;
};

} // namespace

std::unique_ptr<Reader> make_pread_reader(const std::string &path, const Options &opts)
{
    return std::make_unique<PreadReader>(path, opts);
}

} // namespace cbtrep::reader
