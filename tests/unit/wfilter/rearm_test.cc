// The boot re-arm record (wfilter/lib/rearm.c): what ATTACH stores in the registry and
// START trusts at the next boot. Every field that decides whether a disk is re-armed is
// checked here, and every way a record can be wrong is refused by name.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <vector>

extern "C" {
#include "lib/rearm.h"
}

namespace
{

cbt_disk_id gpt(uint8_t tag, uint64_t bytes = 1ull << 30)
{
    cbt_disk_id d{};
    d.kind = CBT_DISK_ID_GPT;
    d.gpt_guid[0] = tag;
    d.gpt_guid[15] = 0x77;
    d.bytes = bytes;
    return d;
}

cbt_disk_id mbr(uint32_t sig, uint64_t bytes = 1ull << 30)
{
    cbt_disk_id d{};
    d.kind = CBT_DISK_ID_MBR;
    d.mbr_signature = sig;
    d.bytes = bytes;
    return d;
}

cbt_rearm_rec good()
{
    cbt_rearm_rec r;
    std::memset(&r, 0, sizeof(r));
    std::strcpy(r.name, "sys");
    r.tracked = gpt(1);
    r.meta_disk = mbr(0x1234abcd);
    r.granularity = 65536;
    r.meta_size = 3 * 4096;
    r.nr_ext = 2;
    r.ext[0] = {0, 1 << 20, 4096};
    r.ext[1] = {4096, 8 << 20, 2 * 4096};
    cbt_rearm_seal(&r);
    return r;
}

cbt_rearm_err check(const cbt_rearm_rec &r, size_t len = sizeof(cbt_rearm_rec))
{
    cbt_rearm_rec out;
    return cbt_rearm_check(&r, len, &out);
}

} // namespace

TEST_CASE("rearm: the record has no padding (its CRC covers every byte)", "[wfilter][rearm]")
{
    CHECK(sizeof(cbt_disk_id) == 32);
    CHECK(offsetof(cbt_rearm_rec, name) == 16);
    CHECK(offsetof(cbt_rearm_rec, ext) == 16 + CBT_NAME_LEN + 64 + 24);
    CHECK(sizeof(cbt_rearm_rec) == offsetof(cbt_rearm_rec, ext) + 8 * sizeof(cbt_rearm_ext));
}

TEST_CASE("rearm: a sealed record round-trips", "[wfilter][rearm]")
{
    auto r = good();
    cbt_rearm_rec out;
    std::memset(&out, 0, sizeof(out));
    REQUIRE(cbt_rearm_check(&r, sizeof(r), &out) == CBT_REARM_OK);
    CHECK(std::memcmp(&out, &r, sizeof(r)) == 0);
    CHECK(r.magic == CBT_REARM_MAGIC);
    CHECK(r.size == sizeof(r));
}

TEST_CASE("rearm: every damaged or inconsistent record is refused by name", "[wfilter][rearm]")
{
    auto r = good();
    CHECK(check(r, sizeof(r) - 1) == CBT_REARM_E_SIZE);

    auto m = r;
    m.magic ^= 1;
    CHECK(check(m) == CBT_REARM_E_MAGIC);

    m = r;
    m.version = 2;
    cbt_rearm_seal(&m); // seal rewrites the version: break it after sealing
    m.version = 2;
    CHECK(check(m) == CBT_REARM_E_VERSION);

    m = r;
    m.ext[1].disk_off += 512; // a flipped bit in the registry
    CHECK(check(m) == CBT_REARM_E_CRC);

    auto resealed = [&](auto edit) {
        auto x = good();
        edit(x);
        cbt_rearm_seal(&x);
        return check(x);
    };
    CHECK(resealed([](cbt_rearm_rec &x) { x.name[0] = 0; }) == CBT_REARM_E_NAME);
    CHECK(resealed([](cbt_rearm_rec &x) { std::memset(x.name, 'a', sizeof(x.name)); }) ==
          CBT_REARM_E_NAME);
    CHECK(resealed([](cbt_rearm_rec &x) { x.tracked = cbt_disk_id{}; }) == CBT_REARM_E_IDENTITY);
    CHECK(resealed([](cbt_rearm_rec &x) { x.meta_disk.mbr_signature = 0; }) ==
          CBT_REARM_E_IDENTITY);
    CHECK(resealed([](cbt_rearm_rec &x) { x.granularity = 0; }) == CBT_REARM_E_PARAMS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.meta_size = 4096 + 512; }) == CBT_REARM_E_PARAMS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.nr_ext = 0; }) == CBT_REARM_E_EXTENTS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.nr_ext = 9; }) == CBT_REARM_E_EXTENTS);
    // A hole between extents, too short a cover, misaligned offsets: never read at boot.
    CHECK(resealed([](cbt_rearm_rec &x) { x.ext[1].file_off = 8192; }) == CBT_REARM_E_EXTENTS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.ext[1].len = 4096; }) == CBT_REARM_E_EXTENTS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.ext[0].disk_off = 100; }) == CBT_REARM_E_EXTENTS);
    CHECK(resealed([](cbt_rearm_rec &x) { x.ext[1].disk_off = ~0ull - 511; }) ==
          CBT_REARM_E_EXTENTS);
}

