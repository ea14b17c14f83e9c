// libaio backend: io_submit/io_getevents. Truly asynchronous only with O_DIRECT; buffered
// pieces complete inside io_submit, which is still correct.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include <libaio.h>

#include "queued_reader.h"

namespace cbtrep::reader
{

namespace
{

class AioReader final : public QueuedReader
{
  public:
    AioReader(const std::string &path, const Options &opts) : QueuedReader(path, opts)
    {
        int rc = io_setup(static_cast<int>(depth()), &ctx_);
        if (rc < 0)
            throw std::system_error(-rc, std::generic_category(), "io_setup");
        iocbs_.resize(depth());
    }
    ~AioReader() override { io_destroy(ctx_); }
    Backend backend() const override { return Backend::libaio; }

  private:
    void submit(unsigned slot, int fd, uint64_t off, uint8_t *dst, size_t len) override
    {
        iocb *cb = &iocbs_[slot];
        io_prep_pread(cb, fd, dst, len, static_cast<long long>(off));
        cb->data = reinterpret_cast<void *>(uintptr_t(slot));
        pending_.push_back(cb);
    }
    void flush() override
    {
        size_t sent = 0;
        while (sent < pending_.size()) {
            int rc = io_submit(ctx_, long(pending_.size() - sent), pending_.data() + sent);
            if (rc == -EAGAIN || rc == -EINTR)
                continue;
            if (rc < 0)
                throw std::system_error(-rc, std::generic_category(), "reader: io_submit " + path_);
            sent += size_t(rc);
        }
        pending_.clear();
    }
    void reap(std::vector<Completion> &out) override
    {
        io_event ev[64];
        int n;
        do
            n = io_getevents(ctx_, 1, 64, ev, nullptr);
        while (n == -EINTR);
        if (n < 0)
            throw std::system_error(-n, std::generic_category(), "reader: io_getevents " + path_);
        for (int i = 0; i < n; i++)
            out.push_back({unsigned(uintptr_t(ev[i].data)), int64_t(long(ev[i].res))});
    }

    io_context_t ctx_ = nullptr;
    std::vector<iocb> iocbs_;
    std::vector<iocb *> pending_;
};

} // namespace

std::unique_ptr<Reader> make_aio_reader(const std::string &path, const Options &opts)
{
    return std::make_unique<AioReader>(path, opts);
}

} // namespace cbtrep::reader
