// Base helpers of the shared ABI: CRC32C, names, granularity, range checks, error strings.
#include <catch2/catch.hpp>

#include <cbtrep/cbtrep.h>

#include <cstring>
#include <string>

extern "C" uint32_t cbt_c_compile_probe(void);

TEST_CASE("crc32c matches the Castagnoli check value", "[crc]")
{
    REQUIRE(cbt_crc32c(0, "123456789", 9) == 0xe3069283u);
    REQUIRE(cbt_crc32c(0, "", 0) == 0u);
}

TEST_CASE("crc32c can be computed in pieces", "[crc]")
{
    const char *s = "hello, replica";
    uint32_t whole = cbt_crc32c(0, s, std::strlen(s));
    uint32_t part = cbt_crc32c(cbt_crc32c(0, s, 5), s + 5, std::strlen(s) - 5);
    REQUIRE(whole == part);
}

TEST_CASE("the ABI compiles and validates from C", "[c]")
{
    REQUIRE(cbt_c_compile_probe() == CBT_FMT_OK);
}

TEST_CASE("names accept only terminated portable names", "[name]")
{
    char ok[CBT_NAME_LEN] = "vda1.data_set-2";
    REQUIRE(cbt_name_valid(ok, sizeof(ok)));

    char empty[CBT_NAME_LEN] = "";
    REQUIRE_FALSE(cbt_name_valid(empty, sizeof(empty)));

    char slash[CBT_NAME_LEN] = "../etc";
    REQUIRE_FALSE(cbt_name_valid(slash, sizeof(slash)));

    char unterminated[CBT_NAME_LEN];
    std::memset(unterminated, 'a', sizeof(unterminated));
    REQUIRE_FALSE(cbt_name_valid(unterminated, sizeof(unterminated)));
}

TEST_CASE("granularity follows device size within 4 to 64 KiB", "[granularity]")
{
    REQUIRE(cbt_granularity_for_size(1ull << 20) == 4096u);
    REQUIRE(cbt_granularity_for_size(16ull << 30) == 4096u);
    REQUIRE(cbt_granularity_for_size(32ull << 30) == 8192u);
    REQUIRE(cbt_granularity_for_size(256ull << 30) == 65536u);
    REQUIRE(cbt_granularity_for_size(64ull << 40) == 65536u);
    for (uint64_t size = 1ull << 20; size < (1ull << 50); size <<= 1)
        REQUIRE(cbt_granularity_valid(cbt_granularity_for_size(size)));
    REQUIRE_FALSE(cbt_granularity_valid(2048));
    REQUIRE_FALSE(cbt_granularity_valid(12288));
    REQUIRE_FALSE(cbt_granularity_valid(131072));
}

TEST_CASE("bitmap bit count rounds the last partial block up", "[granularity]")
{
    REQUIRE(cbt_bitmap_bits(8192, 4096) == 2);
    REQUIRE(cbt_bitmap_bits(8192 + 512, 4096) == 3);
}

TEST_CASE("range check rejects overflow and ranges past the end", "[range]")
{
    REQUIRE(cbt_range_check(0, 8, 8) == CBT_FMT_OK);
    REQUIRE(cbt_range_check(7, 1, 8) == CBT_FMT_OK);
    REQUIRE(cbt_range_check(7, 2, 8) == CBT_FMT_OUT_OF_BOUNDS);
    REQUIRE(cbt_range_check(~0ull - 1, 4, ~0ull) == CBT_FMT_RANGE_OVERFLOW);
    // Byte offsets must not overflow either when a consumer shifts sectors to bytes.
    REQUIRE(cbt_range_check(1ull << 60, 1, ~0ull) == CBT_FMT_RANGE_OVERFLOW);
}

TEST_CASE("every error, reason, mode and state has its own sentence", "[strings]")
{
    for (int e = CBT_FMT_OK; e < CBT_FMT_ERR_MAX; e++)
        REQUIRE(std::string(cbt_fmt_err_str(e)) != "unknown format error");
    REQUIRE(std::string(cbt_fmt_err_str(CBT_FMT_ERR_MAX)) == "unknown format error");
    for (uint32_t r = 0; r <= CBT_REASON_MAX; r++)
        REQUIRE(std::string(cbt_reason_str(r)) != "unknown reason");
    REQUIRE(std::string(cbt_reason_str(CBT_REASON_UNCLEAN_SHUTDOWN)) == "unclean shutdown");
    REQUIRE(std::string(cbt_mode_str(CBT_MODE_BITMAP)) == "bitmap");
    REQUIRE(std::string(cbt_state_str(CBT_STATE_RESYNC_REQUIRED)) == "resync-required");
}