TEST_CASE("rearm: disks are the same only by the same signature or GUID and length",
          "[wfilter][rearm]")
{
    auto a = gpt(1), b = gpt(2), c = gpt(1, 2ull << 30), d = mbr(7), e = mbr(7), z = cbt_disk_id{};
    CHECK(cbt_disk_id_eq(&d, &e));
    CHECK_FALSE(cbt_disk_id_eq(&a, &b));
    CHECK_FALSE(cbt_disk_id_eq(&a, &c)); // same GUID, other size: not the disk we knew
    CHECK_FALSE(cbt_disk_id_eq(&a, &d));
    CHECK_FALSE(cbt_disk_id_eq(&z, &z)); // no partition table: never "the same"
    auto m0 = mbr(0);
    CHECK_FALSE(cbt_disk_id_valid(&m0));
    auto g0 = gpt(0);
    g0.gpt_guid[15] = 0;
    CHECK_FALSE(cbt_disk_id_valid(&g0));
}

TEST_CASE("rearm: a CLEAN header found without a re-armed tracker says why it is distrusted",
          "[wfilter][rearm]")
{
    auto r = good();
    auto same = r.tracked, other = gpt(9);
    CHECK(cbt_rearm_attach_reason(&r, &same) == CBT_REASON_UNTRACKED_WINDOW);
    CHECK(cbt_rearm_attach_reason(&r, &other) == CBT_REASON_IDENTITY_CHANGED);
    CHECK(cbt_rearm_attach_reason(nullptr, &same) == CBT_REASON_UNTRACKED_WINDOW);
}

// ---- identity parsed from LBA 0/1 (fallback when the layout IOCTL is not answered) ----

namespace
{

uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

std::vector<uint8_t> mbr_disk(uint32_t sig, uint8_t type = 0x07, uint32_t ss = 512)
{
    std::vector<uint8_t> b(2 * ss, 0);
    put32(&b[440], sig);
    b[446 + 4] = type;
    b[510] = 0x55;
    b[511] = 0xaa;
    return b;
}

std::vector<uint8_t> gpt_disk(uint32_t ss = 512)
{
    auto b = mbr_disk(0, 0xee, ss); // protective MBR
    uint8_t *h = &b[ss];
    std::memcpy(h, "EFI PART", 8);
    put32(h + 8, 0x00010000);
    put32(h + 12, 92);
    for (int i = 0; i < 16; i++)
        h[56 + i] = (uint8_t)(0x10 + i);
    put32(h + 16, crc32_ref(h, 92));
    return b;
}

} // namespace

TEST_CASE("rearm: the reference CRC-32 is the IEEE one", "[wfilter][rearm]")
{
    CHECK(crc32_ref((const uint8_t *)"123456789", 9) == 0xcbf43926u);
}

TEST_CASE("rearm: disk identity from the partition table sectors", "[wfilter][rearm]")
{
    cbt_disk_id id;
    auto m = mbr_disk(0xdeadbeef);
    REQUIRE(cbt_disk_id_parse(m.data(), 512, 1ull << 30, &id) == 1);
    CHECK(id.kind == CBT_DISK_ID_MBR);
    CHECK(id.mbr_signature == 0xdeadbeefu);
    CHECK(id.bytes == 1ull << 30);

    for (uint32_t ss : {512u, 4096u}) {
        auto g = gpt_disk(ss);
        REQUIRE(cbt_disk_id_parse(g.data(), ss, 1ull << 30, &id) == 1);
        CHECK(id.kind == CBT_DISK_ID_GPT);
        CHECK(id.gpt_guid[0] == 0x10);
        CHECK(id.gpt_guid[15] == 0x1f);
    }

    SECTION("a GPT header with a bad CRC falls back to nothing (protective MBR)")
    {
        auto g = gpt_disk();
        g[512 + 60] ^= 1;
        CHECK(cbt_disk_id_parse(g.data(), 512, 1ull << 30, &id) == 0);
        CHECK(id.kind == CBT_DISK_ID_NONE);
    }
    SECTION("no partition table, a zero signature, or no size: no identity")
    {
        std::vector<uint8_t> raw(1024, 0);
        CHECK(cbt_disk_id_parse(raw.data(), 512, 1ull << 30, &id) == 0);
        auto z = mbr_disk(0);
        CHECK(cbt_disk_id_parse(z.data(), 512, 1ull << 30, &id) == 0);
        CHECK(cbt_disk_id_parse(m.data(), 512, 0, &id) == 0);
        CHECK(cbt_disk_id_parse(m.data(), 500, 1ull << 30, &id) == 0);
    }
}
