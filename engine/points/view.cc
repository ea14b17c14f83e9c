#include "points/view.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cbtrep::points
{
namespace
{

[[noreturn]] void fail_errno(const std::string &what, int err = errno)
{
    throw StoreError(what + ": " + std::strerror(err));
}

void pread_exact(int fd, uint8_t *buf, uint64_t len, uint64_t off, const char *what)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_errno(std::string("reading ") + what);
        if (n == 0) { // past EOF of a sparse overlay / short file: zeroes
            std::memset(buf + done, 0, len - done);
            return;
        }
        done += static_cast<uint64_t>(n);
    }
}

void pwrite_exact(int fd, const uint8_t *buf, uint64_t len, uint64_t off, const char *what)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_errno(std::string("writing ") + what);
        done += static_cast<uint64_t>(n);
    }
}

} // namespace

PointView::PointView(const std::string &state_dir, const std::string &replica,
                     const std::string &replica_path, uint64_t point_id,
                     const std::string &overlay_path)
    : store_(state_dir, replica), overlay_path_(overlay_path)
{
    auto p = store_.find_point(point_id);
    if (!p)
        throw StoreError("replica " + replica + ": point " + std::to_string(point_id) +
                         " is not retained");
    point_ = *p;
    indexed_upto_ = point_.batch_last_seq;
    replica_fd_ = ::open(replica_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (replica_fd_ < 0)
        fail_errno("opening replica " + replica_path);
    struct stat sb {
    };
    if (::fstat(replica_fd_, &sb) != 0)
        fail_errno("stat " + replica_path);
    if (S_ISBLK(sb.st_mode)) {
        if (::ioctl(replica_fd_, BLKGETSIZE64, &size_) != 0)
            fail_errno("BLKGETSIZE64 " + replica_path);
    } else {
        size_ = static_cast<uint64_t>(sb.st_size);
    }
    overlay_fd_ = ::open(overlay_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (overlay_fd_ < 0)
        fail_errno("creating overlay " + overlay_path);
    written_.assign((size_ + kBlock - 1) / kBlock, false);
    refresh_index();
}

PointView::~PointView()
{
    for (int fd : seg_fds_)
        ::close(fd);
    if (replica_fd_ >= 0)
        ::close(replica_fd_);
    if (overlay_fd_ >= 0)
        ::close(overlay_fd_);
}

void PointView::fill_gaps(std::map<uint64_t, Piece> &m, uint64_t start, uint64_t end, int fd,
                          uint64_t data_off)
{
    uint64_t pos = start;
    auto it = m.upper_bound(pos);
    if (it != m.begin()) {
        auto prev = std::prev(it);
        if (prev->second.end > pos)
            pos = prev->second.end;
    }
    while (pos < end) {
        uint64_t gap_end = end;
        if (it != m.end() && it->first < end)
            gap_end = std::max(pos, it->first);
        if (gap_end > pos)
            m.emplace(pos, Piece{gap_end, fd, fd < 0 ? 0 : data_off + (pos - start)});
        if (it == m.end() || it->first >= end)
            break;
        pos = std::max(pos, it->second.end);
        ++it;
    }
}

void PointView::overlay_pieces(const std::map<uint64_t, Piece> &m, uint8_t *buf, uint64_t len,
                               uint64_t off)
{
    uint64_t end = off + len;
    auto it = m.upper_bound(off);
    if (it != m.begin())
        --it;
    for (; it != m.end() && it->first < end; ++it) {
        uint64_t s = std::max(off, it->first), e = std::min(end, it->second.end);
        if (s >= e)
            continue;
        if (it->second.fd < 0)
            std::memset(buf + (s - off), 0, e - s);
        else
            pread_exact(it->second.fd, buf + (s - off), e - s,
                        it->second.data_off + (s - it->first), "history segment");
    }
}

void PointView::refresh_index()
{
    for (const Segment &s : store_.segments()) {
        if (s.first_seq <= indexed_upto_)
            continue;
        int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fail_errno("opening history segment " + s.path);
        seg_fds_.push_back(fd);
        SegmentScan scan = scan_undo(fd, s.path, size_, true, true);
        for (const SegEntry &e : scan.entries)
            fill_gaps(index_, e.rec.offset, e.rec.offset + e.rec.length,
                      e.rec.type == target::kUndoZero ? -1 : fd, e.data_off);
        indexed_upto_ = s.last_seq;
    }
}

void PointView::read_base(uint8_t *buf, uint64_t len, uint64_t off)
{
    pread_exact(replica_fd_, buf, len, off, "replica");
    // The batch being applied now (not yet in the history): its before-images.
    std::map<uint64_t, Piece> live;
    int ufd = ::open(store_.undo_path().c_str(), O_RDONLY | O_CLOEXEC);
    if (ufd >= 0) {
        try {
            SegmentScan scan = scan_undo(ufd, store_.undo_path(), size_, false, false);
            if (scan.begin.last_seq > point_.batch_last_seq)
                for (const SegEntry &e : scan.entries)
                    fill_gaps(live, e.rec.offset, e.rec.offset + e.rec.length,
                              e.rec.type == target::kUndoZero ? -1 : ufd, e.data_off);
            overlay_pieces(live, buf, len, off);
        } catch (...) {
            ::close(ufd);
            throw;
        }
        ::close(ufd);
    }
    refresh_index();
    overlay_pieces(index_, buf, len, off);
}

void PointView::read(uint8_t *buf, uint64_t len, uint64_t off)
{
    if (off > size_ || len > size_ - off)
        throw StoreError("read beyond the end of the view");
    read_base(buf, len, off);
    // Blocks the view wrote come from the overlay.
    for (uint64_t b = off / kBlock; b * kBlock < off + len; b++) {
        if (!written_[b])
            continue;
        uint64_t s = std::max(off, b * kBlock), e = std::min(off + len, (b + 1) * kBlock);
        pread_exact(overlay_fd_, buf + (s - off), e - s, s, "overlay");
    }
}

void PointView::write(const uint8_t *buf, uint64_t len, uint64_t off)
{
    if (off > size_ || len > size_ - off)
        throw StoreError("write beyond the end of the view");
    std::vector<uint8_t> block(kBlock);
    for (uint64_t b = off / kBlock; b * kBlock < off + len; b++) {
        uint64_t bs = b * kBlock, be = std::min(size_, bs + kBlock);
        uint64_t s = std::max(off, bs), e = std::min(off + len, be);
        if (!written_[b] && (s != bs || e != be)) {
            // First partial write of the block: the rest of it comes from the point.
            read_base(block.data(), be - bs, bs);
            pwrite_exact(overlay_fd_, block.data(), be - bs, bs, "overlay");
        }
        pwrite_exact(overlay_fd_, buf + (s - off), e - s, s, "overlay");
        written_[b] = true;
    }
}

void PointView::flush()
{
    // The overlay is thrown away with the view: nothing to make durable.
}

} // namespace cbtrep::points
