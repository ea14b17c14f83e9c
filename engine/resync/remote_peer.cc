#include "remote_peer.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <netinet/in.h>
#include <linux/tcp.h> // tcp_info with byte counters (glibc's copy predates them)
#include <sys/socket.h>

#include <cbtrep/wire.h>

#include "common/error.h"
#include "resync/wire_map.h"
#include "transport/frame_conn.h"
#include "transport/session.h"
#include "transport/socket.h"
#include "transport/tls.h"

namespace cbtrep::resync
{

using transport::Frame;
using transport::FrameConn;
using transport::FrameError;

namespace
{

// Hash replies the target may write while we are busy sending data land here; 4 MiB holds
// the replies of a full window of regions (at most 8 x 4096 leaves x 32 bytes = 1 MiB).
constexpr int receive_buffer_bytes = 4 << 20;

std::string name_of(const std::string &path)
{
    std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string out;
    for (char c : base) {
        if (out.size() + 1 >= CBT_NAME_LEN)
            break;
        out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'
                   ? c
                   : '_';
    }
    return out;
}

[[noreturn]] void throw_remote(const Frame &f, const std::string &peer)
{
    auto e = f.as<cbt_wire_error>();
    bool fatal = e.flags & CBT_WERR_F_FATAL;
    throw transport::RemoteError(cat("target ", peer, " refused: ", cbt_wire_error_code_str(e.code),
                                     ": ", e.message, fatal ? " (not retrying)" : ""),
                                 e.code, fatal, e.batch_id);
}

} // namespace

TargetAddress parse_target(const std::string &spec)
{
    auto bad = [&](const std::string &why) {
        throw std::invalid_argument("target \"" + spec + "\": " + why +
                                    " (expected HOST:PORT/REPLICA)");
    };
    auto slash = spec.find('/');
    if (slash == std::string::npos || slash + 1 >= spec.size())
        bad("no replica name after '/'");
    std::string hostport = spec.substr(0, slash);
    TargetAddress a;
    a.replica = spec.substr(slash + 1);
    if (!cbt_name_valid(a.replica.c_str(), a.replica.size() + 1) ||
        a.replica.size() >= CBT_NAME_LEN)
        bad("replica name \"" + a.replica + "\" must be 1-31 characters of [A-Za-z0-9._-]");
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos || colon == 0)
        bad("no host:port");
    a.host = hostport.substr(0, colon);
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
        a.host = a.host.substr(1, a.host.size() - 2);
    std::string port = hostport.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoul(port) == 0 || std::stoul(port) > 65535)
        bad("port \"" + port + "\" must be 1..65535");
    a.port = static_cast<uint16_t>(std::stoul(port));
    return a;
}

RemotePeer::RemotePeer(TargetAddress address, TargetOptions opts)
    : addr_(std::move(address)), opts_(std::move(opts)), frame_(std::make_unique<Frame>())
{
}

RemotePeer::~RemotePeer()
{
    if (conn_) {
        try {
            conn_->close(std::chrono::milliseconds(500));
        } catch (const std::exception &) {
            // Closing is best effort: the target rolls nothing back for a resync session.
        }
    }
}

PeerInfo RemotePeer::open(const Geometry &geometry, uint64_t source_bytes)
{
    // A write to a connection the target closed must be an error, not a fatal signal.
    static std::once_flag sigpipe_once;
    std::call_once(sigpipe_once, [] { std::signal(SIGPIPE, SIG_IGN); });

    if (source_bytes == 0 || source_bytes % CBT_SECTOR_SIZE)
        throw Error(cat("resync: the source is ", source_bytes,
                        " bytes; a remote replica needs a nonzero multiple of 512"),
                    false);
    // HELLO is the replication session's own (transport::ReplicaSession::connect()); the
    // connection it leaves past HELLO_OK becomes the resync session.
    transport::SourceIdentity id;
    id.replica = addr_.replica;
    id.device_id = opts_.device_id;
    id.engine_id = opts_.engine_id;
    id.device_bytes = source_bytes;
    id.granularity = 4096;
    id.source_name = name_of(opts_.source_name);
    transport::SessionOptions so;
    so.connect_timeout = opts_.connect_timeout;
    so.io_timeout = opts_.io_timeout;
    so.window = 1;
    auto session = transport::ReplicaSession::connect(addr_.host, addr_.port, opts_.tls, id, so);
    const transport::ReplicaInfo ok = session->replica();
    conn_ = session->release_connection();
    int rcv = receive_buffer_bytes;
    ::setsockopt(conn_->fd(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)); // best effort
    Frame &f = *frame_;

    cbt_wire_rs_begin begin = begin_body(geometry, source_bytes, opts_.read_only, opts_.rebase_seq);
    if (int err = cbt_wire_rs_begin_check(&begin))
        throw Error(cat("resync: ", describe(geometry),
                        " cannot be used with a remote replica: ", cbt_wire_err_str(err)),
                    false);
    conn_->send(CBT_WT_RS_BEGIN, begin);
    conn_->recv(f);
    if (f.type() == CBT_WT_ERROR)
        throw_remote(f, conn_->peer());
    if (f.type() != CBT_WT_RS_BEGIN_OK)
        throw FrameError(
            cat("expected RS_BEGIN_OK from ", conn_->peer(), ", got ", cbt_wire_type_str(f.type())),
            CBT_WIRE_E_UNEXPECTED);
    auto rok = f.as<cbt_wire_rs_begin_ok>();
    replica_bytes_ = rok.replica_bytes;
    hash_len_ = hash_len(geometry.hash);
    // The identity is the replica's own (random at creation, HELLO_OK), not the address:
    // a target that restarts on another port, or is reached by another name, still holds
    // the same replica and the checkpoint still applies; a re-created replica does not.
    static const char hex[] = "0123456789abcdef";
    std::string rid;
    for (uint8_t b : ok.replica_id)
        rid += cat(hex[b >> 4], hex[b & 15]);
    return {replica_bytes_, cat("target-replica:", addr_.replica, "/", rid)};
}

