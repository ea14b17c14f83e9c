// Journal record, tag, batch and stream header: round trips, and each malformed input
// rejected with its own reason. A corrupted field is re-sealed (CRC recomputed) so the
// check under test, not the CRC, is what rejects it.
#include <catch2/catch.hpp>

#include <cbtrep/record.h>

#include "field_cases.h"

#include <cstring>
#include <vector>

namespace
{

constexpr uint64_t kDeviceSectors = 1 << 20; // 512 MiB

std::vector<uint8_t> pattern(size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
}

// Builds batches the way a tracker hands them out: header, then records back to back.
struct BatchBuilder {
    std::vector<uint8_t> payload;
    uint64_t first_seq;
    uint64_t next_seq;
    uint32_t nr = 0;
    uint32_t flags = 0;
    bool all_data = true;

    explicit BatchBuilder(uint64_t first) : first_seq(first), next_seq(first) {}

    void add(cbt_record r, const std::vector<uint8_t> &data = {})
    {
        r.seq = next_seq++;
        r.data_len = static_cast<uint32_t>(data.size());
        cbt_rec_seal(&r, data.data());
        append(r, data);
        nr++;
        if (r.type == CBT_REC_GAP)
            flags |= CBT_BF_HAS_GAP;
        if (r.type == CBT_REC_TAG)
            flags |= CBT_BF_HAS_TAG;
        if (r.type == CBT_REC_WRITE && !(r.flags & CBT_RF_HAS_DATA))
            all_data = false;
    }

    void append(const cbt_record &r, const std::vector<uint8_t> &data)
    {
        auto *p = reinterpret_cast<const uint8_t *>(&r);
        payload.insert(payload.end(), p, p + sizeof(r));
        payload.insert(payload.end(), data.begin(), data.end());
    }

    void write(uint64_t sector, uint32_t nr_sectors, uint8_t seed)
    {
        cbt_record r;
        cbt_rec_init(&r, CBT_REC_WRITE, 0, sector, nr_sectors, CBT_RF_HAS_DATA, 1000);
        add(r, pattern(size_t(nr_sectors) * 512, seed));
    }

    cbt_batch header(uint64_t id = 7) const
    {
        cbt_batch b{};
        b.magic = CBT_MAGIC_BATCH;
        b.version = CBT_BATCH_VERSION;
        b.mode = all_data ? CBT_MODE_DATA : CBT_MODE_META;
        b.batch_id = id;
        b.first_seq = first_seq;
        b.last_seq = next_seq - 1;
        b.nr_records = nr;
        b.flags = flags;
        b.payload_len = payload.size();
        cbt_batch_seal(&b);
        return b;
    }

    std::vector<uint8_t> bytes(const cbt_batch &b) const
    {
        std::vector<uint8_t> out(sizeof(b));
        std::memcpy(out.data(), &b, sizeof(b));
        out.insert(out.end(), payload.begin(), payload.end());
        return out;
    }

    std::vector<uint8_t> bytes() const { return bytes(header()); }
};

cbt_record sealed_write(uint64_t sector, uint32_t nr_sectors, uint32_t flags,
                        const std::vector<uint8_t> &data)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_WRITE, 42, sector, nr_sectors, flags, 123456789);
    r.data_len = static_cast<uint32_t>(data.size());
    cbt_rec_seal(&r, data.data());
    return r;
}

int check_resealed(cbt_record r)
{
    r.hdr_crc = cbt_hdr_crc(&r, sizeof(r));
    return cbt_rec_check_hdr(&r, kDeviceSectors);
}

// Checks bb's records under header h, re-sealed after the test edited it.
int check_resealed_batch(const BatchBuilder &bb, cbt_batch h)
{
    cbt_batch_seal(&h);
    auto buf = bb.bytes(h);
    return cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, nullptr);
}

cbt_tag make_tag(uint64_t id, uint32_t flags)
{
    cbt_tag t{};
    t.tag_id = id;
    t.timestamp_ns = 5;
    t.flags = flags;
    t.nr_devices = 2;
    std::strcpy(t.name, "hourly");
    return t;
}

std::vector<uint8_t> tag_bytes(const cbt_tag &t)
{
    std::vector<uint8_t> v(sizeof(t));
    std::memcpy(v.data(), &t, sizeof(t));
    return v;
}

