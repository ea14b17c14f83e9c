// Bitmap dump and persistent metadata header: round trips and malformed inputs.
#include <catch2/catch.hpp>

#include <cbtrep/bitmap.h>
#include <cbtrep/meta.h>

#include "field_cases.h"

#include <cstring>
#include <vector>

namespace
{

std::vector<uint8_t> dump(uint64_t device_bytes, uint32_t granularity,
                          const std::vector<uint64_t> &set_bits)
{
    cbt_bitmap_hdr h;
    cbt_bitmap_hdr_init(&h, 4, device_bytes, granularity);
    std::vector<uint8_t> out(sizeof(h) + h.bits_len);
    uint8_t *bits = out.data() + sizeof(h);
    for (auto b : set_bits)
        cbt_bitmap_set(bits, b);
    cbt_bitmap_hdr_seal(&h, bits);
    std::memcpy(out.data(), &h, sizeof(h));
    return out;
}

cbt_meta valid_meta()
{
    cbt_meta m;
    cbt_meta_init(&m, "data0", 8ull << 30, 4096);
    m.state = CBT_STATE_CLEAN;
    m.bitmap_offset = 4096;
    m.bitmap_len = 64 + 8;
    cbt_meta_seal(&m);
    return m;
}

int decode_resealed(cbt_meta m)
{
    cbt_meta_seal(&m);
    cbt_meta out;
    return cbt_meta_decode(&m, sizeof(m), &out);
}

} // namespace

TEST_CASE("a bitmap dump round trips with its bits", "[bitmap]")
{
    const uint64_t size = 10 * 4096 + 512; // 11 bits, last block partial
    auto buf = dump(size, 4096, {0, 5, 10});
    cbt_bitmap_hdr h;
    const uint8_t *bits = nullptr;
    REQUIRE(cbt_bitmap_decode(buf.data(), buf.size(), &h, &bits) == CBT_FMT_OK);
    REQUIRE(h.nr_bits == 11);
    REQUIRE(h.bits_len == 8);
    REQUIRE(h.generation == 4);
    for (uint64_t i = 0; i < h.nr_bits; i++)
        REQUIRE(cbt_bitmap_test(bits, i) == (i == 0 || i == 5 || i == 10));
}

TEST_CASE("a bitmap with bits past the device end is rejected", "[bitmap][malformed]")
{
    auto buf = dump(11 * 4096, 4096, {});
    cbt_bitmap_hdr h;
    std::memcpy(&h, buf.data(), sizeof(h));
    uint8_t *bits = buf.data() + sizeof(h);
    cbt_bitmap_set(bits, 11); // one past the last block
    cbt_bitmap_hdr_seal(&h, bits);
    std::memcpy(buf.data(), &h, sizeof(h));
    REQUIRE(cbt_bitmap_decode(buf.data(), buf.size(), &h, nullptr) == CBT_FMT_BAD_LENGTH);
}

TEST_CASE("a bitmap with corrupt bits fails its crc", "[bitmap][malformed]")
{
    auto buf = dump(64 * 4096, 4096, {3});
    buf.back() ^= 0x10;
    cbt_bitmap_hdr h;
    REQUIRE(cbt_bitmap_decode(buf.data(), buf.size(), &h, nullptr) == CBT_FMT_BAD_DATA_CRC);
}

