#include "responder.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace cbtrep::resync
{

namespace
{
// Trees kept for regions whose comparison is still going on. The planner keeps a window
// of regions in flight; more than that only happens when regions turn out equal (their
// trees are never asked for again), so the oldest can go.
constexpr size_t max_cached_trees = 64;
} // namespace

const char *request_kind_name(RequestKind k)
{
    switch (k) {
    case RequestKind::region:
        return "region";
    case RequestKind::blocks:
        return "blocks";
    case RequestKind::leaves:
        return "leaves";
    case RequestKind::rehash:
        return "rehash";
    }
    return "unknown";
}

FileWriter::FileWriter(const std::string &path) : path_(path)
{
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0)
        throw_errno("resync: open replica " + path + " for writing");
    struct stat st;
    if (::fstat(fd_, &st) != 0)
        throw_errno("resync: fstat " + path);
    regular_ = S_ISREG(st.st_mode);
}

FileWriter::~FileWriter()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void FileWriter::write(uint64_t offset, std::span<const uint8_t> bytes)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, off_t(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw_errno(
                cat("resync: write ", bytes.size(), " bytes at offset ", offset, " of ", path_),
                n < 0 ? errno : EIO);
        done += size_t(n);
    }
}

void FileWriter::write_zero(uint64_t offset, uint64_t length)
{
    // A hole reads back as zeroes and keeps a sparse image sparse; devices and file systems
    // without hole punching get real zeroes.
    if (regular_ && ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(offset),
                                off_t(length)) == 0)
        return;
    static const std::vector<uint8_t> zeroes(1u << 20);
    while (length) {
        uint64_t n = std::min<uint64_t>(length, zeroes.size());
        write(offset, std::span<const uint8_t>(zeroes.data(), n));
        offset += n;
        length -= n;
    }
}

void FileWriter::flush()
{
    if (::fdatasync(fd_) != 0)
        throw_errno("resync: fdatasync " + path_);
}

Responder::Responder(BlockHasher &hasher, ReplicaWriter *writer) : hasher_(hasher), writer_(writer)
{
}

const RegionTree &Responder::tree(uint64_t region)
{
    for (const RegionTree &t : cache_)
        if (t.region == region)
            return t;
    if (cache_.size() >= max_cached_trees)
        cache_.pop_front();
    cache_.push_back(hasher_.hash_region(region));
    return cache_.back();
}

HashReply Responder::answer(const HashRequest &req)
{
    const Geometry &g = hasher_.geometry();
    HashReply rep;
    rep.kind = req.kind;
    rep.region = req.region;
    if (req.kind != RequestKind::rehash && req.region >= g.regions(hasher_.size()))
        throw std::out_of_range(cat("resync: ", request_kind_name(req.kind), " request for region ",
                                    req.region, " past the end of the replica"));
    switch (req.kind) {
    case RequestKind::region: {
        // Always a fresh read: a region request starts a comparison.
        std::erase_if(cache_, [&](const RegionTree &t) { return t.region == req.region; });
        rep.hashes.push_back(tree(req.region).root);
        break;
    }
    case RequestKind::blocks:
        rep.hashes = tree(req.region).blocks;
        break;
    case RequestKind::leaves: {
        const RegionTree &t = tree(req.region);
        uint32_t per = g.leaves_per_block();
        for (uint32_t b : req.blocks) {
            if (b >= t.blocks.size())
                throw std::out_of_range(
                    cat("resync: block ", b, " of region ", req.region, " does not exist"));
            size_t first = size_t(b) * per;
            size_t last = std::min(t.leaves.size(), first + per);
            rep.hashes.insert(rep.hashes.end(), t.leaves.begin() + long(first),
                              t.leaves.begin() + long(last));
        }
        // The last question about this region: its data is about to change.
        std::erase_if(cache_, [&](const RegionTree &x) { return x.region == req.region; });
        break;
    }
    case RequestKind::rehash:
        for (const Range &r : req.ranges)
            if (r.offset + r.length < r.offset || r.offset + r.length > hasher_.size())
                throw std::out_of_range(cat("resync: rehash range ", r.offset, "+", r.length,
                                            " is past the end of the replica"));
        rep.hashes = hasher_.hash_leaves(req.ranges);
        break;
    }
    return rep;
}

void Responder::apply(const codec::Chunk &c)
{
    if (!writer_)
        throw Error("resync: this replica is opened read-only (verify) but data arrived", false);
    uint64_t size = hasher_.size();
    if (c.length == 0 || c.offset + c.length < c.offset || c.offset + c.length > size)
        throw std::out_of_range(cat("resync: extent ", c.offset, "+", c.length,
                                    " is outside the replica (", size, " bytes)"));
    if (c.encoding == codec::Encoding::zero) {
        if (!c.payload.empty())
            throw std::invalid_argument(cat("resync: zero extent at ", c.offset, " carries data"));
        writer_->write_zero(c.offset, c.length);
        return;
    }
    buf_.resize(c.length);
    codec::decode(c.encoding, c.offset, c.length, c.payload, c.digest, buf_);
    writer_->write(c.offset, buf_);
}

void Responder::flush()
{
    if (writer_)
        writer_->flush();
}

} // namespace cbtrep::resync
