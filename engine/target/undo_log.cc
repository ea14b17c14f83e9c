#include "undo_log.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/error.h"

namespace cbtrep::target
{
namespace
{

constexpr uint64_t kChunk = 4u << 20; // undo record size limit: bounds memory

uint32_t rec_crc(const UndoRecord &r)
{
    return cbt_crc32c(0, &r, offsetof(UndoRecord, hdr_crc));
}

bool all_zero(const uint8_t *p, size_t n)
{
    // Word at a time; the tail is handled bytewise.
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (w)
            return false;
    }
    for (; i < n; i++)
        if (p[i])
            return false;
    return true;
}

} // namespace

UndoLog::UndoLog(std::string path) : path_(std::move(path))
{
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_)
        throw_errno(cat("opening undo log ", path_));
}

void UndoLog::truncate()
{
    if (::ftruncate(fd_.get(), 0) != 0)
        throw_errno(cat("truncating undo log ", path_));
    end_ = 0;
    entries_.clear();
    active_ = false;
}

void UndoLog::append(UndoRecord &rec, const uint8_t *data)
{
    rec.magic = kUndoMagic;
    rec.version = kUndoVersion;
    rec.data_crc = rec.data_len ? cbt_crc32c(0, data, rec.data_len) : 0;
    rec.hdr_crc = rec_crc(rec);
    iovec iov[2] = {{&rec, sizeof(rec)}, {const_cast<uint8_t *>(data), rec.data_len}};
    size_t total = sizeof(rec) + rec.data_len;
    size_t done = 0;
    int iovcnt = rec.data_len ? 2 : 1;
    while (done < total) {
        ssize_t n = ::pwritev(fd_.get(), iov, iovcnt, static_cast<off_t>(end_ + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(cat("writing undo log ", path_));
        done += static_cast<size_t>(n);
        // Short write: advance the iovecs.
        size_t skip = static_cast<size_t>(n);
        while (iovcnt && skip >= iov[0].iov_len) {
            skip -= iov[0].iov_len;
            iov[0] = iov[1];
            --iovcnt;
        }
        if (iovcnt) {
            iov[0].iov_base = static_cast<uint8_t *>(iov[0].iov_base) + skip;
            iov[0].iov_len -= skip;
        }
    }
    entries_.push_back({end_, rec});
    end_ += total;
}

void UndoLog::begin(uint64_t batch_id, uint64_t first_seq, uint64_t last_seq)
{
    truncate();
    UndoRecord r{};
    r.type = kUndoBegin;
    r.batch_id = batch_id;
    r.first_seq = first_seq;
    r.last_seq = last_seq;
    append(r, nullptr);
    batch_ = r;
    active_ = true;
}

void UndoLog::save(ReplicaFile &replica, uint64_t offset, uint64_t length)
{
    if (!active_)
        throw Error("undo save outside a batch (bug)", false);
    uint64_t end = offset + length;
    while (offset < end) {
        UndoRecord r{};
        r.batch_id = batch_.batch_id;
        r.first_seq = batch_.first_seq;
        r.last_seq = batch_.last_seq;
        r.offset = offset;
        // Holes of a sparse image are recorded as "zero" without reading them.
        uint64_t data = std::min(replica.next_data(offset), end);
        if (data > offset) {
            r.type = kUndoZero;
            r.length = data - offset;
            append(r, nullptr);
            offset = data;
            continue;
        }
        uint64_t n = std::min(end - offset, kChunk);
        buf_.resize(n);
        replica.read(offset, buf_);
        r.length = n;
        if (all_zero(buf_.data(), n)) {
            r.type = kUndoZero;
            append(r, nullptr);
        } else {
            r.type = kUndoData;
            r.data_len = static_cast<uint32_t>(n);
            append(r, buf_.data());
        }
        offset += n;
    }
}

void UndoLog::sync()
{
    if (::fdatasync(fd_.get()) != 0)
        throw_errno(cat("syncing undo log ", path_));
}

size_t UndoLog::play_back(ReplicaFile &replica, const std::vector<Entry> &entries)
{
    size_t applied = 0;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const UndoRecord &r = it->rec;
        if (r.type == kUndoZero) {
            replica.zero(r.offset, r.length, false);
        } else if (r.type == kUndoData) {
            buf_.resize(r.data_len);
            size_t done = 0;
            while (done < r.data_len) {
                ssize_t n = ::pread(fd_.get(), buf_.data() + done, r.data_len - done,
                                    static_cast<off_t>(it->file_off + sizeof(r) + done));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    throw_errno(cat("reading undo log ", path_), n == 0 ? EIO : errno);
                done += static_cast<size_t>(n);
            }
            if (cbt_crc32c(0, buf_.data(), r.data_len) != r.data_crc)
                throw Error(cat("undo log ", path_, ": data checksum mismatch at ", it->file_off),
                            false);
            replica.write(r.offset, buf_);
        } else {
            continue;
        }
        ++applied;
    }
    replica.sync();
    return applied;
}

size_t UndoLog::rollback(ReplicaFile &replica)
{
    if (!active_)
        return 0;
    size_t n = play_back(replica, entries_);
    truncate();
    return n;
}

void UndoLog::clear()
{
    truncate();
}

void UndoLog::retire(const std::string &dest)
{
    if (::fdatasync(fd_.get()) != 0)
        throw_errno(cat("syncing undo log ", path_));
    if (::rename(path_.c_str(), dest.c_str()) != 0)
        throw_errno(cat("moving undo log ", path_, " to ", dest));
    for (const std::string &p : {dest, path_}) {
        std::string dir = p.substr(0, p.rfind('/'));
        UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!d || ::fsync(d.get()) != 0)
            throw_errno(cat("syncing directory ", dir));
    }
    UniqueFd fresh(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fresh)
        throw_errno(cat("creating undo log ", path_));
    fd_ = std::move(fresh);
    end_ = 0;
    entries_.clear();
    active_ = false;
}

