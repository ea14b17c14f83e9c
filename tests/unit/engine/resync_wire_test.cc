// The resync frames of include/cbtrep/wire.h: each validator names the field it rejects,
// and only the frames that carry data may have a payload.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include <cbtrep/wire.h>

#include "resync/geometry.h"
#include "resync/wire_map.h"

using namespace cbtrep::resync;

namespace
{

cbt_wire_rs_begin good_begin()
{
    return begin_body(Geometry{}, 1ull << 30, false);
}

} // namespace

TEST_CASE("RS_BEGIN accepts the default geometry and names each bad field")
{
    cbt_wire_rs_begin b = good_begin();
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_OK);
    CHECK(geometry_from(b) == Geometry{});

    b = good_begin();
    b.hash = 7;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RS_HASH);
    b = good_begin();
    b.leaf_bytes = 256;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RS_GEOMETRY);
    b = good_begin();
    b.block_bytes = 3 << 16;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RS_GEOMETRY);
    b = good_begin();
    b.region_bytes = 1ull << 31; // above the 1 GiB limit
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RS_GEOMETRY);
    b = good_begin();
    b.region_bytes = 1ull << 30;
    b.leaf_bytes = 512; // 2 Mi leaves per region: replies would exceed the payload limit
    b.block_bytes = 4096;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RS_GEOMETRY);
    b = good_begin();
    b.flags = 0x80;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_FLAGS);
    b = good_begin();
    b.reserved1 = 1;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RESERVED);
    b = good_begin();
    b.base_seq = 7; // only with REBASE
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_RESERVED);
    b.flags = CBT_WRS_REBASE;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_OK);
    b.flags = CBT_WRS_REBASE | CBT_WRS_VERIFY; // a verify writes nothing, rebases nothing
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_FLAGS);
    b = good_begin();
    b.device_bytes = 1000;
    CHECK(cbt_wire_rs_begin_check(&b) == CBT_WIRE_E_DEVICE_SIZE);
}

TEST_CASE("RS_HASH_REQ items must match the kind and the payload length")
{
    cbt_wire_rs_hash_req r{};
    r.req_id = 1;
    r.kind = CBT_WRS_REGION;
    CHECK(cbt_wire_rs_hash_req_check(&r, 0) == CBT_WIRE_OK);
    r.nr_items = 1;
    CHECK(cbt_wire_rs_hash_req_check(&r, 4) == CBT_WIRE_E_RS_KIND);
    r.kind = CBT_WRS_LEAVES;
    r.nr_items = 3;
    CHECK(cbt_wire_rs_hash_req_check(&r, 12) == CBT_WIRE_OK);
    CHECK(cbt_wire_rs_hash_req_check(&r, 16) == CBT_WIRE_E_PAYLOAD_LEN);
    r.kind = CBT_WRS_REHASH;
    CHECK(cbt_wire_rs_hash_req_check(&r, 48) == CBT_WIRE_OK);
    r.nr_items = 0;
    CHECK(cbt_wire_rs_hash_req_check(&r, 0) == CBT_WIRE_E_RS_KIND);
    r.nr_items = CBT_WRS_MAX_LEAVES + 1;
    CHECK(cbt_wire_rs_hash_req_check(&r, 0) == CBT_WIRE_E_RS_KIND);
    r.kind = 9;
    CHECK(cbt_wire_rs_hash_req_check(&r, 0) == CBT_WIRE_E_RS_KIND);
    r.kind = CBT_WRS_BLOCKS;
    r.nr_items = 0;
    r.req_id = 0;
    CHECK(cbt_wire_rs_hash_req_check(&r, 0) == CBT_WIRE_E_BATCH_ID);
}

TEST_CASE("RS_HASHES payload is exactly its hashes")
{
    cbt_wire_rs_hashes h{};
    h.req_id = 5;
    h.kind = CBT_WRS_BLOCKS;
    h.hash_len = 16;
    h.nr_hashes = 256;
    CHECK(cbt_wire_rs_hashes_check(&h, 4096) == CBT_WIRE_OK);
    CHECK(cbt_wire_rs_hashes_check(&h, 4095) == CBT_WIRE_E_PAYLOAD_LEN);
    h.hash_len = 8; // never a hash narrower than 128 bits
    CHECK(cbt_wire_rs_hashes_check(&h, 2048) == CBT_WIRE_E_RS_HASH);
    h.hash_len = 32;
    h.nr_hashes = CBT_WRS_MAX_LEAVES + 1;
    CHECK(cbt_wire_rs_hashes_check(&h, 0) == CBT_WIRE_E_COUNT);
}

TEST_CASE("only EXTENT, RS_HASH_REQ and RS_HASHES frames may carry a payload")
{
    cbt_wire_rs_begin b = good_begin();
    cbt_wire_hdr h;
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_BEGIN, &b, sizeof(b), 0);
    CHECK(cbt_wire_hdr_check(&h, 1) == CBT_WIRE_OK);
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_BEGIN, &b, sizeof(b), 16);
    CHECK(cbt_wire_hdr_check(&h, 1) == CBT_WIRE_E_PAYLOAD_LEN);
    cbt_wire_rs_hash_req r{};
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_HASH_REQ, &r, sizeof(r), 64);
    CHECK(cbt_wire_hdr_check(&h, 1) == CBT_WIRE_OK);
    cbt_wire_rs_flush f{};
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_FLUSHED, &f, sizeof(f), 0);
    CHECK(cbt_wire_hdr_check(&h, 1) == CBT_WIRE_OK);
    CHECK(cbt_wire_body_size(CBT_WT_RS_HASHES) == sizeof(cbt_wire_rs_hashes));
    CHECK(std::string(cbt_wire_type_str(CBT_WT_RS_FLUSH)) == "RS_FLUSH");
}

TEST_CASE("a whole RS_HASHES frame decodes and a flipped payload length is caught")
{
    cbt_wire_rs_hashes body{};
    body.req_id = 2;
    body.kind = CBT_WRS_REGION;
    body.hash_len = 16;
    body.nr_hashes = 1;
    uint8_t buf[32 + sizeof(body) + 16] = {};
    cbt_wire_hdr h;
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_HASHES, &body, sizeof(body), 16);
    std::memcpy(buf, &h, 32);
    std::memcpy(buf + 32, &body, sizeof(body));
    cbt_wire_hdr out;
    const uint8_t *pb = nullptr, *pp = nullptr;
    CHECK(cbt_wire_decode(buf, sizeof(buf), 1, 0, &out, &pb, &pp) == CBT_WIRE_OK);
    body.nr_hashes = 2; // says 32 bytes of hashes, the frame holds 16
    cbt_wire_hdr_init(&h, 1, CBT_WT_RS_HASHES, &body, sizeof(body), 16);
    std::memcpy(buf, &h, 32);
    std::memcpy(buf + 32, &body, sizeof(body));
    CHECK(cbt_wire_decode(buf, sizeof(buf), 1, 0, &out, &pb, &pp) == CBT_WIRE_E_PAYLOAD_LEN);
}
