// The control device's security descriptor: exact bytes of D:P(A;;FA;;;SY)(A;;FA;;;BA).
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

extern "C" {
#include "lib/sd.h"
}

// Derived by hand from the self-relative SECURITY_DESCRIPTOR layout (MS-DTYP 2.4.6).
// clang-format off
static const uint8_t expected[] = {
    // header: revision 1, control SE_SELF_RELATIVE|SE_DACL_PROTECTED|SE_DACL_PRESENT
    0x01, 0x00, 0x04, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0x00, 0x00, 0x00,
    // ACL: revision 2, size 52, 2 ACEs
    0x02, 0x00, 0x34, 0x00, 0x02, 0x00, 0x00, 0x00,
    // ACCESS_ALLOWED, size 20, FILE_ALL_ACCESS, S-1-5-18
    0x00, 0x00, 0x14, 0x00, 0xff, 0x01, 0x1f, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0,
    // ACCESS_ALLOWED, size 24, FILE_ALL_ACCESS, S-1-5-32-544
    0x00, 0x00, 0x18, 0x00, 0xff, 0x01, 0x1f, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0,
    0x20, 0x02, 0x00, 0x00,
};
// clang-format on

TEST_CASE("control device descriptor has the exact SYSTEM + Administrators bytes", "[wfilter][sd]")
{
    REQUIRE(cbt_sd_size() == sizeof(expected));
    std::vector<uint8_t> buf(cbt_sd_size() + 8, 0xcc);
    REQUIRE(cbt_sd_build(buf.data(), buf.size()) == sizeof(expected));
    CHECK(std::memcmp(buf.data(), expected, sizeof(expected)) == 0);
    CHECK(buf[sizeof(expected)] == 0xcc); // nothing written past the end
}

TEST_CASE("descriptor offsets and sizes are self-consistent", "[wfilter][sd]")
{
    std::vector<uint8_t> b(cbt_sd_size());
    REQUIRE(cbt_sd_build(b.data(), b.size()) == b.size());
    uint32_t dacl = b[16] | b[17] << 8;
    REQUIRE(dacl == CBT_SD_HDR_SIZE);
    uint16_t acl_size = b[dacl + 2] | b[dacl + 3] << 8;
    CHECK(dacl + acl_size == b.size());
    size_t off = dacl + CBT_ACL_HDR_SIZE, aces = 0;
    while (off < b.size()) {
        uint16_t ace_size = b[off + 2] | b[off + 3] << 8;
        uint8_t subauth = b[off + 9];
        CHECK(ace_size == CBT_ACE_HDR_SIZE + cbt_sid_size(subauth));
        CHECK(b[off] == CBT_ACCESS_ALLOWED_ACE_TYPE);
        off += ace_size;
        aces++;
    }
    CHECK(off == b.size());
    CHECK(aces == 2);
    // No owner, group or SACL: applied with DACL_SECURITY_INFORMATION only.
    for (int i = 4; i < 16; i++)
        CHECK(b[i] == 0);
}

TEST_CASE("descriptor builder refuses a short buffer and writes nothing", "[wfilter][sd]")
{
    std::vector<uint8_t> b(cbt_sd_size() - 1, 0xcc);
    CHECK(cbt_sd_build(b.data(), b.size()) == 0);
    for (uint8_t v : b)
        CHECK(v == 0xcc);
    CHECK(cbt_sd_build(nullptr, 1000) == 0);
}
