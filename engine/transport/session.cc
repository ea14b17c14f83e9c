#include "session.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <mutex>

#include "transport/frame_conn.h"
#include "transport/socket.h"
#include "transport/tls.h"

namespace cbtrep::transport
{
namespace
{

template <size_t N> void copy_name(char (&dst)[N], const std::string &src, const char *what)
{
    if (src.size() >= N)
        throw Error(cat(what, " '", src, "' is longer than ", N - 1, " bytes"), false);
    std::memset(dst, 0, N);
    std::memcpy(dst, src.data(), src.size());
}

[[noreturn]] void throw_remote(const Frame &f)
{
    auto e = f.as<cbt_wire_error>();
    bool fatal = e.flags & CBT_WERR_F_FATAL;
    throw RemoteError(cat("target refused: ", cbt_wire_error_code_str(e.code), ": ", e.message,
                          fatal ? " (not retrying)" : ""),
                      e.code, fatal, e.batch_id);
}

} // namespace

ExtentOut ExtentOut::raw(uint64_t offset, std::span<const uint8_t> data, uint64_t seq)
{
    ExtentOut e;
    e.offset = offset;
    e.length = data.size();
    e.encoding = CBT_WE_RAW;
    e.seq = seq;
    e.digest = xxh3_128(data);
    e.payload = data;
    return e;
}

ExtentOut ExtentOut::zero(uint64_t offset, uint64_t length, uint64_t seq)
{
    ExtentOut e;
    e.offset = offset;
    e.length = length;
    e.encoding = CBT_WE_ZERO;
    e.seq = seq;
    return e;
}

ExtentOut ExtentOut::discard(uint64_t offset, uint64_t length, uint64_t seq)
{
    ExtentOut e = zero(offset, length, seq);
    e.encoding = CBT_WE_DISCARD;
    return e;
}

ExtentOut ExtentOut::lz4(uint64_t offset, std::span<const uint8_t> decoded,
                         std::span<const uint8_t> compressed, uint64_t seq)
{
    ExtentOut e;
    e.offset = offset;
    e.length = decoded.size();
    e.encoding = CBT_WE_LZ4;
    e.seq = seq;
    e.digest = xxh3_128(decoded);
    e.payload = compressed;
    return e;
}

std::unique_ptr<ReplicaSession> ReplicaSession::connect(const std::string &host, uint16_t port,
                                                        const TlsConfig &tls_cfg,
                                                        const SourceIdentity &id,
                                                        const SessionOptions &options)
{
    // A write to a connection the target closed must be an error, not a fatal signal.
    static std::once_flag sigpipe_once;
    std::call_once(sigpipe_once, [] { std::signal(SIGPIPE, SIG_IGN); });

    cbt_wire_hello hello{};
    hello.version_min = CBT_WIRE_VERSION_MIN;
    hello.version_max = CBT_WIRE_VERSION_MAX;
    copy_name(hello.replica, id.replica, "replica name");
    copy_name(hello.source, id.source_name, "source name");
    std::memcpy(hello.device_id, id.device_id.data(), sizeof(hello.device_id));
    std::memcpy(hello.engine_id, id.engine_id.data(), sizeof(hello.engine_id));
    hello.device_bytes = id.device_bytes;
    hello.granularity = id.granularity;
    if (int err = cbt_wire_hello_check(&hello))
        throw Error(cat("cannot connect replica '", id.replica, "': ", cbt_wire_err_str(err)),
                    false);

    tls::SslCtxPtr ctx = tls::make_client_ctx(tls_cfg);
    std::string name = tls_cfg.server_name.empty() ? host : tls_cfg.server_name;
    UniqueFd fd = tcp_connect(host, port, options.connect_timeout);
    std::unique_ptr<ReplicaSession> s(new ReplicaSession());
    s->options_ = options;
    s->conn_ = FrameConn::client(std::move(fd), ctx.get(), name, options.connect_timeout);
    // The context is reference-counted by the SSL object; ours can go.

    Frame f;
    try {
        s->conn_->send(CBT_WT_HELLO, hello);
    } catch (const Error &) {
        // A refused client certificate shows up as a failed write in TLS 1.3; the alert
        // that says why is waiting to be read.
        s->conn_->recv(f);
        throw;
    }
    s->conn_->recv(f);
    if (f.type() == CBT_WT_ERROR)
        throw_remote(f);
    if (f.type() != CBT_WT_HELLO_OK)
        throw FrameError(
            cat("expected HELLO_OK from ", s->conn_->peer(), ", got ", cbt_wire_type_str(f.type())),
            CBT_WIRE_E_UNEXPECTED);
    auto ok = f.as<cbt_wire_hello_ok>();
    if (ok.version < hello.version_min || ok.version > hello.version_max)
        throw Error(cat("target chose protocol version ", ok.version, " outside ",
                        hello.version_min, "..", hello.version_max),
                    false);
    ReplicaInfo &info = s->info_;
    info.version = ok.version;
    info.flags = ok.flags;
    info.replica_bytes = ok.replica_bytes;
    info.applied_seq = ok.applied_seq;
    info.applied_batch_id = ok.applied_batch_id;
    info.consistent_seq = ok.consistent_seq;
    std::memcpy(info.replica_id.data(), ok.replica_id, 16);
    std::memcpy(info.device_id.data(), ok.device_id, 16);
    info.max_window = ok.max_window;
    info.max_extent = ok.max_extent;
    s->conn_->set_version(ok.version);
    s->conn_->set_io_timeout(options.io_timeout);
    s->window_ = std::max<uint32_t>(
        1, std::min({options.window, ok.max_window, static_cast<uint32_t>(s->pending_.size())}));
    return s;
}

ReplicaSession::~ReplicaSession() = default;

void ReplicaSession::fail_after_send_error(const Error &e)
{
    // The target usually explains why it stopped reading: an ERROR frame waits for us.
    try {
        Frame f;
        while (conn_->readable(std::chrono::milliseconds(1000))) {
            conn_->recv(f);
            if (f.type() == CBT_WT_ERROR)
                throw_remote(f);
        }
    } catch (const RemoteError &) {
        throw;
    } catch (const Error &) {
    }
    throw e;
}

void ReplicaSession::take_ack(const Frame &f)
{
    auto a = f.as<cbt_wire_ack>();
    if (unacked_ == 0 || a.batch_id != pending_[pending_head_])
        throw FrameError(cat("unexpected ACK for batch ", a.batch_id, " from ", conn_->peer()),
                         CBT_WIRE_E_ORDER);
    pending_head_ = (pending_head_ + 1) % pending_.size();
    --unacked_;
    Ack ack{a.batch_id, a.last_seq, (a.flags & CBT_WA_DUPLICATE) != 0, a.applied_ns};
    info_.applied_seq = a.last_seq;
    info_.applied_batch_id = a.batch_id;
    if (on_ack_)
        on_ack_(ack);
}

void ReplicaSession::read_one_ack(std::chrono::milliseconds timeout)
{
    Frame f;
    for (;;) {
        if (timeout.count() >= 0 && !conn_->readable(timeout))
            return;
        conn_->recv(f);
        switch (f.type()) {
        case CBT_WT_ACK:
            take_ack(f);
            return;
        case CBT_WT_ERROR:
            throw_remote(f);
        case CBT_WT_PING: {
            auto p = f.as<cbt_wire_ping>();
            conn_->send(CBT_WT_PONG, p);
            continue;
        }
        case CBT_WT_PONG:
            continue;
        default:
            throw FrameError(
                cat("unexpected ", cbt_wire_type_str(f.type()), " frame from ", conn_->peer()),
                CBT_WIRE_E_UNEXPECTED);
        }
    }
}

void ReplicaSession::begin_batch(const BatchInfo &b)
{
    if (in_batch_)
        throw Error("begin_batch inside a batch (bug)", false);
    while (unacked_ >= window_)
        read_one_ack(std::chrono::milliseconds(-1));
    cbt_wire_batch_begin w{};
    w.batch_id = b.batch_id;
    w.first_seq = b.first_seq;
    w.last_seq = b.last_seq;
    w.nr_extents = b.nr_extents;
    w.nr_tags = b.nr_tags;
    w.mode = b.mode;
    w.flags = b.flags | (b.nr_tags ? CBT_WB_HAS_TAG : 0);
    w.timestamp_ns = b.timestamp_ns;
    w.total_bytes = b.total_bytes;
    if (int err = cbt_wire_batch_begin_check(&w))
        throw Error(cat("batch ", b.batch_id, ": ", cbt_wire_err_str(err)), false);
    try {
        conn_->send(CBT_WT_BATCH_BEGIN, w);
    } catch (const RemoteError &) {
        throw;
    } catch (const Error &e) {
        fail_after_send_error(e);
    }
    cur_ = b;
    in_batch_ = true;
    sent_extents_ = sent_tags_ = 0;
    sent_bytes_ = sent_payload_ = 0;
}

void ReplicaSession::send_extent(const ExtentOut &x)
{
    if (!in_batch_)
        throw Error("send_extent outside a batch (bug)", false);
    if (x.payload.size() > CBT_WIRE_MAX_PAYLOAD)
        throw Error(cat("extent at ", x.offset, ": payload of ", x.payload.size(),
                        " bytes above the protocol limit"),
                    false);
    cbt_wire_extent w{};
    w.offset = x.offset;
    w.length = x.length;
    w.encoding = x.encoding;
    w.encoded_len = static_cast<uint32_t>(x.payload.size());
    w.seq = x.seq;
    if (x.encoding == CBT_WE_RAW || x.encoding == CBT_WE_LZ4)
        std::memcpy(w.digest, x.digest.data(), sizeof(w.digest));
    w.index = sent_extents_;
    if (int err = cbt_wire_extent_check(&w, w.encoded_len, info_.replica_bytes))
        throw Error(
            cat("extent at byte ", x.offset, " (", x.length, " bytes): ", cbt_wire_err_str(err)),
            false);
    try {
        conn_->send(CBT_WT_EXTENT, w, x.payload);
    } catch (const RemoteError &) {
        throw;
    } catch (const Error &e) {
        fail_after_send_error(e);
    }
    ++sent_extents_;
    sent_bytes_ += x.length;
    sent_payload_ += x.payload.size();
}

void ReplicaSession::send_tag(const TagOut &t)
{
    if (!in_batch_)
        throw Error("send_tag outside a batch (bug)", false);
    cbt_wire_tag w{};
    w.tag_id = t.tag_id;
    w.timestamp_ns = t.timestamp_ns;
    w.seq = t.seq;
    w.flags = t.flags;
    w.nr_devices = t.nr_devices;
    copy_name(w.name, t.name, "tag name");
    w.index = sent_tags_;
    if (int err = cbt_wire_tag_check(&w))
        throw Error(cat("tag '", t.name, "': ", cbt_wire_err_str(err)), false);
    try {
        conn_->send(CBT_WT_TAG, w);
    } catch (const RemoteError &) {
        throw;
    } catch (const Error &e) {
        fail_after_send_error(e);
    }
    ++sent_tags_;
}

void ReplicaSession::end_batch()
{
    if (!in_batch_)
        throw Error("end_batch outside a batch (bug)", false);
    cbt_wire_batch_end w{};
    w.batch_id = cur_.batch_id;
    w.nr_extents = sent_extents_;
    w.nr_tags = sent_tags_;
    w.total_bytes = sent_bytes_;
    w.payload_bytes = sent_payload_;
    try {
        conn_->send(CBT_WT_BATCH_END, w);
    } catch (const RemoteError &) {
        throw;
    } catch (const Error &e) {
        fail_after_send_error(e);
    }
    in_batch_ = false;
    pending_[(pending_head_ + unacked_) % pending_.size()] = cur_.batch_id;
    ++unacked_;
    // Handle ACKs that already arrived without waiting for more.
    while (unacked_ && conn_->readable(std::chrono::milliseconds(0)))
        read_one_ack(std::chrono::milliseconds(0));
}

void ReplicaSession::send_batch(const BatchInfo &batch, std::span<const ExtentOut> extents,
                                std::span<const TagOut> tags)
{
    BatchInfo b = batch;
    b.nr_extents = static_cast<uint32_t>(extents.size());
    b.nr_tags = static_cast<uint32_t>(tags.size());
    b.total_bytes = 0;
    for (const auto &e : extents)
        b.total_bytes += e.length;
    begin_batch(b);
    for (const auto &e : extents)
        send_extent(e);
    for (const auto &t : tags)
        send_tag(t);
    end_batch();
}

size_t ReplicaSession::poll_acks(std::chrono::milliseconds timeout)
{
    size_t handled = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (unacked_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() < 0)
            left = std::chrono::milliseconds(0);
        size_t before = unacked_;
        read_one_ack(left);
        if (unacked_ == before)
            break;
        ++handled;
    }
    return handled;
}