TEST_CASE("bitmap header fields are validated", "[bitmap][malformed]")
{
    auto buf = dump(64 * 4096, 4096, {});
    cbt_bitmap_hdr good;
    std::memcpy(&good, buf.data(), sizeof(good));
    auto decode_resealed_hdr = [&](cbt_bitmap_hdr h) {
        h.hdr_crc = cbt_hdr_crc(&h, sizeof(h));
        std::vector<uint8_t> b = buf;
        std::memcpy(b.data(), &h, sizeof(h));
        cbt_bitmap_hdr out;
        return cbt_bitmap_decode(b.data(), b.size(), &out, nullptr);
    };
    using C = FieldCase<cbt_bitmap_hdr>;
    check_field_cases<cbt_bitmap_hdr>(
        good,
        {
            C{"magic", [](cbt_bitmap_hdr &h) { h.magic = CBT_MAGIC_META; }, CBT_FMT_BAD_MAGIC},
            C{"version", [](cbt_bitmap_hdr &h) { h.version = 0; }, CBT_FMT_BAD_VERSION},
            C{"granularity", [](cbt_bitmap_hdr &h) { h.granularity = 3000; },
              CBT_FMT_BAD_GRANULARITY},
            C{"bit count", [](cbt_bitmap_hdr &h) { h.nr_bits = 65; }, CBT_FMT_BAD_LENGTH},
            // An absurd length must not be trusted.
            C{"bits length", [](cbt_bitmap_hdr &h) { h.bits_len = 1ull << 62; },
              CBT_FMT_BAD_LENGTH},
            C{"flags", [](cbt_bitmap_hdr &h) { h.flags = 1; }, CBT_FMT_BAD_FLAGS},
        },
        decode_resealed_hdr);

    cbt_bitmap_hdr out;
    REQUIRE(cbt_bitmap_decode(buf.data(), 63, &out, nullptr) == CBT_FMT_TRUNCATED);
    REQUIRE(cbt_bitmap_decode(buf.data(), buf.size() - 1, &out, nullptr) == CBT_FMT_TRUNCATED);
}

TEST_CASE("a metadata header round trips", "[meta]")
{
    auto m = valid_meta();
    cbt_meta out;
    REQUIRE(cbt_meta_decode(&m, sizeof(m), &out) == CBT_FMT_OK);
    REQUIRE(out.state == CBT_STATE_CLEAN);
    REQUIRE(std::strcmp(out.name, "data0") == 0);
}

TEST_CASE("a metadata header with a torn byte fails its crc", "[meta][malformed]")
{
    auto m = valid_meta();
    reinterpret_cast<uint8_t *>(&m)[20] ^= 4;
    cbt_meta out;
    REQUIRE(cbt_meta_decode(&m, sizeof(m), &out) == CBT_FMT_BAD_HDR_CRC);
    REQUIRE(cbt_meta_decode(&m, 100, &out) == CBT_FMT_TRUNCATED);
}

TEST_CASE("metadata header fields are validated", "[meta][malformed]")
{
    using C = FieldCase<cbt_meta>;
    check_field_cases<cbt_meta>(
        valid_meta(),
        {
            C{"magic", [](cbt_meta &m) { m.magic = 0; }, CBT_FMT_BAD_MAGIC},
            C{"version", [](cbt_meta &m) { m.version = 7; }, CBT_FMT_BAD_VERSION},
            C{"header length", [](cbt_meta &m) { m.hdr_len = 128; }, CBT_FMT_BAD_LENGTH},
            C{"state", [](cbt_meta &m) { m.state = 0; }, CBT_FMT_BAD_STATE},
            C{"reason", [](cbt_meta &m) { m.reason = 1000; }, CBT_FMT_BAD_REASON},
            C{"granularity", [](cbt_meta &m) { m.granularity = 512; }, CBT_FMT_BAD_GRANULARITY},
            C{"name", [](cbt_meta &m) { m.name[0] = '/'; }, CBT_FMT_BAD_NAME},
            C{"reserved", [](cbt_meta &m) { m.reserved[50] = 1; }, CBT_FMT_BAD_RESERVED},
            C{"unaligned bitmap", [](cbt_meta &m) { m.bitmap_offset = 4097; }, CBT_FMT_BAD_LENGTH},
            C{"bitmap offset plus length overflows",
              [](cbt_meta &m) {
                  m.bitmap_offset = 4096;
                  m.bitmap_len = ~0ull - 100;
              },
              CBT_FMT_RANGE_OVERFLOW},
            C{"bitmap length without offset", [](cbt_meta &m) { m.bitmap_offset = 0; },
              CBT_FMT_BAD_LENGTH},
        },
        decode_resealed);
}
