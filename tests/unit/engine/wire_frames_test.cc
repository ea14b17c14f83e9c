// Wire frames (include/cbtrep/wire.h): every frame round-trips through encode + decode, and
// every malformed header or body is rejected with its own reason.
#include <catch2/catch.hpp>

#include <cstring>
#include <set>
#include <vector>

#include <cbtrep/wire.h>

namespace
{

// A whole frame in one buffer, as it travels.
template <typename T>
std::vector<uint8_t> frame(uint16_t type, const T &body, const std::vector<uint8_t> &payload = {},
                           uint16_t version = CBT_WIRE_VERSION_MIN)
{
    cbt_wire_hdr h;
    cbt_wire_hdr_init(&h, version, type, &body, sizeof(body), uint32_t(payload.size()));
    std::vector<uint8_t> out;
    auto *hp = reinterpret_cast<const uint8_t *>(&h);
    auto *bp = reinterpret_cast<const uint8_t *>(&body);
    out.insert(out.end(), hp, hp + sizeof(h));
    out.insert(out.end(), bp, bp + sizeof(body));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

int decode(const std::vector<uint8_t> &f, uint64_t replica_bytes = 0, uint16_t version = 0)
{
    cbt_wire_hdr h;
    return cbt_wire_decode(f.data(), f.size(), version, replica_bytes, &h, nullptr, nullptr);
}

// Re-seals a header after a test edited it, so only the intended field is wrong.
void reseal(std::vector<uint8_t> &f)
{
    cbt_wire_hdr h;
    std::memcpy(&h, f.data(), sizeof(h));
    h.hdr_crc = cbt_hdr_crc(&h, sizeof(h));
    std::memcpy(f.data(), &h, sizeof(h));
}

cbt_wire_hdr *hdr(std::vector<uint8_t> &f)
{
    return reinterpret_cast<cbt_wire_hdr *>(f.data());
}

// Decodes a copy of f whose header edit changed, re-sealed so only the edited field is wrong.
template <typename Edit> int decode_edited(std::vector<uint8_t> f, Edit edit)
{
    edit(*hdr(f));
    reseal(f);
    return decode(f);
}

// check(edit): what verdict gives on a copy of good after edit changed it.
template <typename T, typename Verdict> auto checker(T good, Verdict verdict)
{
    return [good, verdict](auto edit) {
        T b = good;
        edit(b);
        return verdict(b);
    };
}

cbt_wire_hello_ok good_hello_ok(uint64_t replica_bytes)
{
    cbt_wire_hello_ok ok{};
    ok.version = 1;
    ok.replica_bytes = replica_bytes;
    ok.max_window = 8;
    ok.max_extent = CBT_WIRE_MAX_EXTENT;
    return ok;
}

cbt_wire_hello good_hello()
{
    cbt_wire_hello b{};
    b.version_min = 1;
    b.version_max = 1;
    std::strcpy(b.replica, "vm1-disk0");
    b.device_bytes = 1 << 30;
    b.granularity = 4096;
    return b;
}

cbt_wire_extent good_extent(uint32_t len = 4096)
{
    cbt_wire_extent e{};
    e.offset = 8192;
    e.length = len;
    e.encoding = CBT_WE_RAW;
    e.encoded_len = len;
    e.digest[0] = 1;
    return e;
}

cbt_wire_batch_begin good_begin()
{
    cbt_wire_batch_begin b{};
    b.batch_id = 7;
    b.first_seq = 10;
    b.last_seq = 19;
    b.nr_extents = 3;
    b.mode = CBT_MODE_DATA;
    b.flags = CBT_WB_CONSISTENT;
    return b;
}

} // namespace

TEST_CASE("every frame type round-trips through encode and decode", "[wire]")
{
    cbt_wire_hello_ok ok = good_hello_ok(1 << 30);
    cbt_wire_error err{};
    err.code = CBT_WERR_DISK_FULL;
    std::strcpy(err.message, "disk full");
    cbt_wire_tag tag{};
    tag.tag_id = 3;
    tag.seq = 12;
    tag.nr_devices = 2;
    std::strcpy(tag.name, "nightly");
    cbt_wire_batch_end end{};
    end.batch_id = 7;
    cbt_wire_ack ack{};
    ack.batch_id = 7;
    ack.last_seq = 19;
    cbt_wire_ping ping{42, 1};

    CHECK(decode(frame(CBT_WT_HELLO, good_hello())) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_HELLO_OK, ok)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_ERROR, err)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_BATCH_BEGIN, good_begin())) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_EXTENT, good_extent(), std::vector<uint8_t>(4096, 9))) ==
          CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_TAG, tag)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_BATCH_END, end)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_ACK, ack)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_PING, ping)) == CBT_WIRE_OK);
    CHECK(decode(frame(CBT_WT_PONG, ping)) == CBT_WIRE_OK);

    auto f = frame(CBT_WT_EXTENT, good_extent(), std::vector<uint8_t>(4096, 9));
    cbt_wire_hdr h;
    const uint8_t *body = nullptr, *payload = nullptr;
    REQUIRE(cbt_wire_decode(f.data(), f.size(), 1, 0, &h, &body, &payload) == CBT_WIRE_OK);
    CHECK(h.type == CBT_WT_EXTENT);
    CHECK(h.payload_len == 4096);
    CHECK(payload == f.data() + sizeof(cbt_wire_hdr) + sizeof(cbt_wire_extent));
    CHECK(payload[0] == 9);
}

