#include "wire_map.h"

#include <stdexcept>

#include "common/error.h"

namespace cbtrep::resync
{

uint16_t wire_hash(HashKind k)
{
    return k == HashKind::sha256 ? CBT_WRS_HASH_SHA256 : CBT_WRS_HASH_XXH3_128;
}

HashKind hash_from_wire(uint16_t h)
{
    return h == CBT_WRS_HASH_SHA256 ? HashKind::sha256 : HashKind::xxh3_128;
}

uint16_t wire_kind(RequestKind k)
{
    switch (k) {
    case RequestKind::region:
        return CBT_WRS_REGION;
    case RequestKind::blocks:
        return CBT_WRS_BLOCKS;
    case RequestKind::leaves:
        return CBT_WRS_LEAVES;
    case RequestKind::rehash:
        return CBT_WRS_REHASH;
    }
    throw std::invalid_argument(cat("resync: no wire kind for request kind ", int(k)));
}

RequestKind kind_from_wire(uint16_t k)
{
    switch (k) {
    case CBT_WRS_REGION:
        return RequestKind::region;
    case CBT_WRS_BLOCKS:
        return RequestKind::blocks;
    case CBT_WRS_LEAVES:
        return RequestKind::leaves;
    case CBT_WRS_REHASH:
        return RequestKind::rehash;
    }
    throw std::invalid_argument(cat("resync: unknown wire request kind ", k));
}

uint16_t wire_encoding(codec::Encoding e)
{
    switch (e) {
    case codec::Encoding::raw:
        return CBT_WE_RAW;
    case codec::Encoding::lz4:
        return CBT_WE_LZ4;
    case codec::Encoding::zero:
        return CBT_WE_ZERO;
    }
    throw std::invalid_argument(cat("resync: no wire encoding for ", int(e)));
}

codec::Encoding encoding_from_wire(uint16_t e)
{
    switch (e) {
    case CBT_WE_RAW:
        return codec::Encoding::raw;
    case CBT_WE_LZ4:
        return codec::Encoding::lz4;
    case CBT_WE_ZERO:
    case CBT_WE_DISCARD:
        return codec::Encoding::zero;
    }
    throw std::invalid_argument(cat("resync: unknown wire encoding ", e));
}

cbt_wire_rs_begin begin_body(const Geometry &g, uint64_t device_bytes, bool verify,
                             std::optional<uint64_t> rebase_seq)
{
    cbt_wire_rs_begin b{};
    b.region_bytes = g.region_bytes;
    b.block_bytes = g.block_bytes;
    b.leaf_bytes = g.leaf_bytes;
    b.hash = wire_hash(g.hash);
    b.flags = verify ? CBT_WRS_VERIFY : 0;
    b.device_bytes = device_bytes;
    if (rebase_seq) {
        b.flags |= CBT_WRS_REBASE;
        b.base_seq = *rebase_seq;
    }
    return b;
}

Geometry geometry_from(const cbt_wire_rs_begin &b)
{
    Geometry g;
    g.region_bytes = b.region_bytes;
    g.block_bytes = b.block_bytes;
    g.leaf_bytes = b.leaf_bytes;
    g.hash = hash_from_wire(b.hash);
    return g;
}

} // namespace cbtrep::resync