std::vector<uint8_t> record_bytes(const cbt_record &r, const std::vector<uint8_t> &data)
{
    std::vector<uint8_t> v(sizeof(r));
    std::memcpy(v.data(), &r, sizeof(r));
    v.insert(v.end(), data.begin(), data.end());
    return v;
}

} // namespace

TEST_CASE("a write record with data round trips", "[record]")
{
    auto data = pattern(4096, 3);
    auto r = sealed_write(100, 8, CBT_RF_HAS_DATA | CBT_RF_FUA, data);
    auto buf = record_bytes(r, data);

    cbt_record out;
    const uint8_t *payload = nullptr;
    REQUIRE(cbt_rec_decode(buf.data(), buf.size(), kDeviceSectors, &out, &payload) == CBT_FMT_OK);
    REQUIRE(std::memcmp(&out, &r, sizeof(r)) == 0);
    REQUIRE(std::memcmp(payload, data.data(), data.size()) == 0);
    REQUIRE(cbt_rec_total_len(&out) == 64 + 4096);
}

TEST_CASE("range records without data round trip", "[record]")
{
    for (uint32_t type : {CBT_REC_WRITE, CBT_REC_DISCARD, CBT_REC_WRITE_ZEROES,
                          CBT_REC_SECURE_ERASE, CBT_REC_DIRTY}) {
        cbt_record r;
        cbt_rec_init(&r, type, 1, kDeviceSectors - 8, 8, 0, 9);
        if (type == CBT_REC_DIRTY)
            r.reason = CBT_REASON_WRITE_ERROR;
        cbt_rec_seal(&r, nullptr);
        INFO("type " << type);
        REQUIRE(cbt_rec_check_hdr(&r, kDeviceSectors) == CBT_FMT_OK);
    }
}

TEST_CASE("record with bad magic is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.magic = 0x12345678;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_MAGIC);
}

TEST_CASE("record with unknown version is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.version = CBT_RECORD_VERSION + 1;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_VERSION);
}

TEST_CASE("record with a flipped header bit fails its crc", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.sector ^= 1;
    REQUIRE(cbt_rec_check_hdr(&r, kDeviceSectors) == CBT_FMT_BAD_HDR_CRC);
}

TEST_CASE("record with a flipped data bit fails its data crc", "[record][malformed]")
{
    auto data = pattern(512, 1);
    auto r = sealed_write(0, 1, CBT_RF_HAS_DATA, data);
    auto buf = record_bytes(r, data);
    buf.back() ^= 0x80;
    cbt_record out;
    REQUIRE(cbt_rec_decode(buf.data(), buf.size(), kDeviceSectors, &out, nullptr) ==
            CBT_FMT_BAD_DATA_CRC);
}

TEST_CASE("record with unknown type or flags is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.type = 0;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_TYPE);
    r.type = CBT_REC_TYPE_MAX + 1;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_TYPE);

    r = sealed_write(0, 1, 0, {});
    r.flags = 1u << 20;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_FLAGS);

    r = sealed_write(0, 1, 0, {});
    r.flags = CBT_RF_APP_CONSISTENT;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_FLAGS);

    cbt_record d;
    cbt_rec_init(&d, CBT_REC_DISCARD, 1, 0, 8, CBT_RF_HAS_DATA, 0);
    REQUIRE(check_resealed(d) == CBT_FMT_BAD_FLAGS);
}

TEST_CASE("record whose data length disagrees with its range is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 8, CBT_RF_HAS_DATA, pattern(4096, 0));
    r.data_len = 2048;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_LENGTH);

    r = sealed_write(0, 8, 0, {});
    r.data_len = 4096; // payload without HAS_DATA
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_LENGTH);

    r = sealed_write(0, 8, CBT_RF_HAS_DATA, pattern(4096, 0));
    r.data_len = 4095; // not a multiple of 8
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_LENGTH);

    r = sealed_write(0, 1, 0, {});
    r.nr_sectors = 0;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_LENGTH);

    r = sealed_write(0, (CBT_REC_MAX_DATA >> 9) + 8, CBT_RF_HAS_DATA, {});
    r.data_len = CBT_REC_MAX_DATA + 4096;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_LENGTH);
}

TEST_CASE("record with data crc but no data is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.data_crc = 1;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_DATA_CRC);
}