UndoLog::Recovery UndoLog::recover(ReplicaFile &replica, uint64_t applied_seq,
                                   const RetireTo &retire_to)
{
    Recovery res;
    std::vector<Entry> entries;
    uint64_t off = 0;
    UndoRecord first{};
    for (;;) {
        UndoRecord r{};
        ssize_t n = ::pread(fd_.get(), &r, sizeof(r), static_cast<off_t>(off));
        if (n < 0)
            throw_errno(cat("reading undo log ", path_));
        if (static_cast<size_t>(n) < sizeof(r))
            break;
        // A record that fails any check was being written when we stopped: it, and
        // everything after it, was never synced, so the replica was not written under it.
        if (r.magic != kUndoMagic || r.version != kUndoVersion || r.hdr_crc != rec_crc(r))
            break;
        if (entries.empty()) {
            if (r.type != kUndoBegin)
                break;
            first = r;
        } else if (r.type == kUndoBegin || r.batch_id != first.batch_id ||
                   (r.type == kUndoData && r.data_len != r.length) ||
                   (r.type != kUndoData && r.data_len) || r.offset > replica.size() ||
                   r.length > replica.size() - r.offset) {
            break;
        }
        if (r.data_len) {
            buf_.resize(r.data_len);
            ssize_t m =
                ::pread(fd_.get(), buf_.data(), r.data_len, static_cast<off_t>(off + sizeof(r)));
            if (m != static_cast<ssize_t>(r.data_len) ||
                cbt_crc32c(0, buf_.data(), r.data_len) != r.data_crc)
                break;
        }
        entries.push_back({off, r});
        off += sizeof(r) + r.data_len;
    }
    if (!entries.empty()) {
        res.found = true;
        res.batch_id = first.batch_id;
        res.first_seq = first.first_seq;
        res.last_seq = first.last_seq;
        if (first.last_seq > applied_seq) {
            res.records = play_back(replica, entries);
            res.rolled_back = true;
        } else if (retire_to && entries.size() > 1) {
            // Committed before the crash but not yet kept: keep the well-formed prefix (all
            // of it was synced before the replica was written).
            if (::ftruncate(fd_.get(), static_cast<off_t>(off)) != 0)
                throw_errno(cat("truncating undo log ", path_));
            retire(retire_to(first.first_seq, first.last_seq));
            res.retired = true;
            return res;
        }
    }
    truncate();
    if (::fdatasync(fd_.get()) != 0)
        throw_errno(cat("syncing undo log ", path_));
    return res;
}

} // namespace cbtrep::target
