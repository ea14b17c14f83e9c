// ReplicaPeer: what the resync planner needs from the replica side, whether the replica is
// a local file or device (LocalPeer) or sits behind a cbtrep-target (RemotePeer).
//
// Requests are asynchronous and answered strictly in request order, so the planner keeps
// many in flight (hash requests for the next regions while it compares and sends the
// current one) and a peer works on them as they come. Writes are ordered with the requests
// (a hash request sent after a write sees the written data); flush() returns once every
// write sent before it is durable on the replica, which is what lets the checkpoint advance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/codec.h"
#include "resync/block_hasher.h"
#include "resync/geometry.h"

namespace cbtrep::resync
{

enum class RequestKind : uint8_t {
    region = 1, // root hash of one region (the peer keeps the region's tree for what follows)
    blocks = 2, // every block hash of a region
    leaves = 3, // the leaf hashes of some blocks of a region
    rehash = 4, // fresh leaf hashes of ranges, read again now (verify's re-check)
};

const char *request_kind_name(RequestKind k);

struct HashRequest {
    RequestKind kind = RequestKind::region;
    uint64_t region = 0;
    std::vector<uint32_t> blocks; // leaves: block indexes in the region, ascending
    std::vector<Range> ranges;    // rehash: leaf-aligned ranges
};

struct HashReply {
    RequestKind kind = RequestKind::region;
    uint64_t region = 0;
    // region: 1 hash; blocks: one per block of the region; leaves: every leaf of each
    // requested block in order; rehash: one per leaf of the ranges.
    std::vector<Hash> hashes;
};

struct PeerInfo {
    uint64_t size = 0; // replica bytes
    std::string
        identity; // stable name of the replica for the checkpoint ("file:/path", "host:port/name")
};

class ReplicaPeer
{
  public:
    virtual ~ReplicaPeer() = default;
    // Agrees on the geometry (both sides must hash the same way), tells the replica side the
    // source's size and says what the replica is (its size may differ: the planner refuses).
    virtual PeerInfo open(const Geometry &geometry, uint64_t source_bytes) = 0;
    virtual void request(HashRequest req) = 0;
    // The next reply, in request order; blocks until it is there. Throws on a peer failure.
    virtual HashReply reply() = 0;
    // Queues data for the replica, applied in order after validation (bounds, digest).
    virtual void write(std::vector<codec::Chunk> chunks) = 0;
    // Returns once every write so far is durable on the replica.
    virtual void flush() = 0;
    // Bytes that crossed the network both ways (0 for a local replica).
    virtual uint64_t wire_bytes() const { return 0; }
};

} // namespace cbtrep::resync
