// Resync types ↔ their wire encodings (include/cbtrep/wire.h), shared by the remote peer
// and the target-side responder so both sides translate the same way.
#pragma once

#include <optional>

#include <cbtrep/wire.h>

#include "codec/codec.h"
#include "resync/geometry.h"
#include "resync/peer.h"

namespace cbtrep::resync
{

uint16_t wire_hash(HashKind k);
HashKind hash_from_wire(uint16_t h); // after cbt_wire_rs_begin_check()
uint16_t wire_kind(RequestKind k);
RequestKind kind_from_wire(uint16_t k); // after cbt_wire_rs_hash_req_check()
uint16_t wire_encoding(codec::Encoding e);
codec::Encoding encoding_from_wire(uint16_t e); // ZERO and DISCARD both read back as zeroes

// rebase_seq: CBT_WRS_REBASE with that base_seq (never with verify).
cbt_wire_rs_begin begin_body(const Geometry &g, uint64_t device_bytes, bool verify,
                             std::optional<uint64_t> rebase_seq = std::nullopt);
Geometry geometry_from(const cbt_wire_rs_begin &b);

} // namespace cbtrep::resync
