// io_uring backend: the ring buffers are registered once (READ_FIXED saves the per-I/O
// page pinning); when registration is refused (RLIMIT_MEMLOCK) plain READ is used and the
// selector's note says so.
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include <liburing.h>

#include "queued_reader.h"

namespace cbtrep::reader
{

namespace
{

class UringReader final : public QueuedReader
{
  public:
    UringReader(const std::string &path, const Options &opts, std::string &note)
        : QueuedReader(path, opts)
    {
        // COOP_TASKRUN: completions run at our next io_uring call instead of interrupting
        // whatever this thread is blocked in (a TLS socket read got EINTR from it). Kernels
        // before 5.19 refuse the flag; then the ring works as before.
        int rc = io_uring_queue_init(depth(), &ring_, IORING_SETUP_COOP_TASKRUN);
        if (rc == -EINVAL)
            rc = io_uring_queue_init(depth(), &ring_, 0);
        if (rc < 0)
            throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
        io_uring_probe *probe = io_uring_get_probe_ring(&ring_);
        bool has_read = probe && io_uring_opcode_supported(probe, IORING_OP_READ);
        bool has_fixed = probe && io_uring_opcode_supported(probe, IORING_OP_READ_FIXED);
        if (probe)
            io_uring_free_probe(probe);
        if (!has_read) {
            io_uring_queue_exit(&ring_);
            throw std::runtime_error("IORING_OP_READ not supported by this kernel");
        }
        if (has_fixed) {
            std::vector<iovec> iov(depth());
            for (unsigned i = 0; i < depth(); i++)
                iov[i] = {slot_buf(i), opts_.piece_bytes};
            rc = io_uring_register_buffers(&ring_, iov.data(), depth());
            fixed_ = rc == 0;
            if (!fixed_)
                note = std::string("io_uring: registering buffers failed (") + std::strerror(-rc) +
                       "), using unregistered reads";
        } else {
            note = "io_uring: READ_FIXED not supported, using unregistered reads";
        }
    }
    ~UringReader() override { io_uring_queue_exit(&ring_); }
    Backend backend() const override { return Backend::io_uring; }
    bool registered() const { return fixed_; }

  private:
    void submit(unsigned slot, int fd, uint64_t off, uint8_t *dst, size_t len) override
    {
        io_uring_sqe *sqe = io_uring_get_sqe(&ring_);
        if (!sqe) {
            // The ring has depth() entries and at most depth() reads are ever in flight, so
            // this means unsubmitted entries piled up: send them and retry once.
            flush();
            sqe = io_uring_get_sqe(&ring_);
            if (!sqe)
                throw std::runtime_error("reader: io_uring submission queue full");
        }
        if (fixed_)
            io_uring_prep_read_fixed(sqe, fd, dst, unsigned(len), off, int(slot));
        else
            io_uring_prep_read(sqe, fd, dst, unsigned(len), off);
        io_uring_sqe_set_data64(sqe, slot);
        fds_[slot] = fd;
    }
    void flush() override
    {
        for (;;) {
            int rc = io_uring_submit(&ring_);
            if (rc >= 0)
                return;
            if (rc != -EINTR && rc != -EAGAIN)
                throw std::system_error(-rc, std::generic_category(),
                                        "reader: io_uring_submit " + path_);
        }
    }
    void reap(std::vector<Completion> &out) override
    {
        io_uring_cqe *cqe = nullptr;
        int rc;
        do
            rc = io_uring_wait_cqe(&ring_, &cqe);
        while (rc == -EINTR);
        if (rc < 0)
            throw std::system_error(-rc, std::generic_category(),
                                    "reader: io_uring_wait_cqe " + path_);
        unsigned head;
        unsigned n = 0;
        io_uring_for_each_cqe(&ring_, head, cqe)
        {
            unsigned slot = unsigned(io_uring_cqe_get_data64(cqe));
            int64_t res = cqe->res;
            // O_DIRECT refused for this request (file system quirk): the shared loop retries
            // on EAGAIN, so drop to the buffered fd for the rest of this reader's life.
            if (res == -EINVAL && fds_[slot] == direct_fd_ && direct_fd_ >= 0 &&
                may_read_buffered()) {
                ::close(direct_fd_);
                direct_fd_ = -1;
                res = -EAGAIN;
            }
            out.push_back({slot, res});
            ++n;
        }
        io_uring_cq_advance(&ring_, n);
    }

    io_uring ring_{};
    bool fixed_ = false;
    int fds_[256] = {};
};

} // namespace

std::unique_ptr<Reader> make_uring_reader(const std::string &path, const Options &opts,
                                          std::string &note)
{
    return std::make_unique<UringReader>(path, opts, note);
}

} // namespace cbtrep::reader
