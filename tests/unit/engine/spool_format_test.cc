// Spool segment header (include/cbtrep/spool.h): a good header passes, every bad field is
// named by the validator.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include <cbtrep/spool.h>

namespace
{

cbt_spool_seg_hdr good()
{
    cbt_spool_seg_hdr h;
    uint8_t id[16] = {1, 2, 3};
    cbt_spool_seg_hdr_init(&h, "disk0", id, 1 << 30, 4096, 7, 1000, 123);
    return h;
}

std::string bad_field(cbt_spool_seg_hdr h, bool reseal, int *err = nullptr)
{
    if (reseal)
        h.hdr_crc = cbt_hdr_crc(&h, sizeof(h));
    cbt_spool_seg_hdr out;
    const char *field = nullptr;
    int e = cbt_spool_seg_hdr_decode(&h, sizeof(h), &out, &field);
    if (err)
        *err = e;
    return field;
}

} // namespace

TEST_CASE("spool format: a freshly initialised segment header decodes", "[spool]")
{
    auto h = good();
    cbt_spool_seg_hdr out;
    const char *field = nullptr;
    REQUIRE(cbt_spool_seg_hdr_decode(&h, sizeof(h), &out, &field) == CBT_FMT_OK);
    REQUIRE(std::string(field).empty());
    REQUIRE(out.segment_no == 7);
    REQUIRE(out.first_seq == 1000);
    REQUIRE(std::string(out.name) == "disk0");
    REQUIRE(out.device_id[2] == 3);
}

TEST_CASE("spool format: a short buffer is truncated", "[spool]")
{
    auto h = good();
    cbt_spool_seg_hdr out;
    REQUIRE(cbt_spool_seg_hdr_decode(&h, sizeof(h) - 1, &out, nullptr) == CBT_FMT_TRUNCATED);
}

TEST_CASE("spool format: every bad field is named", "[spool]")
{
    int err = 0;
    auto h = good();
    h.magic ^= 1;
    REQUIRE(bad_field(h, true, &err) == "magic");
    REQUIRE(err == CBT_FMT_BAD_MAGIC);
    h = good();
    h.version = 2;
    REQUIRE(bad_field(h, true) == "version");
    h = good();
    h.first_seq++;
    REQUIRE(bad_field(h, false, &err) == "hdr_crc");
    REQUIRE(err == CBT_FMT_BAD_HDR_CRC);
    h = good();
    h.flags = 1;
    REQUIRE(bad_field(h, true) == "flags");
    h = good();
    h.reserved2 = 1;
    REQUIRE(bad_field(h, true) == "reserved");
    h = good();
    h.segment_no = 0;
    REQUIRE(bad_field(h, true) == "segment_no");
    h = good();
    h.first_seq = 0;
    REQUIRE(bad_field(h, true) == "first_seq");
    h = good();
    h.granularity = 3000;
    REQUIRE(bad_field(h, true) == "granularity");
    h = good();
    h.device_bytes = 1000;
    REQUIRE(bad_field(h, true) == "device_bytes");
    h = good();
    std::memcpy(h.name, "bad name", 9);
    REQUIRE(bad_field(h, true) == "name");
}
