// Codec: zero chunks carry no bytes, lz4 only when it shrinks, digest of decoded bytes,
// and decode() rejects corruption.
#include <catch2/catch.hpp>

#include <random>

#include "codec/codec.h"

using namespace cbtrep::codec;

namespace
{
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto &b : v)
        b = uint8_t(rng());
    return v;
}
std::vector<uint8_t> text_bytes(size_t n)
{
    std::string s;
    while (s.size() < n)
        s += "the quick brown fox jumps over the lazy dog " + std::to_string(s.size() % 97) + "\n";
    return std::vector<uint8_t>(s.begin(), s.begin() + long(n));
}
std::vector<uint8_t> roundtrip(const Chunk &c)
{
    std::vector<uint8_t> out(c.length);
    decode(c.encoding, c.offset, c.length, c.payload, c.digest, out);
    return out;
}
} // namespace

TEST_CASE("codec: an all-zero chunk becomes a ZERO chunk without payload", "[codec]")
{
    Encoder enc;
    std::vector<uint8_t> zeros(128 * 1024, 0);
    Chunk c = enc.encode_one(4096, zeros);
    CHECK(c.encoding == Encoding::zero);
    CHECK(c.payload.empty());
    CHECK(c.length == zeros.size());
    CHECK(roundtrip(c) == zeros);
}

TEST_CASE("codec: one non-zero byte at the end defeats zero detection", "[codec]")
{
    std::vector<uint8_t> v(64 * 1024 + 3, 0);
    CHECK(is_zero(v));
    v.back() = 1;
    CHECK_FALSE(is_zero(v));
    v.back() = 0;
    v[1] = 0x80;
    CHECK_FALSE(is_zero(std::span<const uint8_t>(v).subspan(1)));
}

TEST_CASE("codec: compressible data is lz4 and decodes to the same bytes", "[codec]")
{
    Encoder enc;
    auto data = text_bytes(256 * 1024);
    Chunk c = enc.encode_one(0, data);
    CHECK(c.encoding == Encoding::lz4);
    CHECK(c.payload.size() < data.size() / 2);
    CHECK(c.digest == digest(data));
    CHECK(roundtrip(c) == data);
}

TEST_CASE("codec: incompressible data is sent raw", "[codec]")
{
    Encoder enc;
    auto data = random_bytes(200 * 1024, 7);
    Chunk c = enc.encode_one(512, data);
    CHECK(c.encoding == Encoding::raw);
    CHECK(c.payload == data);
    CHECK(roundtrip(c) == data);
}

TEST_CASE("codec: encode splits into chunk_bytes pieces at the right offsets", "[codec]")
{
    Options o;
    o.chunk_bytes = 64 * 1024;
    Encoder enc(o);
    auto data = text_bytes(200 * 1024);
    std::fill(data.begin() + 64 * 1024, data.begin() + 128 * 1024, 0);
    std::vector<Chunk> out;
    enc.encode(1 << 20, data, out);
    REQUIRE(out.size() == 4);
    CHECK(out[0].offset == (1u << 20));
    CHECK(out[1].offset == (1u << 20) + 64 * 1024);
    CHECK(out[1].encoding == Encoding::zero);
    CHECK(out[3].length == 200 * 1024 - 3 * 64 * 1024);
    std::vector<uint8_t> joined;
    for (auto &c : out) {
        auto b = roundtrip(c);
        joined.insert(joined.end(), b.begin(), b.end());
    }
    CHECK(joined == data);
}

TEST_CASE("codec: a chunk size below 64 KiB is refused", "[codec]")
{
    Options o;
    o.chunk_bytes = 32 * 1024;
    CHECK_THROWS_WITH(Encoder(o), Catch::Contains("64 KiB"));
}

TEST_CASE("codec: decode rejects a flipped payload byte and a wrong digest", "[codec]")
{
    Encoder enc;
    auto data = text_bytes(128 * 1024);
    Chunk c = enc.encode_one(0, data);
    REQUIRE(c.encoding == Encoding::lz4);
    std::vector<uint8_t> out(c.length);
    Chunk bad = c;
    bad.payload[bad.payload.size() / 2] ^= 0x55;
    CHECK_THROWS(decode(bad.encoding, 0, bad.length, bad.payload, bad.digest, out));
    Digest128 wrong = c.digest;
    wrong[0] ^= 1;
    CHECK_THROWS_WITH(decode(c.encoding, 0, c.length, c.payload, wrong, out),
                      Catch::Contains("digest mismatch"));
    CHECK_THROWS(decode(Encoding::raw, 0, c.length, c.payload, c.digest, out));
}
