#include "state_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fd.h"

namespace cbtrep::target
{
namespace
{

uint32_t state_crc(const StateRecord &r)
{
    return cbt_crc32c(0, &r, offsetof(StateRecord, crc));
}

void write_all(int fd, const void *buf, size_t len, const std::string &path)
{
    auto *p = static_cast<const uint8_t *>(buf);
    while (len) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(cat("writing ", path));
        p += n;
        len -= static_cast<size_t>(n);
    }
}

} // namespace

StateRecord new_state(uint64_t replica_bytes)
{
    StateRecord r{};
    r.magic = kStateMagic;
    r.version = kStateVersion;
    r.hdr_len = sizeof(StateRecord);
    r.replica_bytes = replica_bytes;
    r.flags = kStateConsistent; // an empty replica is a (trivially) consistent point
    std::random_device rd;
    for (auto &b : r.replica_id)
        b = static_cast<uint8_t>(rd());
    return r;
}

bool StateFile::load(StateRecord &out) const
{
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            return false;
        throw_errno(cat("opening state file ", path_));
    }
    StateRecord r{};
    ssize_t n = ::pread(fd.get(), &r, sizeof(r), 0);
    if (n < 0)
        throw_errno(cat("reading state file ", path_));
    if (static_cast<size_t>(n) != sizeof(r))
        throw Error(cat("state file ", path_, " is truncated (", n, " bytes)"), false);
    if (r.magic != kStateMagic)
        throw Error(cat("state file ", path_, ": bad magic"), false);
    if (r.version != kStateVersion || r.hdr_len != sizeof(r))
        throw Error(cat("state file ", path_, ": unsupported version ", r.version), false);
    if (r.crc != state_crc(r))
        throw Error(cat("state file ", path_,
                        ": checksum mismatch (corrupt); refusing to guess "
                        "the replica's position"),
                    false);
    out = r;
    return true;
}

void StateFile::save(StateRecord &rec) const
{
    rec.crc = state_crc(rec);
    std::string tmp = path_ + ".tmp";
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd)
            throw_errno(cat("creating ", tmp));
        write_all(fd.get(), &rec, sizeof(rec), tmp);
        if (::fdatasync(fd.get()) != 0)
            throw_errno(cat("syncing ", tmp));
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0)
        throw_errno(cat("renaming ", tmp, " to ", path_));
    std::string dir =
        path_.substr(0, path_.find_last_of('/') == std::string::npos ? 0 : path_.find_last_of('/'));
    if (dir.empty())
        dir = ".";
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd || ::fsync(dfd.get()) != 0)
        throw_errno(cat("syncing directory ", dir));
}

} // namespace cbtrep::target