TEST_CASE("record whose sector plus length overflows is rejected", "[record][malformed]")
{
    auto r = sealed_write(~0ull - 2, 8, 0, {});
    REQUIRE(check_resealed(r) == CBT_FMT_RANGE_OVERFLOW);
}

TEST_CASE("record past the end of the device is rejected", "[record][malformed]")
{
    auto r = sealed_write(kDeviceSectors - 4, 8, 0, {});
    REQUIRE(check_resealed(r) == CBT_FMT_OUT_OF_BOUNDS);
    // The last sector itself is fine.
    r = sealed_write(kDeviceSectors - 1, 1, 0, {});
    REQUIRE(check_resealed(r) == CBT_FMT_OK);
}

TEST_CASE("record with stray reason or aux is rejected", "[record][malformed]")
{
    auto r = sealed_write(0, 1, 0, {});
    r.reason = CBT_REASON_WRITE_ERROR;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_REASON);

    r = sealed_write(0, 1, 0, {});
    r.aux = 3;
    REQUIRE(check_resealed(r) == CBT_FMT_BAD_RESERVED);

    cbt_record d;
    cbt_rec_init(&d, CBT_REC_DIRTY, 1, 0, 8, 0, 0);
    d.reason = CBT_REASON_MAX + 1;
    REQUIRE(check_resealed(d) == CBT_FMT_BAD_REASON);
}

TEST_CASE("truncated record header or payload is rejected", "[record][malformed]")
{
    auto data = pattern(1024, 9);
    auto r = sealed_write(0, 2, CBT_RF_HAS_DATA, data);
    auto buf = record_bytes(r, data);
    cbt_record out;
    REQUIRE(cbt_rec_decode(buf.data(), 63, kDeviceSectors, &out, nullptr) == CBT_FMT_TRUNCATED);
    REQUIRE(cbt_rec_decode(buf.data(), buf.size() - 1, kDeviceSectors, &out, nullptr) ==
            CBT_FMT_TRUNCATED);
    REQUIRE(cbt_rec_decode(buf.data(), 0, kDeviceSectors, &out, nullptr) == CBT_FMT_TRUNCATED);
}

TEST_CASE("a tag record round trips and its payload is checked", "[record][tag]")
{
    auto tag = make_tag(77, CBT_TAG_APP_CONSISTENT);
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_TAG, 5, 0, 0, CBT_RF_APP_CONSISTENT, 1);
    r.aux = 77;
    r.data_len = sizeof(tag);
    cbt_rec_seal(&r, &tag);
    auto buf = record_bytes(r, tag_bytes(tag));
    cbt_record out;
    REQUIRE(cbt_rec_decode(buf.data(), buf.size(), kDeviceSectors, &out, nullptr) == CBT_FMT_OK);

    auto reseal_decode = [&](cbt_record rec, const cbt_tag &t) {
        rec.data_len = sizeof(t);
        cbt_rec_seal(&rec, &t);
        auto b = record_bytes(rec, tag_bytes(t));
        cbt_record o;
        return cbt_rec_decode(b.data(), b.size(), kDeviceSectors, &o, nullptr);
    };

    SECTION("tag id differing from the record's aux")
    {
        REQUIRE(reseal_decode(r, make_tag(78, CBT_TAG_APP_CONSISTENT)) == CBT_FMT_BAD_COUNT);
    }
    SECTION("app-consistent flag differing between record and payload")
    {
        REQUIRE(reseal_decode(r, make_tag(77, 0)) == CBT_FMT_BAD_FLAGS);
    }
    SECTION("no devices in the group")
    {
        auto t = make_tag(77, CBT_TAG_APP_CONSISTENT);
        t.nr_devices = 0;
        REQUIRE(reseal_decode(r, t) == CBT_FMT_BAD_COUNT);
    }
    SECTION("unterminated name")
    {
        auto t = make_tag(77, CBT_TAG_APP_CONSISTENT);
        std::memset(t.name, 'x', sizeof(t.name));
        REQUIRE(reseal_decode(r, t) == CBT_FMT_BAD_NAME);
    }
    SECTION("a tag with a range")
    {
        cbt_record bad = r;
        bad.sector = 8;
        REQUIRE(reseal_decode(bad, tag) == CBT_FMT_BAD_LENGTH);
    }
}

