// The client side of the wire protocol (include/cbtrep/wire.h, docs/protocol.md): what the
// engine uses to ship batches to a cbtrep-target.
//
//   auto s = ReplicaSession::connect(host, port, tls, identity);   // TLS 1.3 + HELLO
//   resume after s->replica().applied_seq
//   s->on_ack([&](const Ack &a) { tracker.commit(a.batch_id); });
//   s->begin_batch(info); s->send_extent(e)...; s->send_tag(t)...; s->end_batch();
//   ... up to window() batches in flight; begin_batch() waits for ACKs when the window is full
//   s->wait_all_acked();
//
// ACKs arrive in batch order and only once the batch is durable on the replica; the handler
// runs inside whichever call read the ACK (begin_batch, end_batch, poll_acks, wait_all_acked).
// A session is used from one thread. Every failure throws cbtrep::Error; recoverable() says
// whether reconnecting later may help (network, busy, disk full) or not (authentication,
// identity mismatch, sequence gap). A RemoteError also carries the target's ERROR code.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/digest.h"
#include "common/error.h"
#include "transport/tls_config.h"

namespace cbtrep::transport
{

struct SessionOptions {
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds io_timeout{60000}; // one send or receive stalling longer fails
    uint32_t window = 8;                         // unacked batches; capped by the target's limit
};

// Who is connecting and for which replica (HELLO).
struct SourceIdentity {
    std::string replica;                 // replica name on the target
    std::array<uint8_t, 16> device_id{}; // identity of the source device, zero = unknown
    uint64_t device_bytes = 0;           // source device size (multiple of 512)
    uint32_t granularity = 4096;         // source bitmap granularity
    std::array<uint8_t, 16> engine_id{}; // engine instance (logged by the target)
    std::string source_name;             // source device name (logged), may be empty
};

// Where the replica stands (HELLO_OK): resume with the first batch after applied_seq.
struct ReplicaInfo {
    uint16_t version = 0;
    uint32_t flags = 0; // CBT_WHO_*
    uint64_t replica_bytes = 0;
    uint64_t applied_seq = 0;
    uint64_t applied_batch_id = 0;
    uint64_t consistent_seq = 0;
    std::array<uint8_t, 16> replica_id{};
    std::array<uint8_t, 16> device_id{};
    uint32_t max_window = 0;
    uint32_t max_extent = 0;
};

struct BatchInfo {
    uint64_t batch_id = 0;  // nonzero, as handed out by the tracker
    uint64_t first_seq = 0; // nonzero
    uint64_t last_seq = 0;  // >= first_seq
    uint16_t mode = 0;      // enum cbt_mode
    uint32_t flags = 0;     // CBT_WB_* (CBT_WB_HAS_TAG is set for you when nr_tags > 0)
    uint64_t timestamp_ns = 0;
    uint32_t nr_extents = 0;  // EXTENT frames that will follow
    uint32_t nr_tags = 0;     // TAG frames that will follow
    uint64_t total_bytes = 0; // sum of the extents' decoded lengths
};

// One extent. For RAW and LZ4, digest is xxh3_128() of the *decoded* bytes and payload the
// bytes on the wire; ZERO and DISCARD carry neither.
struct ExtentOut {
    uint64_t offset = 0;   // bytes, multiple of 512
    uint64_t length = 0;   // decoded bytes, multiple of 512
    uint16_t encoding = 0; // enum cbt_wire_encoding
    uint64_t seq = 0;      // record sequence number, 0 = unknown
    Digest digest{};
    std::span<const uint8_t> payload;

