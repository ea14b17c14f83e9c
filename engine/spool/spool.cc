#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "source/file_source.h"

namespace cbtrep::spool
{
namespace
{

constexpr uint64_t kHdr = sizeof(cbt_spool_seg_hdr);
// statvfs at most once per this many appended bytes: the reserve absorbs the difference.
constexpr uint64_t kFreeCheckBytes = 4ull << 20;

uint64_t now_ns()
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

void pread_exact(int fd, void *buf, size_t len, uint64_t off, const std::string &what)
{
    auto *p = static_cast<uint8_t *>(buf);
    while (len) {
        ssize_t n = ::pread(fd, p, len, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(what + ": read at offset " + std::to_string(off));
        if (n == 0)
            throw Error(what + ": unexpected end of file at offset " + std::to_string(off));
        p += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
}

void fsync_dir(const std::string &dir)
{
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d || ::fsync(d.get()) != 0)
        throw_errno("spool " + dir + ": fsync directory");
}

// "00000000000000000042.hrl" -> 42; 0 for anything else.
uint64_t segment_no_of(const std::string &name)
{
    if (name.size() != 24 || name.compare(20, 4, ".hrl") != 0)
        return 0;
    uint64_t no = 0;
    for (size_t i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        no = no * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    return no;
}

} // namespace

Spool::Spool(SpoolOptions opts) : opts_(std::move(opts))
{
    if (opts_.dir.empty())
        throw Error("spool: no directory configured", false);
    if (!opts_.device.device_bytes)
        throw Error("spool " + opts_.dir + ": the protected device's size is unknown", false);
    std::error_code ec;
    std::filesystem::create_directories(opts_.dir, ec);
    if (ec)
        throw Error("spool " + opts_.dir + ": create directory: " + ec.message(), false);
    ack_path_ = opts_.dir + "/acked";
    const uint64_t dev = opts_.device.device_bytes;
    limit_bytes_ = opts_.limit_bytes
                       ? opts_.limit_bytes
                       : dev / 100 * opts_.limit_pct + dev % 100 * opts_.limit_pct / 100;
    acked_seq_ = source::load_cursor(ack_path_).last_seq;
    recover();
}

Spool::~Spool()
{
    // Whatever was appended but not synced was never reported durable: dropping it is the
    // contract, but writing it costs nothing and spares a re-append after a clean stop.
    try {
        if (active_fd_)
            flush_buffer();
    } catch (const std::exception &e) {
        log_warn("spool ", opts_.dir, ": unsynced tail not written at close: ", e.what());
    }
}

std::string Spool::segment_path(uint64_t no) const
{
    char name[32];
    std::snprintf(name, sizeof(name), "%020llu.hrl", static_cast<unsigned long long>(no));
    return opts_.dir + "/" + name;
}

ssize_t Spool::do_write(int fd, const void *buf, size_t len)
{
    return opts_.write_fn ? opts_.write_fn(fd, buf, len) : ::write(fd, buf, len);
}

void Spool::recover()
{
    DIR *d = ::opendir(opts_.dir.c_str());
    if (!d)
        throw_errno("spool " + opts_.dir + ": open directory");
    while (dirent *e = ::readdir(d)) {
        uint64_t no = segment_no_of(e->d_name);
        if (no)
            segments_[no] = Segment{no, segment_path(no), 0, 0};
    }
    ::closedir(d);

    uint64_t prev_last = 0;
    for (auto it = segments_.begin(); it != segments_.end();) {
        bool last = std::next(it) == segments_.end();
        Segment &seg = it->second;
        scan_segment(seg, last);
        if (seg.size == 0) { // header torn at creation: nothing in it was ever durable
            it = segments_.erase(it);
            continue;
        }
        if (seg.last_seq) {
            if (prev_last && index_.size() && seg.last_seq <= prev_last)
                throw Error("spool " + seg.path + ": sequence numbers go backwards", false);
            prev_last = seg.last_seq;
        }
        bytes_ += seg.size;
        ++it;
    }
    next_no_ = segments_.empty() ? 1 : segments_.rbegin()->first + 1;
    appended_seq_ = std::max(prev_last, acked_seq_);
    durable_seq_ = appended_seq_;
    // Entries the ACK already covers are not kept.
    while (!index_.empty() && index_.front().last_seq <= acked_seq_)
        index_.pop_front();
    delete_acked_segments();
    log_info("spool ", opts_.dir, ": ", segments_.size(), " segment(s), ", bytes_, " bytes, ",
             index_.size(), " unacknowledged batch(es), acked seq ", acked_seq_, ", last seq ",
             appended_seq_);
}

void Spool::scan_segment(Segment &seg, bool last)
{
    UniqueFd fd(::open(seg.path.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (!fd)
        throw_errno("spool " + seg.path + ": open");
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        throw_errno("spool " + seg.path + ": fstat");
    uint64_t size = static_cast<uint64_t>(st.st_size);

    uint8_t hbuf[kHdr] = {};
    cbt_spool_seg_hdr hdr;
    const char *field = "";
    int err = CBT_FMT_TRUNCATED;
    if (size >= kHdr) {
        pread_exact(fd.get(), hbuf, kHdr, 0, "spool " + seg.path);
        err = cbt_spool_seg_hdr_decode(hbuf, kHdr, &hdr, &field);
    }
    if (err != CBT_FMT_OK) {
        std::string why = cat("segment header: ", cbt_fmt_err_str(err), " (", field, ")");
        if (!last)
            throw Error("spool " + seg.path + ": " + why, false);
        log_warn("spool ", seg.path, ": removed, ", why, ": a segment torn while being created");
        if (::unlink(seg.path.c_str()) != 0)
            throw_errno("spool " + seg.path + ": unlink");
        seg.size = 0;
        return;
    }
    if (hdr.segment_no != seg.no || hdr.device_bytes != opts_.device.device_bytes ||
        std::strncmp(hdr.name, opts_.device.name.c_str(), sizeof(hdr.name)) != 0)
        throw Error(cat("spool ", seg.path, ": belongs to device ", hdr.name, " (",
                        hdr.device_bytes, " bytes, segment ", hdr.segment_no, "), not ",
                        opts_.device.name, " (", opts_.device.device_bytes, " bytes)"),
                    false);

    const uint64_t dev_sectors = opts_.device.device_bytes >> CBT_SECTOR_SHIFT;
    uint64_t off = kHdr;
    uint64_t expect = hdr.first_seq;
    std::string problem;
    std::vector<uint8_t> buf;
    while (off < size) {
        uint8_t head[sizeof(cbt_batch) + sizeof(cbt_record)];
        if (size - off < sizeof(head)) {
            problem = "truncated batch header";
            break;
        }
        pread_exact(fd.get(), head, sizeof(head), off, "spool " + seg.path);
        cbt_batch b;
        std::memcpy(&b, head, sizeof(b));
        err = cbt_batch_check_hdr(&b);
        if (err == CBT_FMT_OK && size - off - sizeof(b) < b.payload_len)
            err = CBT_FMT_TRUNCATED;
        uint64_t len = sizeof(b) + b.payload_len;
        // Only the last segment can be torn; the others were fdatasync'ed before the next
        // one was created, so their headers are checked here and their records by next().
        if (err == CBT_FMT_OK && last) {
            buf.resize(len);
            pread_exact(fd.get(), buf.data(), len, off, "spool " + seg.path);
            uint64_t got = 0;
            err = cbt_batch_check(buf.data(), len, dev_sectors, &got);
        }
        if (err == CBT_FMT_OK && b.first_seq != expect)
            problem =
                cat("batch ", b.batch_id, " starts at seq ", b.first_seq, ", expected ", expect);
        else if (err != CBT_FMT_OK)
            problem = cat("batch: ", cbt_fmt_err_str(err));
        if (!problem.empty())
            break;
        cbt_record first;
        std::memcpy(&first, head + sizeof(b), sizeof(first));
        if (b.last_seq > acked_seq_)
            index_.push_back(Entry{seg.no, off, len, b.first_seq, b.last_seq, first.timestamp_ns});
        seg.last_seq = b.last_seq;
        expect = b.last_seq + 1;
        off += len;
    }
    if (!problem.empty()) {
        if (!last)
            throw Error(cat("spool ", seg.path, " at offset ", off, ": ", problem,
                            " (not the last segment: the spool is damaged)"),
                        false);
        log_warn("spool ", seg.path, ": cut ", size - off, " byte(s) at offset ", off, ": ",
                 problem, " (a tail torn by a crash; it was never reported durable)");
        if (::ftruncate(fd.get(), static_cast<off_t>(off)) != 0)
            throw_errno("spool " + seg.path + ": truncate");
        size = off;
    }
    if (last && ::fdatasync(fd.get()) != 0)
        throw_errno("spool " + seg.path + ": fdatasync");
    seg.size = size;
}

void Spool::open_active(uint64_t first_seq)
{
    uint64_t no = next_no_;
    std::string path = segment_path(no);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd)
        throw_errno("spool " + path + ": create");
    cbt_spool_seg_hdr hdr;
    cbt_spool_seg_hdr_init(&hdr, opts_.device.name.c_str(), opts_.device.device_id.data(),
                           opts_.device.device_bytes, opts_.device.granularity, no, first_seq,
                           now_ns());
    ssize_t n = do_write(fd.get(), &hdr, sizeof(hdr));
    int err = n < 0 ? errno : EIO;
    if (n != static_cast<ssize_t>(sizeof(hdr)) || ::fdatasync(fd.get()) != 0) {
        if (n == static_cast<ssize_t>(sizeof(hdr)))
            err = errno;
        ::unlink(path.c_str());
        throw_errno("spool " + path + ": write segment header", err);
    }
    fsync_dir(opts_.dir);
    next_no_ = no + 1;
    active_fd_ = std::move(fd);
    active_no_ = no;
    durable_end_ = kHdr;
    std::lock_guard lk(mu_);
    segments_[no] = Segment{no, path, kHdr, 0};
    bytes_ += kHdr;
}

void Spool::check_limits(uint64_t adding)
{
    uint64_t bytes;
    {
        std::lock_guard lk(mu_);
        bytes = bytes_;
    }
    if (bytes + adding > limit_bytes_)
        throw SpoolLimitError(cat("spool ", opts_.dir, ": ", cbt_reason_str(CBT_REASON_SPOOL_LIMIT),
                                  " (", bytes, " + ", adding, " bytes > limit ", limit_bytes_,
                                  ")"));
    if (free_checked_ >= kFreeCheckBytes || !free_valid_) {
        struct statvfs vfs;
        if (::statvfs(opts_.dir.c_str(), &vfs) != 0)
            throw_errno("spool " + opts_.dir + ": statvfs");
        free_bytes_ = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        free_checked_ = 0;
        free_valid_ = true;
    }
    uint64_t avail = free_bytes_ > free_checked_ ? free_bytes_ - free_checked_ : 0;
    if (avail < opts_.reserve_bytes + adding)
        throw SpoolLimitError(cat("spool ", opts_.dir, ": ", cbt_reason_str(CBT_REASON_SPOOL_LIMIT),
                                  " (the spool volume has ", avail, " bytes free, reserve ",
                                  opts_.reserve_bytes, ")"));
}

bool Spool::append(std::span<const uint8_t> bytes)
{
    uint64_t len = 0;
    int err = cbt_batch_check(bytes.data(), bytes.size(),
                              opts_.device.device_bytes >> CBT_SECTOR_SHIFT, &len);
    if (err == CBT_FMT_OK && len != bytes.size())
        err = CBT_FMT_BAD_LENGTH;
    if (err != CBT_FMT_OK)
        throw Error("spool " + opts_.dir + ": append: invalid batch: " + cbt_fmt_err_str(err),
                    false);
    cbt_batch hdr;
    std::memcpy(&hdr, bytes.data(), sizeof(hdr));
    cbt_record first;
    std::memcpy(&first, bytes.data() + sizeof(hdr), sizeof(first));
    return append_impl(hdr, first.timestamp_ns, len,
                       [&](uint8_t *dst) { std::memcpy(dst, bytes.data(), bytes.size()); });
}

bool Spool::append(const source::Batch &batch)
{
    const cbt_batch &hdr = batch.header();
    return append_impl(hdr, batch.records().front().hdr.timestamp_ns, batch.size_bytes(),
                       [&](uint8_t *dst) {
                           std::memcpy(dst, &hdr, sizeof(hdr));
                           dst += sizeof(hdr);
                           for (const auto &r : batch.records()) {
                               std::memcpy(dst, &r.hdr, sizeof(r.hdr));
                               dst += sizeof(r.hdr);
                               if (!r.data.empty())
                                   std::memcpy(dst, r.data.data(), r.data.size());
                               dst += r.data.size();
                           }
                       });
}

bool Spool::append_impl(const cbt_batch &hdr, uint64_t first_ns, uint64_t len,
                        const std::function<void(uint8_t *)> &fill)
{
    uint64_t appended;
    {
        std::lock_guard lk(mu_);
        appended = appended_seq_;
    }
    if (appended && hdr.last_seq <= appended)
        return false; // already spooled: a source redelivering what it did not see committed
    if (jump_ok_ && hdr.first_seq > appended + 1) {
        log_info("spool ", opts_.dir, ": continuing at seq ", hdr.first_seq,
                 " after the drop at seq ", appended);
        appended = 0; // accepted: the log starts again here
    }
    if (appended && hdr.first_seq != appended + 1)
        throw Error(cat("spool ", opts_.dir, ": batch ", hdr.batch_id, " holds seq ", hdr.first_seq,
                        "..", hdr.last_seq, " but the spool ends at seq ", appended,
                        ": sequence numbers must continue"),
                    false);
    check_limits(len);
    if (!active_fd_ || active_size() + len > opts_.segment_bytes) {
        if (active_fd_) {
            // The segment is closed durably before the next one exists, so that only the
            // last segment can ever be torn.
            sync();
        }
        open_active(hdr.first_seq);
    }
    size_t at = wbuf_.size();
    wbuf_.resize(at + len);
    fill(wbuf_.data() + at);
    {
        std::lock_guard lk(mu_);
        Segment &seg = segments_[active_no_];
        index_.push_back(Entry{active_no_, seg.size, len, hdr.first_seq, hdr.last_seq, first_ns});
        seg.size += len;
        seg.last_seq = hdr.last_seq;
        bytes_ += len;
        appended_seq_ = hdr.last_seq;
    }
    free_checked_ += len;
    jump_ok_ = false;
    if (wbuf_.size() >= opts_.write_buffer_bytes)
        flush_buffer();
    return true;
}

uint64_t Spool::active_size() const
{
    std::lock_guard lk(mu_);
    auto it = segments_.find(active_no_);
    return it == segments_.end() ? 0 : it->second.size;
}

void Spool::flush_buffer()
{
    size_t done = 0;
    while (done < wbuf_.size()) {
        ssize_t n = do_write(active_fd_.get(), wbuf_.data() + done, wbuf_.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ENOSPC;
            drop_unsynced();
            throw_errno(cat("spool ", segment_path(active_no_),
                            ": append (everything since "
                            "the last sync was dropped)"),
                        err);
        }
        done += static_cast<size_t>(n);
    }
    if (done)
        dirty_ = true;
    wbuf_.clear();
}

void Spool::drop_unsynced()
{
    wbuf_.clear();
    dirty_ = false;
    if (active_fd_ && ::ftruncate(active_fd_.get(), static_cast<off_t>(durable_end_)) != 0)
        log_error("spool ", segment_path(active_no_), ": cannot cut the unsynced tail back to ",
                  durable_end_, " bytes: ", std::strerror(errno),
                  " (recovery at the next open will cut it)");
    std::lock_guard lk(mu_);
    while (!index_.empty() && index_.back().last_seq > durable_seq_)
        index_.pop_back();
    read_pos_ = std::min(read_pos_, index_.size());
    auto it = segments_.find(active_no_);
    if (it != segments_.end()) {
        bytes_ -= it->second.size - durable_end_;
        it->second.size = durable_end_;
        it->second.last_seq =
            index_.empty() || index_.back().segment_no != active_no_ ? 0 : index_.back().last_seq;
    }
    appended_seq_ = durable_seq_;
}

uint64_t Spool::sync()
{
    if (active_fd_) {
        flush_buffer();
        if (dirty_ && ::fdatasync(active_fd_.get()) != 0) {
            int err = errno;
            drop_unsynced();
            throw_errno("spool " + segment_path(active_no_) + ": fdatasync", err);
        }
        dirty_ = false;
    }
    std::lock_guard lk(mu_);
    if (active_fd_)
        durable_end_ = segments_[active_no_].size;
    durable_seq_ = appended_seq_;
    return durable_seq_;
}

std::optional<source::Batch> Spool::next()
{
    Entry e;
    {
        std::lock_guard lk(mu_);
        if (read_pos_ >= index_.size() || index_[read_pos_].last_seq > durable_seq_)
            return std::nullopt;
        e = index_[read_pos_++];
    }
    std::string path = segment_path(e.segment_no);
    std::vector<uint8_t> bytes(e.len);
    try {
        if (!read_fd_ || read_fd_no_ != e.segment_no) {
            read_fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            read_fd_no_ = e.segment_no;
            if (!read_fd_)
                throw_errno("spool " + path + ": open");
        }
        pread_exact(read_fd_.get(), bytes.data(), e.len, e.offset, "spool " + path);
    } catch (const std::exception &) {
        std::lock_guard lk(mu_);
        if (e.last_seq <= acked_seq_)
            return std::nullopt; // dropped by discard() meanwhile (the writer thread)
        throw;
    }
    return source::Batch(std::move(bytes), opts_.device.device_bytes,
                         cat("spool ", path, " at offset ", e.offset));
}

bool Spool::has_room(uint64_t bytes)
{
    bytes = std::min(bytes, limit_bytes_ / 2); // a small bound: half of it is enough
    free_valid_ = false;
    try {
        check_limits(bytes);
    } catch (const std::exception &) {
        return false;
    }
    return true;
}

void Spool::rewind()
{
    std::lock_guard lk(mu_);
    read_pos_ = 0;
}

void Spool::ack(uint64_t last_seq)
{
    std::lock_guard al(ack_mu_); // with discard(): the ACK point never goes backwards
    {
        std::lock_guard lk(mu_);
        if (last_seq <= acked_seq_)
            return;
        if (last_seq > durable_seq_)
            throw Error(cat("spool ", opts_.dir, ": ACK for seq ", last_seq,
                            " beyond the durable end of the spool (seq ", durable_seq_, ")"),
                        false);
    }
    // Persisted before any segment goes: a crash in between only leaves a segment that the
    // next open deletes.
    source::Cursor c;
    c.offset = kHdr;
    c.last_seq = last_seq;
    source::store_cursor(ack_path_, c);
    std::lock_guard lk(mu_);
    acked_seq_ = last_seq;
    size_t popped = 0;
    while (!index_.empty() && index_.front().last_seq <= acked_seq_) {
        index_.pop_front();
        popped++;
    }
    read_pos_ = read_pos_ > popped ? read_pos_ - popped : 0;
    delete_acked_segments();
}

uint64_t Spool::discard()
{
    std::lock_guard al(ack_mu_);
    wbuf_.clear();
    dirty_ = false;
    uint64_t durable;
    {
        std::lock_guard lk(mu_);
        durable = durable_seq_;
    }
    // The new "acked" point first: once it is on disk every segment is covered, so a crash
    // before the unlinks below leaves only segments the next open deletes.
    // Best effort: on a volume that is full this small write may fail too. The durable
    // record of the drop is the tracker's resync-required state, set before this call;
    // SpoolSource discards again at start while it is set, so stale segments are never
    // shipped after a crash here.
    if (durable > acked_seq_) {
        source::Cursor c;
        c.offset = kHdr;
        c.last_seq = durable;
        try {
            source::store_cursor(ack_path_, c);
        } catch (const std::exception &e) {
            log_warn("spool ", opts_.dir, ": the ACK point of the drop was not saved (", e.what(),
                     "); the segments go anyway");
        }
    }
    active_fd_.reset();
    // read_fd_ is the reader's; it may stay open on an unlinked segment: segment numbers
    // are never reused, so it is never read again.
    jump_ok_ = true;
    std::lock_guard lk(mu_);
    uint64_t dropped = index_.size();
    index_.clear();
    read_pos_ = 0;
    acked_seq_ = std::max(acked_seq_, durable);
    appended_seq_ = durable_seq_ = acked_seq_;
    active_no_ = 0;
    durable_end_ = 0;
    for (auto it = segments_.begin(); it != segments_.end();) {
        if (::unlink(it->second.path.c_str()) != 0 && errno != ENOENT) {
            // Covered by the ACK point: harmless, the next open deletes it.
            log_warn("spool ", it->second.path,
                     ": delete after dropping the log failed: ", std::strerror(errno));
            ++it;
            continue;
        }
        bytes_ -= it->second.size;
        it = segments_.erase(it);
    }
    if (segments_.empty())
        bytes_ = 0;
    // A fresh statvfs for the next append: the space just freed counts.
    free_valid_ = false;
    free_checked_ = 0;
    log_warn("spool ", opts_.dir, ": dropped ", dropped, " unacknowledged batch(es) up to seq ",
             acked_seq_, "; their ranges are left to the whole-device resync");
    return dropped;
}

// Caller holds mu_ (or is the constructor). A whole segment goes once the ACK covers its last
// batch; the segment being appended to stays.
void Spool::delete_acked_segments()
{
    for (auto it = segments_.begin(); it != segments_.end();) {
        const Segment &s = it->second;
        if (s.no == active_no_ || s.last_seq > acked_seq_)
            break; // segments are in seq order: nothing after this one is covered either
        if (::unlink(s.path.c_str()) != 0 && errno != ENOENT) {
            log_warn("spool ", s.path, ": delete after ACK failed: ", std::strerror(errno));
            break;
        }
        log_debug("spool ", s.path, ": deleted, acknowledged up to seq ", acked_seq_);
        bytes_ -= s.size;
        it = segments_.erase(it);
    }
}

SpoolStats Spool::stats() const
{
    std::lock_guard lk(mu_);
    SpoolStats s;
    s.bytes = bytes_;
    s.segments = segments_.size();
    uint64_t vol = free_bytes_ > opts_.reserve_bytes ? free_bytes_ - opts_.reserve_bytes : 0;
    s.limit_bytes = free_valid_ ? std::min(limit_bytes_, bytes_ + vol) : limit_bytes_;
    s.appended_seq = appended_seq_;
    s.durable_seq = durable_seq_;
    s.acked_seq = acked_seq_;
    s.batches = index_.size();
    if (!index_.empty() && index_.front().first_seq <= durable_seq_) {
        s.oldest_unacked_seq = index_.front().first_seq;
        s.oldest_unacked_ns = index_.front().first_ns;
    }
    return s;
}

} // namespace cbtrep::spool
