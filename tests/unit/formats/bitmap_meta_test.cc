// Bitmap dump and persistent metadata header: round trips and malformed inputs.
#include <catch2/catch.hpp>

#include <cbtrep/bitmap.h>
#include <cbtrep/meta.h>

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
    auto expect = [&](cbt_bitmap_hdr h, int err) {
        h.hdr_crc = cbt_hdr_crc(&h, sizeof(h));
        std::vector<uint8_t> b = buf;
        std::memcpy(b.data(), &h, sizeof(h));
        cbt_bitmap_hdr out;
        REQUIRE(cbt_bitmap_decode(b.data(), b.size(), &out, nullptr) == err);
    };
    auto h = good;
    h.magic = CBT_MAGIC_META;
    expect(h, CBT_FMT_BAD_MAGIC);
    h = good;
    h.version = 0;
    expect(h, CBT_FMT_BAD_VERSION);
    h = good;
    h.granularity = 3000;
    expect(h, CBT_FMT_BAD_GRANULARITY);
    h = good;
    h.nr_bits = 65;
    expect(h, CBT_FMT_BAD_LENGTH);
    h = good;
    h.bits_len = 1ull << 62; // absurd length must not be trusted
    expect(h, CBT_FMT_BAD_LENGTH);
    h = good;
    h.flags = 1;
    expect(h, CBT_FMT_BAD_FLAGS);

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
    auto m = valid_meta();
    SECTION("magic")
    {
        m.magic = 0;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_MAGIC);
    }
    SECTION("version")
    {
        m.version = 7;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_VERSION);
    }
    SECTION("header length")
    {
        m.hdr_len = 128;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_LENGTH);
    }
    SECTION("state")
    {
        m.state = 0;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_STATE);
    }
    SECTION("reason")
    {
        m.reason = 1000;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_REASON);
    }
    SECTION("granularity")
    {
        m.granularity = 512;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_GRANULARITY);
    }
    SECTION("name")
    {
        m.name[0] = '/';
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_NAME);
    }
    SECTION("reserved")
    {
        m.reserved[50] = 1;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_RESERVED);
    }
    SECTION("unaligned bitmap")
    {
        m.bitmap_offset = 4097;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_LENGTH);
    }
    SECTION("bitmap offset plus length overflows")
    {
        m.bitmap_offset = 4096;
        m.bitmap_len = ~0ull - 100;
        REQUIRE(decode_resealed(m) == CBT_FMT_RANGE_OVERFLOW);
    }
    SECTION("bitmap length without offset")
    {
        m.bitmap_offset = 0;
        REQUIRE(decode_resealed(m) == CBT_FMT_BAD_LENGTH);
    }
}