TEST_CASE("a gap record names a generation and a reason and nothing else", "[record][gap]")
{
    cbt_record g;
    cbt_rec_init(&g, CBT_REC_GAP, 9, 0, 0, 0, 1);
    g.aux = 3;
    g.reason = CBT_REASON_JOURNAL_RECORD_CAP;
    cbt_rec_seal(&g, nullptr);
    REQUIRE(cbt_rec_check_hdr(&g, kDeviceSectors) == CBT_FMT_OK);

    cbt_record bad = g;
    bad.flags = CBT_RF_FUA;
    REQUIRE(check_resealed(bad) == CBT_FMT_BAD_FLAGS);
    bad = g;
    bad.nr_sectors = 8;
    REQUIRE(check_resealed(bad) == CBT_FMT_BAD_LENGTH);
    bad = g;
    bad.reason = 999;
    REQUIRE(check_resealed(bad) == CBT_FMT_BAD_REASON);
}

TEST_CASE("a batch of mixed records round trips", "[batch]")
{
    BatchBuilder bb(1000);
    bb.write(0, 8, 1);
    bb.write(kDeviceSectors - 1, 1, 2);
    cbt_record z;
    cbt_rec_init(&z, CBT_REC_WRITE_ZEROES, 0, 64, 64, 0, 3);
    bb.add(z);
    auto buf = bb.bytes();
    uint64_t len = 0;
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, &len) == CBT_FMT_OK);
    REQUIRE(len == buf.size());
    // Trailing bytes of a following batch are not this batch's business.
    buf.resize(buf.size() + 100);
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, &len) == CBT_FMT_OK);
    REQUIRE(len == buf.size() - 100);
}

TEST_CASE("batch mode says whether every write carries data", "[batch]")
{
    BatchBuilder bb(1);
    bb.write(0, 8, 1);
    cbt_record meta;
    cbt_rec_init(&meta, CBT_REC_WRITE, 0, 16, 8, 0, 0);
    bb.add(meta);
    auto h = bb.header();
    REQUIRE(h.mode == CBT_MODE_META);
    REQUIRE(cbt_batch_check(bb.bytes(h).data(), bb.bytes(h).size(), kDeviceSectors, nullptr) ==
            CBT_FMT_OK);
    h.mode = CBT_MODE_DATA;
    REQUIRE(check_resealed_batch(bb, h) == CBT_FMT_BAD_MODE);
}

TEST_CASE("batch with a sequence hole is rejected", "[batch][malformed]")
{
    BatchBuilder bb(10);
    bb.write(0, 1, 1);
    bb.next_seq++; // seq 11 never written: the second record is seq 12
    bb.write(8, 1, 2);
    auto h = bb.header();
    h.last_seq = 11; // count and range agree (2 records, 10..11); only the records do not
    REQUIRE(check_resealed_batch(bb, h) == CBT_FMT_BAD_COUNT);
}

TEST_CASE("batch header inconsistencies are rejected", "[batch][malformed]")
{
    BatchBuilder bb(10);
    bb.write(0, 1, 1);
    bb.write(8, 1, 2);

    auto h = bb.header();
    using C = FieldCase<cbt_batch>;
    check_field_cases<cbt_batch>(
        h,
        {
            C{"bad magic", [](cbt_batch &b) { b.magic = CBT_MAGIC_RECORD; }, CBT_FMT_BAD_MAGIC},
            C{"bad version", [](cbt_batch &b) { b.version = 9; }, CBT_FMT_BAD_VERSION},
            C{"bitmap is no batch mode", [](cbt_batch &b) { b.mode = CBT_MODE_BITMAP; },
              CBT_FMT_BAD_MODE},
            C{"zero batch id", [](cbt_batch &b) { b.batch_id = 0; }, CBT_FMT_BAD_COUNT},
            C{"last before first", [](cbt_batch &b) { b.last_seq = 9; }, CBT_FMT_BAD_COUNT},
            C{"count disagrees with range", [](cbt_batch &b) { b.nr_records = 3; },
              CBT_FMT_BAD_COUNT},
            C{"payload shorter than its headers", [](cbt_batch &b) { b.payload_len = 64; },
              CBT_FMT_BAD_LENGTH},
            C{"reserved not zero", [](cbt_batch &b) { b.reserved1 = 1; }, CBT_FMT_BAD_RESERVED},
            C{"unknown flags", [](cbt_batch &b) { b.flags = 1u << 9; }, CBT_FMT_BAD_FLAGS},
            C{"claims a tag it lacks", [](cbt_batch &b) { b.flags = CBT_BF_HAS_TAG; },
              CBT_FMT_BAD_FLAGS},
        },
        [&](const cbt_batch &h) { return check_resealed_batch(bb, h); });
    SECTION("header crc")
    {
        auto buf = bb.bytes(h);
        buf[20] ^= 1;
        REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, nullptr) ==
                CBT_FMT_BAD_HDR_CRC);
    }
}

