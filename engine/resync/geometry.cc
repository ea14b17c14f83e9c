#include "geometry.h"

#include <stdexcept>

#include "common/error.h"

namespace cbtrep::resync
{

namespace
{

bool pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

std::string size_text(uint64_t b)
{
    if (b >= (1ull << 20) && b % (1ull << 20) == 0)
        return cat(b >> 20, " MiB");
    if (b >= 1024 && b % 1024 == 0)
        return cat(b >> 10, " KiB");
    return cat(b, " bytes");
}

} // namespace

void validate(const Geometry &g)
{
    if (!pow2(g.leaf_bytes) || g.leaf_bytes < 512)
        throw std::invalid_argument(cat("resync: leaf size ", g.leaf_bytes,
                                        " must be a power of two of at least 512 bytes"));
    if (!pow2(g.block_bytes) || g.block_bytes < g.leaf_bytes ||
        g.block_bytes / g.leaf_bytes > 65536)
        throw std::invalid_argument(cat("resync: block size ", g.block_bytes,
                                        " must be a power of two, >= the leaf size ", g.leaf_bytes,
                                        " and hold at most 65536 leaves"));
    if (!pow2(g.region_bytes) || g.region_bytes < g.block_bytes ||
        g.region_bytes / g.block_bytes > 65536 || g.region_bytes > (1ull << 30))
        throw std::invalid_argument(cat("resync: region size ", g.region_bytes,
                                        " must be a power of two, >= the block size ",
                                        g.block_bytes, ", at most 1 GiB and 65536 blocks"));
    if (g.hash != HashKind::xxh3_128 && g.hash != HashKind::sha256)
        throw std::invalid_argument(cat("resync: unknown hash kind ", int(g.hash)));
}

std::string describe(const Geometry &g)
{
    return cat(size_text(g.region_bytes), " regions, ", size_text(g.block_bytes), " blocks, ",
               size_text(g.leaf_bytes), " leaves, ", hash_kind_name(g.hash));
}

} // namespace cbtrep::resync
