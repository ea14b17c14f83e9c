#include "checkpoint.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fd.h"

namespace cbtrep::resync
{

namespace
{

void write_all(int fd, const std::string &s, const std::string &path)
{
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::write(fd, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw_errno("resync: write checkpoint " + path, n < 0 ? errno : EIO);
        done += size_t(n);
    }
}

std::string dir_of(const std::string &path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

void save_checkpoint(const std::string &path, const Checkpoint &cp)
{
    nlohmann::json j = {
        {"format", "cbtrep-resync-checkpoint"},
        {"version", 1},
        {"source", cp.source},
        {"source_bytes", cp.source_bytes},
        {"replica", cp.replica},
        {"replica_bytes", cp.replica_bytes},
        {"region_bytes", cp.geometry.region_bytes},
        {"block_bytes", cp.geometry.block_bytes},
        {"leaf_bytes", cp.geometry.leaf_bytes},
        {"hash", hash_kind_name(cp.geometry.hash)},
        {"done_bytes", cp.done_bytes},
    };
    std::string tmp = path + ".tmp";
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd)
            throw_errno("resync: create checkpoint " + tmp);
        write_all(fd.get(), j.dump(2) + "\n", tmp);
        if (::fsync(fd.get()) != 0)
            throw_errno("resync: fsync checkpoint " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw_errno("resync: rename " + tmp + " to " + path);
    UniqueFd dir(::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir)
        ::fsync(dir.get()); // best effort: the rename is what matters, and it is atomic
}

std::optional<Checkpoint> load_checkpoint(const std::string &path)
{
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT)
            return std::nullopt;
        throw_errno("resync: open checkpoint " + path);
    }
    try {
        nlohmann::json j = nlohmann::json::parse(in);
        if (j.at("format") != "cbtrep-resync-checkpoint" || j.at("version") != 1)
            throw Error("not a version 1 cbtrep resync checkpoint", false);
        Checkpoint cp;
        cp.source = j.at("source").get<std::string>();
        cp.source_bytes = j.at("source_bytes").get<uint64_t>();
        cp.replica = j.at("replica").get<std::string>();
        cp.replica_bytes = j.at("replica_bytes").get<uint64_t>();
        cp.geometry.region_bytes = j.at("region_bytes").get<uint64_t>();
        cp.geometry.block_bytes = j.at("block_bytes").get<uint32_t>();
        cp.geometry.leaf_bytes = j.at("leaf_bytes").get<uint32_t>();
        cp.geometry.hash = parse_hash_kind(j.at("hash").get<std::string>());
        cp.done_bytes = j.at("done_bytes").get<uint64_t>();
        validate(cp.geometry);
        return cp;
    } catch (const std::exception &e) {
        throw Error(cat("resync: checkpoint ", path, " is unreadable (", e.what(),
                        "); delete it to start the resync from the beginning"),
                    false);
    }
}

std::string checkpoint_mismatch(const Checkpoint &saved, const Checkpoint &now)
{
    if (saved.source != now.source)
        return "it is for source " + saved.source;
    if (saved.replica != now.replica)
        return "it is for replica " + saved.replica;
    if (saved.source_bytes != now.source_bytes || saved.replica_bytes != now.replica_bytes)
        return cat("it is for a ", saved.source_bytes, "-byte source and a ", saved.replica_bytes,
                   "-byte replica");
    if (!(saved.geometry == now.geometry))
        return "it was made with " + describe(saved.geometry) + ", this run uses " +
               describe(now.geometry);
    if (saved.done_bytes > now.source_bytes ||
        (saved.done_bytes % saved.geometry.region_bytes && saved.done_bytes != now.source_bytes))
        return cat("its position ", saved.done_bytes, " is not a region boundary of the source");
    return {};
}

void remove_checkpoint(const std::string &path)
{
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw_errno("resync: remove checkpoint " + path);
}

} // namespace cbtrep::resync