TEST_CASE("batch whose payload length leaves bytes unaccounted is rejected", "[batch][malformed]")
{
    BatchBuilder bb(1);
    bb.write(0, 1, 1);
    bb.payload.resize(bb.payload.size() + 64); // junk after the last record
    auto h = bb.header();
    auto buf = bb.bytes(h);
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, nullptr) == CBT_FMT_BAD_LENGTH);
}

TEST_CASE("truncated batch is rejected", "[batch][malformed]")
{
    BatchBuilder bb(1);
    bb.write(0, 8, 1);
    auto buf = bb.bytes();
    REQUIRE(cbt_batch_check(buf.data(), 10, kDeviceSectors, nullptr) == CBT_FMT_TRUNCATED);
    REQUIRE(cbt_batch_check(buf.data(), buf.size() - 1, kDeviceSectors, nullptr) ==
            CBT_FMT_TRUNCATED);
}

TEST_CASE("batch with a corrupt record reports the record's error", "[batch][malformed]")
{
    BatchBuilder bb(1);
    bb.write(0, 8, 1);
    auto buf = bb.bytes();
    buf[sizeof(cbt_batch) + sizeof(cbt_record) + 100] ^= 0xff; // inside the data
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, nullptr) ==
            CBT_FMT_BAD_DATA_CRC);
}

TEST_CASE("batch bounds every record by the device", "[batch][malformed]")
{
    BatchBuilder bb(1);
    bb.write(kDeviceSectors - 1, 1, 1);
    auto buf = bb.bytes();
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors, nullptr) == CBT_FMT_OK);
    REQUIRE(cbt_batch_check(buf.data(), buf.size(), kDeviceSectors - 1, nullptr) ==
            CBT_FMT_OUT_OF_BOUNDS);
}

TEST_CASE("stream header round trips and rejects malformed fields", "[stream]")
{
    cbt_stream_hdr h;
    cbt_stream_hdr_init(&h, "vda", 1ull << 30, 4096, 99);
    cbt_stream_hdr out;
    REQUIRE(cbt_stream_hdr_decode(&h, sizeof(h), &out) == CBT_FMT_OK);
    REQUIRE(std::strcmp(out.name, "vda") == 0);
    REQUIRE(cbt_stream_hdr_decode(&h, sizeof(h) - 1, &out) == CBT_FMT_TRUNCATED);

    auto decode_resealed_hdr = [&](cbt_stream_hdr bad) {
        bad.hdr_crc = cbt_hdr_crc(&bad, sizeof(bad));
        return cbt_stream_hdr_decode(&bad, sizeof(bad), &out);
    };
    using C = FieldCase<cbt_stream_hdr>;
    check_field_cases<cbt_stream_hdr>(
        h,
        {
            C{"magic", [](cbt_stream_hdr &b) { b.magic = 1; }, CBT_FMT_BAD_MAGIC},
            C{"version", [](cbt_stream_hdr &b) { b.version = 2; }, CBT_FMT_BAD_VERSION},
            C{"kind", [](cbt_stream_hdr &b) { b.kind = 2; }, CBT_FMT_BAD_TYPE},
            C{"granularity", [](cbt_stream_hdr &b) { b.granularity = 1000; },
              CBT_FMT_BAD_GRANULARITY},
            C{"device size", [](cbt_stream_hdr &b) { b.device_bytes = 1000; }, CBT_FMT_BAD_LENGTH},
            C{"name", [](cbt_stream_hdr &b) { b.name[0] = '\0'; }, CBT_FMT_BAD_NAME},
            C{"reserved", [](cbt_stream_hdr &b) { b.reserved0 = 1; }, CBT_FMT_BAD_RESERVED},
        },
        decode_resealed_hdr);
    auto bad = h;
    bad.device_bytes++;
    REQUIRE(cbt_stream_hdr_decode(&bad, sizeof(bad), &out) == CBT_FMT_BAD_HDR_CRC);
}