TEST_CASE("a malformed frame header is rejected before its lengths are used", "[wire]")
{
    auto base = frame(CBT_WT_HELLO, good_hello());

    SECTION("truncated header")
    {
        auto f = base;
        f.resize(sizeof(cbt_wire_hdr) - 1);
        CHECK(decode(f) == CBT_WIRE_E_TRUNCATED);
    }
    SECTION("truncated body")
    {
        auto f = base;
        f.pop_back();
        CHECK(decode(f) == CBT_WIRE_E_TRUNCATED);
    }
    SECTION("truncated payload")
    {
        auto f = frame(CBT_WT_EXTENT, good_extent(), std::vector<uint8_t>(4096, 1));
        f.resize(f.size() - 100);
        CHECK(decode(f) == CBT_WIRE_E_TRUNCATED);
    }
    SECTION("bad magic")
    {
        CHECK(decode_edited(base, [](auto &h) { h.magic ^= 1; }) == CBT_WIRE_E_MAGIC);
    }
    SECTION("header CRC mismatch")
    {
        auto f = base;
        hdr(f)->body_len += 8; // a corrupted length must not be trusted
        CHECK(decode(f) == CBT_WIRE_E_HDR_CRC);
    }
    SECTION("version outside the supported range, or not the negotiated one")
    {
        auto f = frame(CBT_WT_HELLO, good_hello(), {}, CBT_WIRE_VERSION_MAX + 1);
        CHECK(decode(f) == CBT_WIRE_E_VERSION);
        f = frame(CBT_WT_HELLO, good_hello(), {}, 0);
        CHECK(decode(f) == CBT_WIRE_E_VERSION);
        f = frame(CBT_WT_HELLO, good_hello(), {}, 1);
        CHECK(decode(f, 0, 2) == CBT_WIRE_E_VERSION);
    }
    SECTION("unknown type")
    {
        CHECK(decode_edited(base, [](auto &h) { h.type = 0; }) == CBT_WIRE_E_TYPE);
        CHECK(decode_edited(base, [](auto &h) { h.type = CBT_WT_MAX + 1; }) == CBT_WIRE_E_TYPE);
    }
    SECTION("reserved header field set")
    {
        CHECK(decode_edited(base, [](auto &h) { h.reserved = 1; }) == CBT_WIRE_E_RESERVED);
    }
    SECTION("body length that does not match the type")
    {
        CHECK(decode_edited(base, [](auto &h) { h.body_len = sizeof(cbt_wire_hello) - 8; }) ==
              CBT_WIRE_E_BODY_LEN);
    }
    SECTION("payload on a frame type without one")
    {
        auto f = base;
        hdr(f)->payload_len = 16;
        reseal(f);
        f.resize(f.size() + 16);
        CHECK(decode(f) == CBT_WIRE_E_PAYLOAD_LEN);
    }
    SECTION("payload above the protocol limit")
    {
        CHECK(decode_edited(frame(CBT_WT_EXTENT, good_extent()), [](auto &h) {
                  h.payload_len = CBT_WIRE_MAX_PAYLOAD + 1;
              }) == CBT_WIRE_E_PAYLOAD_LEN);
    }
    SECTION("body CRC mismatch")
    {
        auto f = base;
        f[sizeof(cbt_wire_hdr) + 12] ^= 0x20; // inside the replica name
        CHECK(decode(f) == CBT_WIRE_E_BODY_CRC);
    }
}

