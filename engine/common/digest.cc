#include "digest.h"

#include <cstring>
#include <xxhash.h>

namespace cbtrep
{

Digest xxh3_128(const void *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    Digest d;
    std::memcpy(d.data(), &h.low64, 8); // little-endian host (abi.h refuses others)
    std::memcpy(d.data() + 8, &h.high64, 8);
    return d;
}

} // namespace cbtrep
