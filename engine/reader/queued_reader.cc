#include "queued_reader.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cbtrep::reader
{

namespace
{
// Alignment of O_DIRECT pieces of a regular file (the largest file system block we expect).
constexpr uint32_t file_direct_align = 4096;
} // namespace

const char *backend_name(Backend b)
{
    switch (b) {
    case Backend::io_uring:
        return "io_uring";
    case Backend::libaio:
        return "libaio";
    case Backend::pread:
        return "pread";
    }
    return "unknown";
}

QueuedReader::QueuedReader(const std::string &path, const Options &opts) : path_(path), opts_(opts)
{
    if (opts_.queue_depth < 1 || opts_.queue_depth > 256)
        throw std::invalid_argument("reader: queue_depth must be 1..256");
    if (opts_.piece_bytes < file_direct_align || opts_.piece_bytes % file_direct_align)
        throw std::invalid_argument("reader: piece_bytes must be a multiple of 4096");
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
        throw std::system_error(errno, std::generic_category(), "reader: open " + path);
    struct stat st;
    if (::fstat(fd_, &st) != 0)
        throw std::system_error(errno, std::generic_category(), "reader: fstat " + path);
    block_device_ = S_ISBLK(st.st_mode);
    if (block_device_) {
        if (::ioctl(fd_, BLKGETSIZE64, &size_) != 0)
            throw std::system_error(errno, std::generic_category(), "reader: BLKGETSIZE64 " + path);
        int lbs = 0;
        if (::ioctl(fd_, BLKSSZGET, &lbs) != 0 || lbs < 512 || lbs > 65536 || (lbs & (lbs - 1)))
            throw std::system_error(errno ? errno : EINVAL, std::generic_category(),
                                    "reader: BLKSSZGET " + path);
        direct_align_ = static_cast<uint32_t>(lbs);
        // A mounted file system writes its blocks with bios that never pass through the
        // block device's page cache, so a buffered read of the device can return what an
        // earlier read cached there instead of what is on the disk now. Reads of a block
        // device are therefore always O_DIRECT, whatever opts.direct says.
        direct_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        if (direct_fd_ < 0)
            throw std::system_error(errno, std::generic_category(),
                                    "reader: open " + path +
                                        " with O_DIRECT (buffered reads of a block device are "
                                        "not coherent with a mounted file system's writes)");
    } else {
        size_ = static_cast<uint64_t>(st.st_size);
        direct_align_ = file_direct_align;
        // O_DIRECT is an optimisation for files (their page cache is coherent): tmpfs and
        // some file systems refuse it, then every read goes through the page cache.
        if (opts_.direct)
            direct_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    }
    pool_ = static_cast<uint8_t *>(std::aligned_alloc(file_direct_align, pool_bytes()));
    if (!pool_)
        throw std::bad_alloc();
    slots_.resize(opts_.queue_depth);
}

QueuedReader::~QueuedReader()
{
    std::free(pool_);
    if (direct_fd_ >= 0)
        ::close(direct_fd_);
    if (fd_ >= 0)
        ::close(fd_);
}

void QueuedReader::start(unsigned slot)
{
    Slot &s = slots_[slot];
    uint64_t off = s.offset + s.done;
    uint32_t len = s.length - s.done;
    bool aligned = off % direct_align_ == 0 && len % direct_align_ == 0;
    if (block_device_ && !aligned)
        // Ranges come in 512-byte sectors, and no write to a device is smaller than its
        // logical block, so this is a caller bug: refuse rather than read stale cache.
        throw std::invalid_argument(
            "reader: read of " + path_ + " at " + std::to_string(off) + " (" + std::to_string(len) +
            " bytes) is not aligned to its logical block size " + std::to_string(direct_align_));
    submit(slot, aligned && direct_fd_ >= 0 ? direct_fd_ : fd_, off, slot_buf(slot) + s.done, len);
}

bool QueuedReader::may_read_buffered() const
{
    return !block_device_;
}

void QueuedReader::read(std::span<const Range> ranges, const Consumer &consume)
{
    for (const Range &r : ranges)
        if (r.offset + r.length < r.offset || r.offset + r.length > size_)
            throw std::out_of_range("reader: range " + std::to_string(r.offset) + "+" +
                                    std::to_string(r.length) + " is beyond the end of " + path_ +
                                    " (" + std::to_string(size_) + " bytes)");
    size_t ri = 0;          // next range to cut pieces from
    uint64_t rpos = 0;      // bytes of ranges[ri] already cut
    uint64_t submitted = 0; // pieces started
    uint64_t delivered = 0; // pieces handed to the consumer
    std::vector<Completion> done;

    auto more = [&] {
        while (ri < ranges.size() && rpos == ranges[ri].length) {
            ++ri;
            rpos = 0;
        }
        return ri < ranges.size();
    };
    for (;;) {
        bool queued = false;
        while (submitted - delivered < depth() && more()) {
            unsigned slot = static_cast<unsigned>(submitted % depth());
            Slot &s = slots_[slot];
            s.offset = ranges[ri].offset + rpos;
            s.length = static_cast<uint32_t>(
                std::min<uint64_t>(opts_.piece_bytes, ranges[ri].length - rpos));
            s.done = 0;
            s.complete = false;
            rpos += s.length;
            start(slot);
            ++submitted;
            queued = true;
        }
        if (queued)
            flush();
        if (delivered == submitted)
            return;
        unsigned head = static_cast<unsigned>(delivered % depth());
        if (slots_[head].complete) {
            const Slot &s = slots_[head];
            consume(s.offset, std::span<const uint8_t>(slot_buf(head), s.length));
            ++delivered;
            continue;
        }
        done.clear();
        reap(done);
        bool requeued = false;
        for (const Completion &c : done) {
            Slot &s = slots_[c.slot];
            if (c.result == -EINTR || c.result == -EAGAIN) {
                start(c.slot);
                requeued = true;
                continue;
            }
            if (c.result < 0)
                throw std::system_error(static_cast<int>(-c.result), std::generic_category(),
                                        "reader: read " + path_ + " at offset " +
                                            std::to_string(s.offset + s.done));
            if (c.result == 0)
                throw std::runtime_error("reader: unexpected end of " + path_ + " at offset " +
                                         std::to_string(s.offset + s.done));
            s.done += static_cast<uint32_t>(c.result);
            if (s.done < s.length) {
                // Short read: ask again for the rest (liburing's io_uring-cp does the same).
                start(c.slot);
                requeued = true;
            } else {
                s.complete = true;
            }
        }
        if (requeued)
            flush();
    }
}

} // namespace cbtrep::reader
