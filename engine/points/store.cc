#include "points/store.h"

#include "points/pread_full.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbtrep/crc32c.h>

namespace cbtrep::points
{
namespace
{

[[noreturn]] void fail_errno(const std::string &what, int err = errno)
{
    throw StoreError(what + ": " + std::strerror(err));
}

class Fd
{
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const noexcept { return fd_; }

  private:
    int fd_;
};

// A short read is a failure here: the file was sized by fstat just before.
bool read_all(int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n = pread_full(fd, buf, len, off);
    return n >= 0 && static_cast<size_t>(n) == len;
}

// Reads a whole small file; nullopt when it does not exist.
std::optional<std::vector<uint8_t>> slurp(const std::string &path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return std::nullopt;
        fail_errno("opening " + path);
    }
    Fd f(fd);
    struct stat sb {
    };
    if (::fstat(fd, &sb) != 0)
        fail_errno("stat " + path);
    std::vector<uint8_t> buf(static_cast<size_t>(sb.st_size));
    if (!buf.empty() && !read_all(fd, buf.data(), buf.size(), 0))
        fail_errno("reading " + path, errno ? errno : EIO);
    return buf;
}

uint32_t point_crc(const PointRecord &p)
{
    return cbt_crc32c(0, &p, offsetof(PointRecord, crc));
}

} // namespace

uint64_t wall_ns()
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

void fsync_dir(const std::string &dir)
{
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        fail_errno("opening directory " + dir);
    Fd f(fd);
    if (::fsync(fd) != 0)
        fail_errno("syncing directory " + dir);
}