void ReplicaSession::wait_all_acked()
{
    while (unacked_)
        read_one_ack(std::chrono::milliseconds(-1));
}

void ReplicaSession::ping()
{
    cbt_wire_ping p{next_ping_++, 0};
    conn_->send(CBT_WT_PING, p);
    Frame f;
    for (;;) {
        if (!conn_->readable(options_.io_timeout))
            throw Error(cat("no PONG from ", conn_->peer()));
        conn_->recv(f);
        if (f.type() == CBT_WT_PONG && f.as<cbt_wire_ping>().nonce == p.nonce)
            return;
        if (f.type() == CBT_WT_ERROR)
            throw_remote(f);
        if (f.type() == CBT_WT_ACK)
            take_ack(f); // an ACK racing the PONG counts as usual
        else if (f.type() == CBT_WT_PING)
            conn_->send(CBT_WT_PONG, f.as<cbt_wire_ping>());
    }
}

std::unique_ptr<FrameConn> ReplicaSession::release_connection()
{
    if (in_batch_ || unacked_)
        throw Error("release_connection with a batch in flight (bug)", false);
    return std::move(conn_);
}

void ReplicaSession::close()
{
    if (conn_)
        conn_->close(std::chrono::milliseconds(200));
}

} // namespace cbtrep::transport