    static ExtentOut raw(uint64_t offset, std::span<const uint8_t> data, uint64_t seq = 0);
    static ExtentOut zero(uint64_t offset, uint64_t length, uint64_t seq = 0);
    static ExtentOut discard(uint64_t offset, uint64_t length, uint64_t seq = 0);
    // lz4: compressed holds one LZ4 block of decoded (whose digest is computed here).
    static ExtentOut lz4(uint64_t offset, std::span<const uint8_t> decoded,
                         std::span<const uint8_t> compressed, uint64_t seq = 0);
};

struct TagOut {
    uint64_t tag_id = 0;
    uint64_t timestamp_ns = 0;
    uint64_t seq = 0;   // sequence number of the TAG record, nonzero
    uint32_t flags = 0; // CBT_TAG_APP_CONSISTENT
    uint32_t nr_devices = 1;
    std::string name;
};

struct Ack {
    uint64_t batch_id = 0;
    uint64_t last_seq = 0;  // every seq <= this is durable on the replica
    bool duplicate = false; // the batch had been applied before; acknowledged only
    uint64_t applied_ns = 0;
};

// An ERROR frame from the target.
class RemoteError : public Error
{
  public:
    RemoteError(const std::string &what, uint32_t code, bool fatal, uint64_t batch_id)
        : Error(what, !fatal), code_(code), batch_id_(batch_id)
    {
    }
    uint32_t code() const noexcept { return code_; } // enum cbt_wire_error_code
    uint64_t batch_id() const noexcept { return batch_id_; }

  private:
    uint32_t code_;
    uint64_t batch_id_;
};

class FrameConn;
struct Frame;

class ReplicaSession
{
  public:
    using AckHandler = std::function<void(const Ack &)>;

    // TCP connect, TLS 1.3 handshake (both certificates verified), HELLO → HELLO_OK.
    static std::unique_ptr<ReplicaSession> connect(const std::string &host, uint16_t port,
                                                   const TlsConfig &tls,
                                                   const SourceIdentity &identity,
                                                   const SessionOptions &options = {});
    ~ReplicaSession();
    ReplicaSession(const ReplicaSession &) = delete;
    ReplicaSession &operator=(const ReplicaSession &) = delete;

    const ReplicaInfo &replica() const noexcept { return info_; }
    // Batches that may be in flight: min(options.window, target's max_window).
    uint32_t window() const noexcept { return window_; }
    size_t unacked() const noexcept { return unacked_; }
    void on_ack(AckHandler handler) { on_ack_ = std::move(handler); }

    // Starts a batch; first waits (reading ACKs) until fewer than window() are unacked.
    void begin_batch(const BatchInfo &batch);
    void send_extent(const ExtentOut &extent);
    void send_tag(const TagOut &tag);
    // Ends the batch (totals cross-checked by the target). Does not wait for its ACK.
    void end_batch();
    // All of the above for a batch held in memory.
    void send_batch(const BatchInfo &batch, std::span<const ExtentOut> extents,
                    std::span<const TagOut> tags = {});

    // Reads the ACKs that arrive within timeout (0 = only what is already there); returns how
    // many were handled.
    size_t poll_acks(std::chrono::milliseconds timeout);
    // Blocks until every batch sent is acknowledged.
    void wait_all_acked();
    // Round trip PING/PONG; throws on timeout.
    void ping();
    // Orderly close (TLS close_notify). The destructor closes too, silently.
    void close();
    // Hands the connection, past HELLO_OK, to another protocol on it (a resync session,
    // engine/resync/remote_peer.cc). Only between batches with nothing unacknowledged.
    std::unique_ptr<FrameConn> release_connection();

  private:
    ReplicaSession() = default;
    void read_one_ack(std::chrono::milliseconds timeout);
    void take_ack(const Frame &f);
    [[noreturn]] void fail_after_send_error(const Error &e);

    std::unique_ptr<FrameConn> conn_;
    ReplicaInfo info_;
    SessionOptions options_;
    AckHandler on_ack_;
    uint32_t window_ = 1;
    size_t unacked_ = 0;
    uint64_t next_ping_ = 1;
    // the batch being sent
    bool in_batch_ = false;
    BatchInfo cur_{};
    uint32_t sent_extents_ = 0;
    uint32_t sent_tags_ = 0;
    uint64_t sent_bytes_ = 0;
    uint64_t sent_payload_ = 0;
    // expected ACK order
    std::array<uint64_t, 64> pending_{};
    size_t pending_head_ = 0;
};

} // namespace cbtrep::transport