TEST_CASE("HELLO names what is wrong", "[wire]")
{
    auto check = checker(good_hello(), [](auto &b) { return cbt_wire_hello_check(&b); });
    CHECK(check([](auto &) {}) == CBT_WIRE_OK);
    CHECK(check([](auto &b) { b.version_min = 0; }) == CBT_WIRE_E_VERSION_RANGE);
    CHECK(check([](auto &b) { b.version_min = 3, b.version_max = 2; }) == CBT_WIRE_E_VERSION_RANGE);
    CHECK(check([](auto &b) { b.flags = 1; }) == CBT_WIRE_E_FLAGS);
    CHECK(check([](auto &b) { b.reserved0 = 1; }) == CBT_WIRE_E_RESERVED);
    CHECK(check([](auto &b) { b.reserved1[3] = 1; }) == CBT_WIRE_E_RESERVED);
    CHECK(check([](auto &b) { std::memset(b.replica, 0, sizeof(b.replica)); }) == CBT_WIRE_E_NAME);
    CHECK(check([](auto &b) { std::memset(b.replica, 'a', sizeof(b.replica)); }) ==
          CBT_WIRE_E_NAME);
    CHECK(check([](auto &b) { std::strcpy(b.replica, "bad/name"); }) == CBT_WIRE_E_NAME);
    CHECK(check([](auto &b) { std::strcpy(b.source, "sda 1"); }) == CBT_WIRE_E_NAME);
    CHECK(check([](auto &b) { b.device_bytes = 0; }) == CBT_WIRE_E_DEVICE_SIZE);
    CHECK(check([](auto &b) { b.device_bytes = 1000; }) == CBT_WIRE_E_DEVICE_SIZE);
    CHECK(check([](auto &b) { b.granularity = 3000; }) == CBT_WIRE_E_GRANULARITY);
}

TEST_CASE("HELLO_OK, ERROR, ACK and BATCH_END name what is wrong", "[wire]")
{
    cbt_wire_hello_ok ok = good_hello_ok(1 << 20);
    auto check_ok = checker(ok, [](auto &b) { return cbt_wire_hello_ok_check(&b); });
    REQUIRE(check_ok([](auto &) {}) == CBT_WIRE_OK);
    CHECK(check_ok([](auto &o) { o.version = 9; }) == CBT_WIRE_E_VERSION);
    CHECK(check_ok([](auto &o) { o.flags = 0x80; }) == CBT_WIRE_E_FLAGS);
    CHECK(check_ok([](auto &o) { o.max_window = CBT_WIRE_MAX_WINDOW + 1; }) == CBT_WIRE_E_WINDOW);
    CHECK(check_ok([](auto &o) { o.max_extent = CBT_WIRE_MAX_EXTENT + 512; }) == CBT_WIRE_E_WINDOW);
    // An applied seq without a batch id.
    CHECK(check_ok([](auto &o) { o.applied_seq = 5; }) == CBT_WIRE_E_SEQ_RANGE);
    // A consistent seq beyond what was applied.
    CHECK(check_ok([](auto &o) {
              o.applied_seq = 5;
              o.applied_batch_id = 1;
              o.consistent_seq = 6;
          }) == CBT_WIRE_E_SEQ_RANGE);
    CHECK(check_ok([](auto &o) { o.replica_bytes = 100; }) == CBT_WIRE_E_DEVICE_SIZE);

    cbt_wire_error e{};
    e.code = CBT_WERR_AUTH;
    e.flags = CBT_WERR_F_FATAL;
    REQUIRE(cbt_wire_error_check(&e) == CBT_WIRE_OK);
    e.code = CBT_WERR_MAX + 1;
    CHECK(cbt_wire_error_check(&e) == CBT_WIRE_E_ERROR_CODE);
    e.code = CBT_WERR_AUTH;
    e.flags = 2;
    CHECK(cbt_wire_error_check(&e) == CBT_WIRE_E_FLAGS);
    e.flags = 0;
    std::memset(e.message, 'x', sizeof(e.message));
    CHECK(cbt_wire_error_check(&e) == CBT_WIRE_E_MESSAGE);

    cbt_wire_ack a{};
    a.batch_id = 1;
    a.last_seq = 1;
    REQUIRE(cbt_wire_ack_check(&a) == CBT_WIRE_OK);
    a.batch_id = 0;
    CHECK(cbt_wire_ack_check(&a) == CBT_WIRE_E_BATCH_ID);
    a.batch_id = 1;
    a.last_seq = 0;
    CHECK(cbt_wire_ack_check(&a) == CBT_WIRE_E_SEQ_RANGE);
    a.last_seq = 1;
    a.flags = 4;
    CHECK(cbt_wire_ack_check(&a) == CBT_WIRE_E_FLAGS);

    cbt_wire_batch_end be{};
    be.batch_id = 1;
    REQUIRE(cbt_wire_batch_end_check(&be) == CBT_WIRE_OK);
    be.nr_tags = CBT_WIRE_MAX_TAGS + 1;
    CHECK(cbt_wire_batch_end_check(&be) == CBT_WIRE_E_COUNT);
    be.nr_tags = 0;
    be.reserved = 1;
    CHECK(cbt_wire_batch_end_check(&be) == CBT_WIRE_E_RESERVED);
}

