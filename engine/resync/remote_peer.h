// RemotePeer: the replica sits behind a cbtrep-target. One TLS 1.3 connection (mutual
// certificates, as for replication), opened with the replication session's own HELLO
// (transport::ReplicaSession::connect), then RS_BEGIN turns it into a
// resync or verify session (include/cbtrep/wire.h, docs/resync.md). Hash requests are sent
// as the planner makes them and replies read when it asks; replies that arrive while data
// is being sent are read in between frames, so neither side can block the other.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "resync/peer.h"
#include "transport/tls_config.h"

namespace cbtrep::transport
{
class FrameConn;
struct Frame;
} // namespace cbtrep::transport

namespace cbtrep::resync
{

struct TargetOptions {
    transport::TlsConfig tls;
    bool read_only = false; // verify: the target refuses data
    // The replica's applied_seq from this resync on (CBT_WRS_REBASE): cbtrepd's automatic
    // resync passes its tracker's committed sequence, after which the journal resumes.
    std::optional<uint64_t> rebase_seq;
    std::string source_name;             // logged by the target (sanitised to a name)
    std::array<uint8_t, 16> device_id{}; // source identity (the daemon's), zero = unknown
    std::array<uint8_t, 16> engine_id{};
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds io_timeout{120000}; // hashing a region on a slow disk takes a while
};

struct TargetAddress {
    std::string host;
    uint16_t port = 0;
    std::string replica;
};

// "HOST:PORT/REPLICA" or "[V6ADDR]:PORT/REPLICA"; throws std::invalid_argument naming the part.
TargetAddress parse_target(const std::string &spec);

class RemotePeer : public ReplicaPeer
{
  public:
    RemotePeer(TargetAddress address, TargetOptions opts);
    ~RemotePeer() override;

    PeerInfo open(const Geometry &geometry, uint64_t source_bytes) override;
    void request(HashRequest req) override;
    HashReply reply() override;
    void write(std::vector<codec::Chunk> chunks) override;
    void flush() override;
    uint64_t wire_bytes() const override;

  private:
    // Reads one frame and files it: RS_HASHES into replies_, RS_FLUSHED into flushed_,
    // PING answered, ERROR thrown.
    void read_one();
    void drain_ready();

    TargetAddress addr_;
    TargetOptions opts_;
    std::unique_ptr<transport::FrameConn> conn_;
    std::unique_ptr<transport::Frame> frame_;
    uint64_t replica_bytes_ = 0;
    size_t hash_len_ = 16;
    uint64_t next_req_ = 1;
    std::deque<uint64_t> pending_; // req ids sent, not answered
    std::deque<HashReply> replies_;
    uint64_t next_flush_ = 1;
    uint64_t flushed_ = 0;
    uint32_t extent_index_ = 0;
};

// The peer for `--target SPEC` (parse_target) with opts.
std::unique_ptr<ReplicaPeer> make_remote_peer(const std::string &spec, const TargetOptions &opts);

} // namespace cbtrep::resync
