#include "kernel_source.h"

#include "ctl_device.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <cbtrep/ioctl.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace cbtrep::source
{

template <typename T> T KernelSource::make() const
{
    return ioc_init<T>(name_);
}

void KernelSource::ioctl_or_throw(unsigned long req, void *arg, const char *what) const
{
    ctl_call(fd_, req, arg, ctl_path_, std::string(what) + " " + name_);
}

KernelSource::KernelSource(std::string name, std::string ctl_path)
    : name_(std::move(name)), ctl_path_(std::move(ctl_path)), buf_(4u << 20)
{
    if (!cbt_name_valid(name_.c_str(), std::min<size_t>(name_.size() + 1, CBT_NAME_LEN)))
        throw std::invalid_argument("kernel source: bad device name \"" + name_ + "\"");
    fd_ = open_ctl(ctl_path_).release();
    auto st = make<cbt_ioc_status>();
    ioctl_or_throw(CBT_IOC_STATUS, &st, "STATUS");
    info_.name = name_;
    info_.device_bytes = st.device_bytes;
    info_.granularity = st.granularity;
}

KernelSource::~KernelSource()
{
    if (fd_ >= 0)
        ::close(fd_);
}

std::optional<Batch> KernelSource::next_batch()
{
    if (handed_out_)
        return std::nullopt;
    for (;;) {
        auto get = make<cbt_ioc_get>();
        get.buf = reinterpret_cast<uintptr_t>(buf_.data());
        get.buf_len = buf_.size();
        if (::ioctl(fd_, CBT_IOC_GET, &get) == 0) {
            std::vector<uint8_t> bytes(buf_.begin(), buf_.begin() + get.bytes_needed);
            handed_out_ = true;
            return Batch(std::move(bytes), info_.device_bytes,
                         ctl_path_ + " GET " + name_ + " batch " +
                             std::to_string(get.batch.batch_id));
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return std::nullopt;
        if (errno == ENOSPC && get.bytes_needed > buf_.size()) {
            buf_.resize(get.bytes_needed);
            continue;
        }
        throw std::system_error(errno, std::generic_category(), ctl_path_ + ": GET " + name_);
    }
}

void KernelSource::commit(uint64_t batch_id)
{
    auto c = make<cbt_ioc_commit>();
    c.batch_id = batch_id;
    ioctl_or_throw(CBT_IOC_COMMIT, &c, "COMMIT");
    handed_out_ = false;
}

bool KernelSource::wait(std::chrono::milliseconds timeout)
{
    if (handed_out_)
        return false;
    auto w = make<cbt_ioc_wait>();
    w.timeout_ms = static_cast<uint32_t>(std::clamp<int64_t>(timeout.count(), 0, 1 << 30));
    if (::ioctl(fd_, CBT_IOC_WAIT, &w) != 0) {
        if (errno == ETIMEDOUT || errno == EINTR)
            return false;
        throw std::system_error(errno, std::generic_category(), ctl_path_ + ": WAIT " + name_);
    }
    return w.ready & CBT_READY_RECORDS;
}

Status KernelSource::status()
{
    auto st = make<cbt_ioc_status>();
    ioctl_or_throw(CBT_IOC_STATUS, &st, "STATUS");
    Status s;
    s.mode = st.mode;
    s.mode_reason = st.mode_reason;
    s.state = st.state;
    s.state_reason = st.state_reason;
    s.records_pending = st.records_pending;
    s.backlog_bytes = st.mem_used;
    s.next_seq = st.next_seq;
    s.committed_seq = st.committed_seq;
    s.dirty_bits = st.dirty_bits;
    return s;
}

uint64_t KernelSource::bitmap_cut(uint64_t done_generation)
{
    auto c = make<cbt_ioc_cut>();
    c.done_generation = done_generation;
    ioctl_or_throw(CBT_IOC_BITMAP_CUT, &c, "BITMAP_CUT");
    return c.generation;
}

Bitmap KernelSource::bitmap_read(uint64_t generation)
{
    Bitmap b;
    std::vector<uint8_t> chunk(1u << 20);
    uint64_t first = 0;
    for (;;) {
        auto r = make<cbt_ioc_bitmap_read>();
        r.generation = generation;
        r.first_byte = first;
        r.buf = reinterpret_cast<uintptr_t>(chunk.data());
        r.buf_len = chunk.size();
        ioctl_or_throw(CBT_IOC_BITMAP_READ, &r, "BITMAP_READ");
        if (first == 0) {
            b.generation = r.bitmap.generation;
            b.device_bytes = r.bitmap.device_bytes;
            b.granularity = r.bitmap.granularity;
            b.nr_bits = r.bitmap.nr_bits;
            b.bits.reserve(r.bitmap.bits_len);
        }
        b.bits.insert(b.bits.end(), chunk.begin(), chunk.begin() + r.bytes_copied);
        first += r.bytes_copied;
        if (r.bytes_copied == 0 || first >= r.bitmap.bits_len)
            break;
    }
    b.bits.resize(cbt_bitmap_bits_len(b.nr_bits));
    return b;
}

ResyncReply KernelSource::require_resync(uint32_t reason)
{
    auto r = make<cbt_ioc_resync>();
    r.op = CBT_RESYNC_REQUIRE;
    r.reason = reason;
    ioctl_or_throw(CBT_IOC_RESYNC, &r, "RESYNC REQUIRE");
    return {false, r.state, r.state_reason};
}

ResyncReply KernelSource::resync_done(uint64_t generation)
{
    auto r = make<cbt_ioc_resync>();
    r.op = CBT_RESYNC_DONE;
    r.generation = generation;
    while (::ioctl(fd_, CBT_IOC_RESYNC, &r) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            // Required again after that cut: the caller resyncs again. The failed ioctl
            // copied nothing back, so ask for the state.
            Status st = status();
            return {false, st.state, st.state_reason};
        }
        throw std::system_error(errno, std::generic_category(),
                                ctl_path_ + ": RESYNC DONE " + name_ + " as of generation " +
                                    std::to_string(generation));
    }
    return {r.state != CBT_STATE_RESYNC_REQUIRED, r.state, r.state_reason};
}

} // namespace cbtrep::source