TEST_CASE("BATCH_BEGIN names what is wrong", "[wire]")
{
    auto check = checker(good_begin(), [](auto &b) { return cbt_wire_batch_begin_check(&b); });
    CHECK(check([](auto &) {}) == CBT_WIRE_OK);
    CHECK(check([](auto &b) { b.batch_id = 0; }) == CBT_WIRE_E_BATCH_ID);
    CHECK(check([](auto &b) { b.first_seq = 0; }) == CBT_WIRE_E_SEQ_RANGE);
    CHECK(check([](auto &b) { b.last_seq = 9; }) == CBT_WIRE_E_SEQ_RANGE);
    CHECK(check([](auto &b) { b.mode = 0; }) == CBT_WIRE_E_MODE);
    CHECK(check([](auto &b) { b.mode = 4; }) == CBT_WIRE_E_MODE);
    CHECK(check([](auto &b) { b.flags = 0x100; }) == CBT_WIRE_E_FLAGS);
    CHECK(check([](auto &b) { b.reserved1 = 1; }) == CBT_WIRE_E_RESERVED);
    CHECK(check([](auto &b) { b.nr_extents = CBT_WIRE_MAX_EXTENTS + 1; }) == CBT_WIRE_E_COUNT);
    CHECK(check([](auto &b) { b.nr_tags = 1; }) == CBT_WIRE_E_FLAGS); // HAS_TAG missing
    CHECK(check([](auto &b) { b.flags |= CBT_WB_HAS_TAG; }) == CBT_WIRE_E_FLAGS);
}

