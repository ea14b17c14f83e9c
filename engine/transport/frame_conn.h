// One TLS connection carrying wire frames (include/cbtrep/wire.h). recv() validates every
// frame completely (header CRC before any length is used, body CRC, body fields, extent
// bounds) and keeps memory bounded: one body buffer and one payload buffer of at most
// CBT_WIRE_MAX_PAYLOAD bytes per connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <cbtrep/wire.h>

#include "common/error.h"
#include "common/fd.h"
#include "transport/tls.h"

namespace cbtrep::transport
{

// A malformed frame; code() is the enum cbt_wire_err reason.
class FrameError : public Error
{
  public:
    FrameError(const std::string &what, int code) : Error(what, true), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

// The peer closed the connection cleanly at a frame boundary.
class PeerClosed : public Error
{
  public:
    explicit PeerClosed(const std::string &what) : Error(what, true) {}
};

struct Frame {
    cbt_wire_hdr hdr{};
    alignas(8) uint8_t body[CBT_WIRE_MAX_BODY]{};
    std::vector<uint8_t> payload; // hdr.payload_len bytes

    uint16_t type() const noexcept { return hdr.type; }
    template <typename T> T as() const noexcept
    {
        static_assert(sizeof(T) <= CBT_WIRE_MAX_BODY);
        T t;
        std::memcpy(&t, body, sizeof(t));
        return t;
    }
};

class FrameConn
{
  public:
    // TLS client handshake on a connected socket; verifies the server certificate against
    // the CA and server_name. Authentication failures are fatal errors.
    static std::unique_ptr<FrameConn> client(UniqueFd fd, SSL_CTX *ctx,
                                             const std::string &server_name,
                                             std::chrono::milliseconds timeout);
    // TLS server handshake on an accepted socket; the client certificate must chain to the CA.
    static std::unique_ptr<FrameConn> server(UniqueFd fd, SSL_CTX *ctx, const std::string &peer,
                                             std::chrono::milliseconds timeout);
    ~FrameConn();

    const std::string &peer() const noexcept { return peer_; }
    SSL *ssl() const noexcept { return ssl_.get(); }
    int fd() const noexcept { return fd_.get(); }

    // Protocol version once negotiated; 0 before (HELLO, HELLO_OK and ERROR only).
    void set_version(uint16_t v) noexcept { version_ = v; }
    uint16_t version() const noexcept { return version_; }
    void set_io_timeout(std::chrono::milliseconds timeout);

    void send(uint16_t type, const void *body, uint32_t body_len,
              std::span<const uint8_t> payload = {});
    template <typename T>
    void send(uint16_t type, const T &body, std::span<const uint8_t> payload = {})
    {
        send(type, &body, sizeof(body), payload);
    }
    // Sends raw bytes as they are (test tools crafting malformed frames).
    void send_raw(const void *data, size_t len);

    // Reads and validates one frame. replica_bytes bounds EXTENT frames when nonzero.
    // Throws FrameError (malformed), PeerClosed (EOF at a frame boundary) or Error.
    void recv(Frame &f, uint64_t replica_bytes = 0);

    // True when a frame (or part of one) can be read without blocking for longer than timeout.
    bool readable(std::chrono::milliseconds timeout);

    // Orderly end: close_notify, then read and discard what the peer still sends (bounded
    // by linger) so that our last frame (an ERROR) is not destroyed by a TCP reset.
    void close(std::chrono::milliseconds linger = std::chrono::milliseconds(2000));

    uint64_t bytes_in() const noexcept { return bytes_in_; }
    uint64_t bytes_out() const noexcept { return bytes_out_; }

  private:
    FrameConn(UniqueFd fd, tls::SslPtr ssl, std::string peer);
    // false: EOF before the first byte (only when at_boundary)
    bool read_exact(void *buf, size_t len, bool at_boundary, const char *what);
    void write_all(const void *buf, size_t len);

    UniqueFd fd_;
    tls::SslPtr ssl_;
    std::string peer_;
    uint16_t version_ = 0;
    std::chrono::milliseconds io_timeout_{60000};
    bool closed_ = false;
    uint64_t bytes_in_ = 0;
    uint64_t bytes_out_ = 0;
};

} // namespace cbtrep::transport