void write_atomic(const std::string &path, const void *data, size_t len)
{
    std::string tmp = path + ".tmp";
    {
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            fail_errno("creating " + tmp);
        Fd f(fd);
        size_t done = 0;
        while (done < len) {
            ssize_t n = ::write(fd, static_cast<const uint8_t *>(data) + done, len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                fail_errno("writing " + tmp);
            done += static_cast<size_t>(n);
        }
        if (::fdatasync(fd) != 0)
            fail_errno("syncing " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        fail_errno("renaming " + tmp + " to " + path);
    fsync_dir(path.substr(0, path.rfind('/')));
}

void seal(PointRecord &p)
{
    p.magic = target::kPointMagic;
    p.version = target::kPointVersion;
    p.hdr_len = sizeof(PointRecord);
    p.crc = point_crc(p);
}

bool point_valid(const PointRecord &p)
{
    return p.magic == target::kPointMagic && p.version == target::kPointVersion &&
           p.hdr_len == sizeof(PointRecord) && p.crc == point_crc(p);
}

StoreLock::StoreLock(const std::string &path, bool wait)
{
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_errno("opening " + path);
    if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        int err = errno;
        ::close(fd);
        if (!wait && err == EWOULDBLOCK)
            return;
        fail_errno("locking " + path, err);
    }
    fd_ = fd;
}

StoreLock &StoreLock::operator=(StoreLock &&o) noexcept
{
    if (this != &o) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = o.fd_;
        o.fd_ = -1;
    }
    return *this;
}

StoreLock::~StoreLock()
{
    if (fd_ >= 0)
        ::close(fd_);
}

Store::Store(std::string state_dir, std::string replica)
    : state_dir_(std::move(state_dir)), replica_(std::move(replica)),
      dir_(state_dir_ + "/" + replica_ + ".history")
{
}

std::string Store::segment_path(uint64_t first_seq, uint64_t last_seq) const
{
    char name[64];
    std::snprintf(name, sizeof(name), "/%016" PRIx64 "-%016" PRIx64 ".seg", first_seq, last_seq);
    return dir_ + name;
}

void Store::ensure_dir() const
{
    if (::mkdir(dir_.c_str(), 0700) == 0) {
        fsync_dir(state_dir_);
        return;
    }
    if (errno != EEXIST)
        fail_errno("creating " + dir_);
}

std::vector<Segment> Store::segments() const
{
    std::vector<Segment> out;
    DIR *d = ::opendir(dir_.c_str());
    if (!d) {
        if (errno == ENOENT)
            return out;
        fail_errno("listing " + dir_);
    }
    while (dirent *e = ::readdir(d)) {
        uint64_t a = 0, b = 0;
        int used = 0;
        if (std::strlen(e->d_name) != 37 ||
            std::sscanf(e->d_name, "%16" SCNx64 "-%16" SCNx64 ".seg%n", &a, &b, &used) != 2 ||
            used != 37)
            continue;
        Segment s;
        s.first_seq = a;
        s.last_seq = b;
        s.path = dir_ + "/" + e->d_name;
        struct stat sb {
        };
        if (::stat(s.path.c_str(), &sb) != 0)
            continue; // removed while we listed
        s.bytes = static_cast<uint64_t>(sb.st_size);
        out.push_back(std::move(s));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(),
              [](const Segment &x, const Segment &y) { return x.first_seq < y.first_seq; });
    return out;
}

uint64_t Store::bytes() const
{
    uint64_t n = 0;
    for (const Segment &s : segments())
        n += s.bytes;
    return n;
}

std::vector<PointRecord> Store::load_points() const
{
    std::string path = dir_ + "/points";
    auto buf = slurp(path);
    std::vector<PointRecord> out;
    if (!buf)
        return out;
    target::CatalogHeader h{};
    if (buf->size() < sizeof(h))
        throw StoreError("point catalog " + path + ": truncated header");
    std::memcpy(&h, buf->data(), sizeof(h));
    if (h.magic != target::kCatalogMagic || h.version != target::kPointVersion ||
        h.hdr_len != sizeof(h) || h.rec_len != sizeof(PointRecord) ||
        h.crc != cbt_crc32c(0, &h, offsetof(target::CatalogHeader, crc)))
        throw StoreError("point catalog " + path + ": bad header (magic, version or CRC)");
    if (buf->size() != sizeof(h) + uint64_t(h.count) * sizeof(PointRecord))
        throw StoreError("point catalog " + path + ": " + std::to_string(buf->size()) +
                         " bytes, header says " + std::to_string(h.count) + " points");
    for (uint32_t i = 0; i < h.count; i++) {
        PointRecord p;
        std::memcpy(&p, buf->data() + sizeof(h) + i * sizeof(PointRecord), sizeof(p));
        if (!point_valid(p))
            throw StoreError("point catalog " + path + ": point record " + std::to_string(i) +
                             " is corrupt (CRC)");
        out.push_back(p);
    }
    return out;
}

void Store::save_points(const std::vector<PointRecord> &pts) const
{
    ensure_dir();
    target::CatalogHeader h{};
    h.magic = target::kCatalogMagic;
    h.version = target::kPointVersion;
    h.hdr_len = sizeof(h);
    h.count = static_cast<uint32_t>(pts.size());
    h.rec_len = sizeof(PointRecord);
    h.crc = cbt_crc32c(0, &h, offsetof(target::CatalogHeader, crc));
    std::vector<uint8_t> buf(sizeof(h) + pts.size() * sizeof(PointRecord));
    std::memcpy(buf.data(), &h, sizeof(h));
    for (size_t i = 0; i < pts.size(); i++) {
        PointRecord p = pts[i];
        seal(p);
        std::memcpy(buf.data() + sizeof(h) + i * sizeof(p), &p, sizeof(p));
    }
    write_atomic(dir_ + "/points", buf.data(), buf.size());
}

std::optional<PointRecord> Store::find_point(uint64_t id) const
{
    for (const PointRecord &p : load_points())
        if (p.id == id)
            return p;
    return std::nullopt;
}

std::set<uint64_t> Store::holds() const
{
    std::set<uint64_t> out;
    DIR *d = ::opendir(dir_.c_str());
    if (!d)
        return out;
    while (dirent *e = ::readdir(d)) {
        unsigned long long id = 0;
        int used = 0;
        if (std::sscanf(e->d_name, "hold-%llu%n", &id, &used) == 1 &&
            used == static_cast<int>(std::strlen(e->d_name)))
            out.insert(id);
    }
    ::closedir(d);
    return out;
}

void Store::add_hold(uint64_t id, const std::string &why) const
{
    ensure_dir();
    write_atomic(dir_ + "/hold-" + std::to_string(id), why.data(), why.size());
}

void Store::remove_hold(uint64_t id) const
{
    std::string p = dir_ + "/hold-" + std::to_string(id);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
        fail_errno("removing " + p);
    fsync_dir(dir_);
}

StoreLock Store::lock(bool wait) const
{
    ensure_dir();
    return StoreLock(dir_ + "/lock", wait);
}

std::optional<IntentRecord> Store::load_intent() const
{
    auto buf = slurp(intent_path());
    if (!buf)
        return std::nullopt;
    IntentRecord r{};
    if (buf->size() != sizeof(r))
        throw StoreError("rollback intent " + intent_path() + ": wrong size " +
                         std::to_string(buf->size()));
    std::memcpy(&r, buf->data(), sizeof(r));
    if (r.magic != target::kIntentMagic || r.version != target::kPointVersion ||
        r.hdr_len != sizeof(r) || r.crc != cbt_crc32c(0, &r, offsetof(IntentRecord, crc)))
        throw StoreError("rollback intent " + intent_path() + ": corrupt (magic, version or CRC)");
    return r;
}

void Store::save_intent(IntentRecord &r) const
{
    r.magic = target::kIntentMagic;
    r.version = target::kPointVersion;
    r.hdr_len = sizeof(r);
    r.crc = cbt_crc32c(0, &r, offsetof(IntentRecord, crc));
    write_atomic(intent_path(), &r, sizeof(r));
}

void Store::remove_intent() const
{
    if (::unlink(intent_path().c_str()) != 0 && errno != ENOENT)
        fail_errno("removing " + intent_path());
    fsync_dir(state_dir_);
}

void Store::remove_catalog() const
{
    std::string p = dir_ + "/points";
    ::unlink((p + ".tmp").c_str());
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
        fail_errno("removing " + p);
    fsync_dir(dir_);
}

void Store::remove_segment(const Segment &s) const
{
    if (::unlink(s.path.c_str()) != 0 && errno != ENOENT)
        fail_errno("removing " + s.path);
}

void Store::reset() const
{
    save_points({});
    for (const Segment &s : segments())
        remove_segment(s);
    fsync_dir(dir_);
}

namespace
{

// Segments older than the oldest retained point serve nobody (with no points: none do).
void drop_unneeded_segments(const Store &st, const std::vector<Segment> &segs,
                            const std::vector<PointRecord> &pts, PruneResult &res)
{
    uint64_t keep_after = pts.empty() ? UINT64_MAX : pts.front().batch_last_seq;
    for (const Segment &s : segs) {
        if (s.first_seq > keep_after)
            continue;
        st.remove_segment(s);
        res.segments++;
        res.bytes += s.bytes;
    }
    if (res.segments)
        fsync_dir(st.dir());
}

} // namespace

PruneResult prune(const Store &st, const Retention &r, uint64_t now_ns)
{
    PruneResult res;
    if (!r.max_age_s && !r.max_bytes)
        return res;
    std::vector<PointRecord> pts = st.load_points();
    std::vector<Segment> segs = st.segments();
    std::set<uint64_t> held = st.holds();
    // Bytes still needed if the points from index i on are kept: segments after point i.
    auto needed = [&](size_t i) {
        uint64_t n = 0;
        if (i >= pts.size())
            return n;
        for (const Segment &s : segs)
            if (s.first_seq > pts[i].batch_last_seq)
                n += s.bytes;
        return n;
    };
    size_t drop = 0;
    while (drop < pts.size()) {
        const PointRecord &p = pts[drop];
        bool too_old = r.max_age_s && now_ns > p.reached_ns &&
                       now_ns - p.reached_ns > r.max_age_s * 1000000000ull;
        bool too_big = r.max_bytes && needed(drop) > r.max_bytes;
        if (!too_old && !too_big)
            break;
        if (held.count(p.id)) {
            res.stopped_at_hold = p.id;
            break;
        }
        drop++;
    }
    if (drop) {
        res.points = drop;
        pts.erase(pts.begin(), pts.begin() + static_cast<long>(drop));
        st.save_points(pts);
    }
    drop_unneeded_segments(st, segs, pts, res);
    return res;
}

PruneResult drop_oldest(const Store &st)
{
    PruneResult res;
    std::vector<PointRecord> pts = st.load_points();
    if (!pts.empty()) {
        if (st.holds().count(pts.front().id)) {
            res.stopped_at_hold = pts.front().id;
            return res;
        }
        pts.erase(pts.begin());
        try {
            st.save_points(pts);
            res.points = 1;
        } catch (const StoreError &) {
            // Too full even for the small catalog: forget every point (removing the
            // catalog needs no space), then their history.
            res.points = pts.size() + 1;
            pts.clear();
            st.remove_catalog();
        }
    }
    drop_unneeded_segments(st, st.segments(), pts, res);
    return res;
}

} // namespace cbtrep::points