TEST_CASE("EXTENT names what is wrong, including replica bounds", "[wire]")
{
    const uint64_t replica = 1 << 20;
    auto check = checker(
        good_extent(), [&](auto &e) { return cbt_wire_extent_check(&e, e.encoded_len, replica); });
    CHECK(check([](auto &) {}) == CBT_WIRE_OK);
    CHECK(check([](auto &e) { e.encoding = 0; }) == CBT_WIRE_E_ENCODING);
    CHECK(check([](auto &e) { e.encoding = CBT_WE_MAX + 1; }) == CBT_WIRE_E_ENCODING);
    CHECK(check([](auto &e) { e.flags = 1; }) == CBT_WIRE_E_FLAGS);
    CHECK(check([](auto &e) { e.reserved = 1; }) == CBT_WIRE_E_RESERVED);
    CHECK(check([](auto &e) { e.offset = 100; }) == CBT_WIRE_E_ALIGN);
    CHECK(check([](auto &e) { e.length = e.encoded_len = 1000; }) == CBT_WIRE_E_ALIGN);
    CHECK(check([](auto &e) { e.length = e.encoded_len = 0; }) == CBT_WIRE_E_EXTENT_LEN);
    CHECK(check([](auto &e) { e.length = e.encoded_len = CBT_WIRE_MAX_EXTENT + 512; }) ==
          CBT_WIRE_E_EXTENT_LEN);
    CHECK(check([](auto &e) { e.encoded_len = 512; }) == CBT_WIRE_E_ENCODED_LEN); // RAW != length
    CHECK(check([](auto &e) { e.offset = replica - 512; }) == CBT_WIRE_E_OUT_OF_BOUNDS);
    CHECK(check([](auto &e) { e.offset = replica - 4096; }) ==
          CBT_WIRE_OK); // ends exactly at the end
    CHECK(check([](auto &e) {
              e.encoding = CBT_WE_ZERO, e.encoded_len = 0, std::memset(e.digest, 0, 16);
              e.offset = ~0ull - 511;
          }) == CBT_WIRE_E_OVERFLOW);

    // LZ4: payload nonzero and at most the compress bound of length.
    CHECK(check([](auto &e) { e.encoding = CBT_WE_LZ4, e.encoded_len = 100; }) == CBT_WIRE_OK);
    CHECK(check([](auto &e) { e.encoding = CBT_WE_LZ4, e.encoded_len = 0; }) ==
          CBT_WIRE_E_ENCODED_LEN);
    CHECK(check([](auto &e) { e.encoding = CBT_WE_LZ4, e.encoded_len = 4096 + 4096 / 255 + 17; }) ==
          CBT_WIRE_E_ENCODED_LEN);

    // ZERO/DISCARD: no payload, no digest, may be longer than a data extent.
    CHECK(check([](auto &e) {
              e.encoding = CBT_WE_DISCARD, e.encoded_len = 0, std::memset(e.digest, 0, 16);
              e.offset = 0, e.length = replica;
          }) == CBT_WIRE_OK);
    CHECK(check([](auto &e) { e.encoding = CBT_WE_ZERO, std::memset(e.digest, 0, 16); }) ==
          CBT_WIRE_E_ENCODED_LEN);
    CHECK(check([](auto &e) { e.encoding = CBT_WE_ZERO, e.encoded_len = 0; }) ==
          CBT_WIRE_E_DIGEST_FIELD);

    // The frame's payload length and the body's encoded_len must agree.
    cbt_wire_extent e = good_extent();
    CHECK(cbt_wire_extent_check(&e, 4096 - 512, replica) == CBT_WIRE_E_ENCODED_LEN);
    // Bounds are checked by decode() when the replica size is known.
    e.offset = replica;
    CHECK(decode(frame(CBT_WT_EXTENT, e, std::vector<uint8_t>(4096)), replica) ==
          CBT_WIRE_E_OUT_OF_BOUNDS);
    CHECK(decode(frame(CBT_WT_EXTENT, e, std::vector<uint8_t>(4096)), 0) == CBT_WIRE_OK);
}

TEST_CASE("TAG names what is wrong", "[wire]")
{
    cbt_wire_tag t{};
    t.tag_id = 1;
    t.seq = 5;
    t.nr_devices = 1;
    std::strcpy(t.name, "t");
    auto check = checker(t, [](auto &b) { return cbt_wire_tag_check(&b); });
    REQUIRE(check([](auto &) {}) == CBT_WIRE_OK);
    CHECK(check([](auto &u) { u.flags = 2; }) == CBT_WIRE_E_FLAGS);
    CHECK(check([](auto &u) { u.reserved = 1; }) == CBT_WIRE_E_RESERVED);
    CHECK(check([](auto &u) { u.seq = 0; }) == CBT_WIRE_E_SEQ_RANGE);
    CHECK(check([](auto &u) { std::memset(u.name, 'n', sizeof(u.name)); }) == CBT_WIRE_E_TAG_NAME);
    CHECK(check([](auto &u) { u.nr_devices = CBT_TAG_MAX_DEVICES + 1; }) == CBT_WIRE_E_TAG_NAME);
}

TEST_CASE("every wire reason, type and error code has its own text", "[wire]")
{
    std::set<std::string> seen;
    for (int e = 0; e < CBT_WIRE_E_MAX; e++) {
        std::string s = cbt_wire_err_str(e);
        CHECK(s != "unknown wire error");
        CHECK(seen.insert(s).second);
    }
    for (uint32_t t = 1; t <= CBT_WT_MAX; t++)
        CHECK(std::string(cbt_wire_type_str(t)) != "unknown");
    for (uint32_t c = 1; c <= CBT_WERR_MAX; c++)
        CHECK(std::string(cbt_wire_error_code_str(c)) != "unknown error code");
    for (uint32_t t = 1; t <= CBT_WT_MAX; t++)
        CHECK(cbt_wire_body_size(t) > 0);
    CHECK(cbt_wire_body_size(CBT_WT_MAX + 1) == 0);
}
