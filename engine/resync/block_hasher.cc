#include "block_hasher.h"

#include <algorithm>
#include <stdexcept>

#include <sys/stat.h>

#include "common/error.h"

namespace cbtrep::resync
{

namespace
{

reader::Options fit_reader(reader::Options o, const Geometry &g)
{
    // Pieces must hold whole leaves so a leaf never straddles two consumer calls.
    o.piece_bytes = std::max<uint32_t>(o.piece_bytes, g.leaf_bytes);
    o.piece_bytes -= o.piece_bytes % g.leaf_bytes;
    return o;
}

// Fills blocks and root from leaves.
void finish_tree(Hasher &h, const Geometry &g, RegionTree &t)
{
    size_t per = g.leaves_per_block();
    size_t nblocks = (t.leaves.size() + per - 1) / per;
    t.blocks.resize(nblocks);
    for (size_t b = 0; b < nblocks; ++b) {
        size_t first = b * per;
        size_t n = std::min(per, t.leaves.size() - first);
        t.blocks[b] = h.of_hashes(std::span<const Hash>(t.leaves).subspan(first, n));
    }
    t.root = h.of_hashes(t.blocks);
}

} // namespace

const char *direct_name(Direct d)
{
    switch (d) {
    case Direct::automatic:
        return "auto";
    case Direct::on:
        return "on";
    case Direct::off:
        return "off";
    }
    return "unknown";
}

BlockHasher::BlockHasher(const std::string &path, const Geometry &geometry,
                         reader::Options reader_opts, Direct direct)
    : geometry_(geometry), hasher_(geometry.hash)
{
    validate(geometry_);
    if (direct == Direct::automatic) {
        struct stat st;
        reader_opts.direct = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    } else {
        reader_opts.direct = direct == Direct::on;
    }
    auto sel = reader::open_reader(path, fit_reader(reader_opts, geometry_));
    reader_ = std::move(sel.reader);
    notes_ = std::move(sel.notes);
}

BlockHasher::~BlockHasher() = default;

std::vector<RegionTree> BlockHasher::hash_regions(uint64_t first, uint64_t count)
{
    const Geometry &g = geometry_;
    uint64_t dev = size();
    if (count == 0)
        return {};
    if (first + count > g.regions(dev))
        throw std::out_of_range(cat("resync: regions ", first, "..", first + count - 1,
                                    " are past the end of a ", dev, "-byte device"));
    std::vector<RegionTree> trees(count);
    std::vector<Range> ranges(count);
    for (uint64_t i = 0; i < count; ++i) {
        RegionTree &t = trees[i];
        t.region = first + i;
        t.offset = t.region * g.region_bytes;
        t.length = std::min<uint64_t>(g.region_bytes, dev - t.offset);
        t.leaves.reserve((t.length + g.leaf_bytes - 1) / g.leaf_bytes);
        ranges[i] = {t.offset, t.length};
    }
    size_t cur = 0;
    reader_->read(ranges, [&](uint64_t off, std::span<const uint8_t> bytes) {
        while (off >= trees[cur].offset + trees[cur].length)
            ++cur;
        for (size_t pos = 0; pos < bytes.size(); pos += g.leaf_bytes)
            trees[cur].leaves.push_back(
                hasher_(bytes.subspan(pos, std::min<size_t>(g.leaf_bytes, bytes.size() - pos))));
    });
    for (RegionTree &t : trees)
        finish_tree(hasher_, g, t);
    return trees;
}

std::vector<Hash> BlockHasher::hash_leaves(std::span<const Range> ranges)
{
    for (const Range &r : ranges)
        if (r.offset % geometry_.leaf_bytes ||
            (r.length % geometry_.leaf_bytes && r.offset + r.length != size()))
            throw std::invalid_argument(cat("resync: range ", r.offset, "+", r.length,
                                            " is not aligned to ", geometry_.leaf_bytes,
                                            "-byte leaves"));
    std::vector<Hash> out;
    reader_->read(ranges, [&](uint64_t, std::span<const uint8_t> bytes) {
        for (size_t pos = 0; pos < bytes.size(); pos += geometry_.leaf_bytes)
            out.push_back(hasher_(
                bytes.subspan(pos, std::min<size_t>(geometry_.leaf_bytes, bytes.size() - pos))));
    });
    return out;
}

void BlockHasher::read(std::span<const Range> ranges, const reader::Consumer &consume)
{
    reader_->read(ranges, consume);
}

} // namespace cbtrep::resync
