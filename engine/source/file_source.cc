#include "file_source.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <cbtrep/bitmap.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cbtrep::source
{

namespace
{

// A batch larger than this is taken as a corrupt length rather than allocated.
constexpr uint64_t max_batch_bytes = 1ull << 30;

[[noreturn]] void sys_fail(const std::string &what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

std::string dir_of(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

Cursor load_cursor(const std::string &path)
{
    Cursor c;
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT)
            return c;
        sys_fail("cursor " + path + ": open");
    }
    std::string magic;
    int version = 0;
    in >> magic >> version >> c.offset >> c.batch_id >> c.last_seq;
    if (!in || magic != "cbtrep-cursor" || version != 1 || c.offset < sizeof(cbt_stream_hdr))
        throw std::runtime_error("cursor " + path +
                                 ": unreadable (expected \"cbtrep-cursor 1 OFFSET BATCH SEQ\")");
    return c;
}

void store_cursor(const std::string &path, const Cursor &c)
{
    std::string tmp = path + ".tmp";
    std::string text = "cbtrep-cursor 1 " + std::to_string(c.offset) + " " +
                       std::to_string(c.batch_id) + " " + std::to_string(c.last_seq) + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        sys_fail("cursor " + tmp + ": open");
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = errno;
    if (n != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) {
        if (n >= 0 && n != static_cast<ssize_t>(text.size()))
            err = EIO;
        else
            err = errno ? errno : err;
        ::close(fd);
        errno = err;
        sys_fail("cursor " + tmp + ": write");
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        sys_fail("cursor " + path + ": rename");
    // The rename itself must survive a crash, or a restart would resend from an older cursor
    // (harmless, but it is the directory fsync that makes the commit real).
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

namespace
{
void atomic_write(const std::string &path, const std::string &text, const char *what)
{
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        sys_fail(std::string(what) + " " + tmp + ": open");
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = n < 0 ? errno : EIO;
    if (n != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0) {
        if (n == static_cast<ssize_t>(text.size()))
            err = errno;
        ::close(fd);
        errno = err;
        sys_fail(std::string(what) + " " + tmp + ": write");
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        sys_fail(std::string(what) + " " + path + ": rename");
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}
} // namespace

TrackerFile load_tracker_file(const std::string &path)
{
    TrackerFile t;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT)
        return t;
    std::ifstream in(path);
    if (!in)
        sys_fail("tracker state " + path + ": open");
    std::string magic, state;
    int version = 0;
    in >> magic >> version >> state >> t.reason;
    if (!in || magic != "cbtrep-tracker" || version != 1 ||
        (state != "dirty" && state != "resync-required" && state != "clean") ||
        t.reason > CBT_REASON_MAX)
        throw std::runtime_error("tracker state " + path +
                                 ": unreadable (expected \"cbtrep-tracker 1 "
                                 "dirty|resync-required REASON [REQUIRED_GEN [CUT_GEN]]\")");
    t.state = state == "dirty"   ? CBT_STATE_DIRTY
              : state == "clean" ? CBT_STATE_CLEAN
                                 : CBT_STATE_RESYNC_REQUIRED;
    // Optional: a hand-written "resync-required" file is cleared by any resync.
    if (!(in >> t.required_gen))
        t.required_gen = 0;
    else if (!(in >> t.cut_gen))
        t.cut_gen = 0;
    return t;
}

void store_tracker_file(const std::string &path, const TrackerFile &t)
{
    atomic_write(path,
                 "cbtrep-tracker 1 " + std::string(cbt_state_str(t.state)) + " " +
                     std::to_string(t.reason) + " " + std::to_string(t.required_gen) + " " +
                     std::to_string(t.cut_gen) + "\n",
                 "tracker state");
}

FileSource::FileSource(FileSourceOptions opts) : opts_(std::move(opts))
{
    if (opts_.cursor_path.empty())
        opts_.cursor_path = opts_.stream_path + ".cursor";
    if (opts_.tracker_path.empty())
        opts_.tracker_path = opts_.stream_path + ".tracker";
    if (opts_.bitmap_dir.empty())
        opts_.bitmap_dir = opts_.stream_path + ".bitmaps";
    fd_ = ::open(opts_.stream_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
        sys_fail("stream " + opts_.stream_path + ": open");

    cbt_stream_hdr raw{};
    if (file_size() < sizeof(raw))
        fail(0, "file shorter than the stream header");
    read_exact(0, &raw, sizeof(raw));
    cbt_stream_hdr hdr{};
    int err = cbt_stream_hdr_decode(&raw, sizeof(raw), &hdr);
    if (err != CBT_FMT_OK)
        fail(0, std::string("stream header: ") + cbt_fmt_err_str(err));
    info_.name = hdr.name;
    info_.device_bytes = hdr.device_bytes;
    info_.granularity = hdr.granularity;
    std::memcpy(info_.device_id.data(), hdr.device_id, sizeof(hdr.device_id));

    committed_ = load_cursor(opts_.cursor_path);
    if (committed_.offset > file_size())
        throw std::runtime_error("cursor " + opts_.cursor_path + " points at offset " +
                                 std::to_string(committed_.offset) + ", past the end of " +
                                 opts_.stream_path + " (" + std::to_string(file_size()) +
                                 " bytes): not the stream it was written for");
    rewind();
}

FileSource::~FileSource()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void FileSource::fail(uint64_t offset, const std::string &what) const
{
    throw std::runtime_error("stream " + opts_.stream_path + " at offset " +
                             std::to_string(offset) + ": " + what);
}

uint64_t FileSource::file_size() const
{
    struct stat st;
    if (::fstat(fd_, &st) != 0)
        sys_fail("stream " + opts_.stream_path + ": fstat");
    return static_cast<uint64_t>(st.st_size);
}

void FileSource::read_exact(uint64_t offset, void *buf, size_t len) const
{
    auto *p = static_cast<uint8_t *>(buf);
    while (len) {
        ssize_t n = ::pread(fd_, p, len, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            sys_fail("stream " + opts_.stream_path + ": read at offset " + std::to_string(offset));
        }
        if (n == 0)
            fail(offset, "unexpected end of file");
        p += n;
        offset += static_cast<uint64_t>(n);
        len -= static_cast<size_t>(n);
    }
}

std::optional<Batch> FileSource::next_batch()
{
    if (outstanding_.size() >= max_outstanding())
        return std::nullopt;
    uint64_t size = file_size();
    uint64_t off = read_pos_;
    if (off == size)
        return std::nullopt;
    if (size - off < sizeof(cbt_batch)) {
        if (opts_.follow)
            return std::nullopt;
        fail(off, "truncated batch header (" + std::to_string(size - off) + " bytes left)");
    }
    cbt_batch hdr{};
    read_exact(off, &hdr, sizeof(hdr));
    int err = cbt_batch_check_hdr(&hdr);
    if (err != CBT_FMT_OK)
        fail(off, std::string("batch header: ") + cbt_fmt_err_str(err));
    if (hdr.payload_len > max_batch_bytes)
        fail(off, "batch payload of " + std::to_string(hdr.payload_len) + " bytes is too large");
    uint64_t total = sizeof(hdr) + hdr.payload_len;
    if (size - off < total) {
        if (opts_.follow)
            return std::nullopt;
        fail(off, "truncated batch " + std::to_string(hdr.batch_id) + " (needs " +
                      std::to_string(total) + " bytes, " + std::to_string(size - off) + " left)");
    }
    if (last_id_ && hdr.batch_id <= last_id_)
        fail(off, "batch id " + std::to_string(hdr.batch_id) + " does not increase (previous " +
                      std::to_string(last_id_) + ")");
    if (last_seq_ && hdr.first_seq != last_seq_ + 1)
        fail(off, "sequence gap: batch starts at " + std::to_string(hdr.first_seq) +
                      ", previous ended at " + std::to_string(last_seq_));

    std::vector<uint8_t> bytes(total);
    read_exact(off, bytes.data(), total);
    Batch batch(std::move(bytes), info_.device_bytes,
                "stream " + opts_.stream_path + " at offset " + std::to_string(off));
    for (const auto &r : batch.records())
        if (r.hdr.type == CBT_REC_GAP)
            last_gap_generation_ = r.hdr.aux;
    read_pos_ = off + total;
    last_id_ = hdr.batch_id;
    last_seq_ = hdr.last_seq;
    last_mode_ = hdr.mode;
    outstanding_.push_back({hdr.batch_id, read_pos_, hdr.last_seq});
    return batch;
}

void FileSource::commit(uint64_t batch_id)
{
    if (outstanding_.empty() || outstanding_.front().batch_id != batch_id)
        throw std::logic_error("stream " + opts_.stream_path + ": commit of batch " +
                               std::to_string(batch_id) + " which is not the oldest outstanding");
    const HandedOut h = outstanding_.front();
    Cursor c{h.end_offset, h.batch_id, h.last_seq};
    store_cursor(opts_.cursor_path, c);
    committed_ = c;
    outstanding_.pop_front();
}

void FileSource::rewind()
{
    outstanding_.clear();
    read_pos_ = committed_.offset;
    last_id_ = committed_.batch_id;
    last_seq_ = committed_.last_seq;
}

bool FileSource::wait(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        uint64_t size = file_size();
        if (outstanding_.size() < max_outstanding() && size - read_pos_ >= sizeof(cbt_batch)) {
            cbt_batch hdr{};
            read_exact(read_pos_, &hdr, sizeof(hdr));
            // An invalid header is "ready" too: next_batch() reports it.
            if (cbt_batch_check_hdr(&hdr) != CBT_FMT_OK ||
                size - read_pos_ >= sizeof(hdr) + hdr.payload_len || !opts_.follow)
                return true;
        } else if (!opts_.follow && size != read_pos_ && outstanding_.size() < max_outstanding()) {
            return true; // a truncated tail: next_batch() reports it
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return false;
        // No inotify: a file source is for tests and imports, polling at 20 Hz is enough.
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            deadline - now, std::chrono::milliseconds(50)));
    }
}

Status FileSource::status()
{
    Status s;
    s.mode = last_mode_;
    s.mode_reason = CBT_REASON_NONE;
    TrackerFile t = load_tracker_file(opts_.tracker_path);
    s.state = t.state == CBT_STATE_CLEAN ? uint32_t(CBT_STATE_DIRTY) : t.state; // attached = dirty
    s.state_reason = t.reason;
    uint64_t size = file_size();
    s.backlog_bytes = size > committed_.offset ? size - committed_.offset : 0;
    s.committed_seq = committed_.last_seq;
    s.next_seq = last_seq_ + 1;
    s.records_pending = last_seq_ - committed_.last_seq;
    return s;
}

uint64_t FileSource::bitmap_cut(uint64_t)
{
    // The dump for a GAP was written with the stream; "cutting" names the newest one seen.
    if (last_gap_generation_ > last_cut_generation_)
        return last_cut_generation_ = last_gap_generation_;
    TrackerFile t = load_tracker_file(opts_.tracker_path);
    if (t.state == CBT_STATE_RESYNC_REQUIRED) {
        // The cut a resync follows: a generation of its own, after every one named so far.
        t.cut_gen = std::max({t.cut_gen, last_cut_generation_, last_gap_generation_}) + 1;
        store_tracker_file(opts_.tracker_path, t);
        return last_cut_generation_ = t.cut_gen;
    }
    if (!last_gap_generation_)
        throw std::runtime_error("stream " + opts_.stream_path +
                                 ": bitmap cut requested but no GAP record has been read");
    return last_gap_generation_;
}

Bitmap FileSource::bitmap_read(uint64_t generation)
{
    std::string path = opts_.bitmap_dir + "/" + std::to_string(generation) + ".cbtm";
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("bitmap dump " + path + ": cannot open (generation " +
                                 std::to_string(generation) + " named by a GAP record)");
    std::vector<uint8_t> buf((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    cbt_bitmap_hdr hdr{};
    const uint8_t *bits = nullptr;
    int err = cbt_bitmap_decode(buf.data(), buf.size(), &hdr, &bits);
    if (err != CBT_FMT_OK)
        throw std::runtime_error("bitmap dump " + path + ": " + cbt_fmt_err_str(err));
    if (hdr.generation != generation || hdr.device_bytes != info_.device_bytes)
        throw std::runtime_error("bitmap dump " + path + ": generation " +
                                 std::to_string(hdr.generation) + " / device size " +
                                 std::to_string(hdr.device_bytes) + " do not match the stream");
    Bitmap b;
    b.generation = hdr.generation;
    b.device_bytes = hdr.device_bytes;
    b.granularity = hdr.granularity;
    b.nr_bits = hdr.nr_bits;
    b.bits.assign(bits, bits + hdr.bits_len);
    return b;
}

ResyncReply FileSource::require_resync(uint32_t reason)
{
    if (reason == CBT_REASON_NONE || reason > CBT_REASON_MAX)
        throw std::invalid_argument("tracker state " + opts_.tracker_path +
                                    ": resync-required needs a reason, not " +
                                    std::to_string(reason));
    TrackerFile t = load_tracker_file(opts_.tracker_path);
    t.state = CBT_STATE_RESYNC_REQUIRED;
    t.reason = reason;
    // The generation active now: a DONE for a cut made before now does not clear it.
    t.required_gen = std::max({t.cut_gen, last_cut_generation_, last_gap_generation_}) + 1;
    store_tracker_file(opts_.tracker_path, t);
    return {false, t.state, t.reason};
}

ResyncReply FileSource::resync_done(uint64_t generation)
{
    TrackerFile t = load_tracker_file(opts_.tracker_path);
    uint64_t active = std::max({t.cut_gen, last_cut_generation_, last_gap_generation_}) + 1;
    if (generation == 0 || generation >= active)
        throw std::invalid_argument("tracker state " + opts_.tracker_path +
                                    ": resync done as of generation " + std::to_string(generation) +
                                    ", which no cut has produced (EINVAL)");
    if (t.state != CBT_STATE_RESYNC_REQUIRED)
        return {true, t.state, t.reason};
    if (t.required_gen > generation)
        return {false, t.state, t.reason}; // required again after that cut (EAGAIN)
    t.state = CBT_STATE_DIRTY;
    t.reason = CBT_REASON_NONE;
    store_tracker_file(opts_.tracker_path, t);
    return {true, t.state, t.reason};
}

} // namespace cbtrep::source
