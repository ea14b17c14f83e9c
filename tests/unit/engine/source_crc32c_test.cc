// The hardware CRC32C the sources link (CBT_CRC32C_EXTERN) computes exactly the portable
// table's result, for every alignment and length, and the known check value.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include <cbtrep/crc32c.h>

TEST_CASE("source_crc32c: hardware CRC32C equals the portable table", "[source]")
{
#ifndef CBT_CRC32C_EXTERN
    FAIL("the engine sources must be built with CBT_CRC32C_EXTERN (cbtrep_crc32c)");
#endif
    CHECK(cbt_crc32c(0, "123456789", 9) == 0xe3069283u);
    std::mt19937 rng(3);
    std::vector<uint8_t> buf(4096 + 64);
    for (auto &b : buf)
        b = uint8_t(rng());
    for (size_t off = 0; off < 9; off++)
        for (size_t len : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(63), size_t(4096)}) {
            uint32_t seed = rng();
            INFO("offset " << off << " length " << len);
            CHECK(cbt_crc32c(seed, buf.data() + off, len) ==
                  cbt_crc32c_sw(seed, buf.data() + off, len));
        }
    // Chaining: crc of a split buffer equals the crc of the whole.
    uint32_t whole = cbt_crc32c(0, buf.data(), 1000);
    CHECK(cbt_crc32c(cbt_crc32c(0, buf.data(), 333), buf.data() + 333, 667) == whole);
}