void RemotePeer::request(HashRequest req)
{
    cbt_wire_rs_hash_req r{};
    r.req_id = next_req_++;
    r.region = req.region;
    r.kind = wire_kind(req.kind);
    std::vector<uint8_t> items;
    if (req.kind == RequestKind::leaves) {
        r.nr_items = uint32_t(req.blocks.size());
        items.resize(req.blocks.size() * 4);
        std::memcpy(items.data(), req.blocks.data(), items.size());
    } else if (req.kind == RequestKind::rehash) {
        r.nr_items = uint32_t(req.ranges.size());
        items.resize(req.ranges.size() * 16);
        for (size_t i = 0; i < req.ranges.size(); ++i) {
            std::memcpy(items.data() + i * 16, &req.ranges[i].offset, 8);
            std::memcpy(items.data() + i * 16 + 8, &req.ranges[i].length, 8);
        }
    }
    if (int err = cbt_wire_rs_hash_req_check(&r, uint32_t(items.size())))
        throw Error(cat("resync: cannot encode a ", request_kind_name(req.kind),
                        " request for region ", req.region, ": ", cbt_wire_err_str(err)),
                    false);
    drain_ready();
    conn_->send(CBT_WT_RS_HASH_REQ, r, items);
    pending_.push_back(r.req_id);
}

void RemotePeer::read_one()
{
    Frame &f = *frame_;
    conn_->recv(f);
    switch (f.type()) {
    case CBT_WT_RS_HASHES: {
        auto h = f.as<cbt_wire_rs_hashes>();
        if (pending_.empty() || h.req_id != pending_.front())
            throw FrameError(
                cat("RS_HASHES for request ", h.req_id, " from ", conn_->peer(), " out of order"),
                CBT_WIRE_E_ORDER);
        if (h.hash_len != hash_len_)
            throw FrameError(cat("RS_HASHES of ", h.hash_len, "-byte hashes from ", conn_->peer(),
                                 ", expected ", hash_len_),
                             CBT_WIRE_E_RS_HASH);
        pending_.pop_front();
        HashReply rep;
        rep.kind = kind_from_wire(h.kind);
        rep.region = h.region;
        rep.hashes.resize(h.nr_hashes);
        for (uint32_t i = 0; i < h.nr_hashes; ++i)
            std::memcpy(rep.hashes[i].bytes.data(), f.payload.data() + size_t(i) * hash_len_,
                        hash_len_);
        replies_.push_back(std::move(rep));
        break;
    }
    case CBT_WT_RS_FLUSHED:
        flushed_ = std::max(flushed_, f.as<cbt_wire_rs_flush>().flush_id);
        break;
    case CBT_WT_PING:
        conn_->send(CBT_WT_PONG, f.as<cbt_wire_ping>());
        break;
    case CBT_WT_PONG:
        break;
    case CBT_WT_ERROR:
        throw_remote(f, conn_->peer());
    default:
        throw FrameError(
            cat(cbt_wire_type_str(f.type()), " frame from ", conn_->peer(), " in a resync session"),
            CBT_WIRE_E_UNEXPECTED);
    }
}

void RemotePeer::drain_ready()
{
    // Whatever the target has already answered is read now, so its replies never pile up
    // behind our data and stall it while we wait for it to read.
    while (conn_->readable(std::chrono::milliseconds(0)))
        read_one();
}

HashReply RemotePeer::reply()
{
    while (replies_.empty()) {
        if (pending_.empty())
            throw Error("resync: waiting for a reply to no request", false);
        read_one();
    }
    HashReply r = std::move(replies_.front());
    replies_.pop_front();
    return r;
}

void RemotePeer::write(std::vector<codec::Chunk> chunks)
{
    if (opts_.read_only)
        throw Error("resync: data for a read-only (verify) session", false);
    for (const codec::Chunk &c : chunks) {
        cbt_wire_extent e{};
        e.offset = c.offset;
        e.length = c.length;
        e.encoding = wire_encoding(c.encoding);
        e.encoded_len = uint32_t(c.payload.size());
        if (c.encoding != codec::Encoding::zero)
            std::memcpy(e.digest, c.digest.data(), sizeof(e.digest));
        e.index = extent_index_++;
        if (int err = cbt_wire_extent_check(&e, e.encoded_len, replica_bytes_))
            throw Error(cat("resync: cannot send extent ", c.offset, "+", c.length, ": ",
                            cbt_wire_err_str(err)),
                        false);
        drain_ready();
        conn_->send(CBT_WT_EXTENT, e, c.payload);
    }
}

void RemotePeer::flush()
{
    cbt_wire_rs_flush f{};
    f.flush_id = next_flush_++;
    drain_ready();
    conn_->send(CBT_WT_RS_FLUSH, f);
    while (flushed_ < f.flush_id)
        read_one();
}

uint64_t RemotePeer::wire_bytes() const
{
    if (!conn_)
        return 0;
    // What TCP carried (TLS records included), not just our frames: the honest number
    // to compare with rsync's.
    struct tcp_info ti {
    };
    socklen_t len = sizeof(ti);
    if (::getsockopt(conn_->fd(), IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
        len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return ti.tcpi_bytes_acked + ti.tcpi_bytes_received;
    return conn_->bytes_in() + conn_->bytes_out();
}

std::unique_ptr<ReplicaPeer> make_remote_peer(const std::string &spec, const TargetOptions &opts)
{
    return std::make_unique<RemotePeer>(parse_target(spec), opts);
}

} // namespace cbtrep::resync
