// Shared by the target unit tests: a scratch directory, file digests and extent builders.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <cbtrep/wire.h>

#include "common/digest.h"

namespace target_test
{

struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/cbtrep-target-test.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string operator/(const std::string &name) const { return (path / name).string(); }
};

inline std::vector<uint8_t> slurp(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 9));
    return v;
}

inline cbt_wire_extent raw_extent(uint64_t offset, const std::vector<uint8_t> &data, uint32_t index)
{
    cbt_wire_extent e{};
    e.offset = offset;
    e.length = data.size();
    e.encoding = CBT_WE_RAW;
    e.encoded_len = static_cast<uint32_t>(data.size());
    e.index = index;
    auto d = cbtrep::xxh3_128(data.data(), data.size());
    std::memcpy(e.digest, d.data(), 16);
    return e;
}

inline cbt_wire_extent zero_extent(uint64_t offset, uint64_t length, uint32_t index,
                                   uint16_t enc = CBT_WE_ZERO)
{
    cbt_wire_extent e{};
    e.offset = offset;
    e.length = length;
    e.encoding = enc;
    e.index = index;
    return e;
}

inline cbt_wire_batch_begin begin(uint64_t id, uint64_t first, uint64_t last, uint32_t nr_extents,
                                  uint64_t total, uint32_t flags = CBT_WB_CONSISTENT)
{
    cbt_wire_batch_begin b{};
    b.batch_id = id;
    b.first_seq = first;
    b.last_seq = last;
    b.nr_extents = nr_extents;
    b.mode = CBT_MODE_DATA;
    b.flags = flags;
    b.total_bytes = total;
    return b;
}

inline cbt_wire_batch_end end(uint64_t id, uint32_t nr_extents, uint64_t total, uint64_t payload)
{
    cbt_wire_batch_end e{};
    e.batch_id = id;
    e.nr_extents = nr_extents;
    e.total_bytes = total;
    e.payload_bytes = payload;
    return e;
}

// A tag of a one-device group: id, the seq it stands at, and a name.
inline cbt_wire_tag device_tag(uint64_t id, uint64_t seq, const char *name = "")
{
    cbt_wire_tag t{};
    t.tag_id = id;
    t.seq = seq;
    t.nr_devices = 1;
    std::snprintf(t.name, sizeof(t.name), "%s", name);
    return t;
}

} // namespace target_test
