#include "server.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include "common/log.h"
#include "resync/remote_responder.h"
#include "transport/frame_conn.h"
#include "transport/socket.h"

namespace cbtrep::target
{
namespace
{

using transport::Frame;
using transport::FrameConn;
using transport::FrameError;
using transport::PeerClosed;

constexpr size_t kMaxConnections = 64;

void send_error(FrameConn &conn, uint32_t code, bool fatal, uint64_t batch_id,
                const std::string &msg)
{
    cbt_wire_error e{};
    e.code = code;
    e.flags = fatal ? CBT_WERR_F_FATAL : 0;
    e.batch_id = batch_id;
    std::strncpy(e.message, msg.c_str(), sizeof(e.message) - 1);
    try {
        conn.send(CBT_WT_ERROR, e);
        conn.close();
    } catch (const std::exception &) {
        // The peer may be gone already; our log has the reason.
    }
}

std::string join(const std::vector<std::string> &v)
{
    std::string s;
    for (const auto &x : v)
        s += (s.empty() ? "" : ",") + x;
    return s.empty() ? "(none)" : s;
}

} // namespace

Server::Server(TargetConfig cfg) : cfg_(std::move(cfg)) {}

Server::~Server()
{
    for (auto &w : workers_)
        if (w.thread.joinable())
            w.thread.join();
}

void Server::start()
{
    ctx_ = tls::make_server_ctx(cfg_.tls);
    if (::mkdir(cfg_.state_dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno(cat("creating state directory ", cfg_.state_dir));
    // Two targets applying to the same replicas would interleave undo logs and state files.
    std::string lock_path = cfg_.state_dir + "/cbtrep-target.lock";
    lock_fd_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_fd_)
        throw_errno(cat("opening ", lock_path));
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0)
        throw Error(cat("state directory ", cfg_.state_dir, " is in use by another cbtrep-target (",
                        lock_path, " is locked)"),
                    false);
    for (const ReplicaSpec &spec : cfg_.replicas) {
        auto slot = std::make_unique<Slot>();
        slot->applier = std::make_unique<Applier>(spec, cfg_.state_dir, cfg_.apply_buffer_bytes);
        bool exists = ::access(spec.path.c_str(), F_OK) == 0;
        if (exists || spec.create_bytes)
            slot->applier->open(); // runs undo recovery before anything is accepted
        else
            log_info("replica ", spec.name, ": ", spec.path,
                     " does not exist yet; created at the first connection");
        slots_.emplace(spec.name, std::move(slot));
    }
    listener_ = std::make_unique<transport::TcpListener>(cfg_.listen_address, cfg_.port);
    log_info("listening on ", cfg_.listen_address, ":", listener_->port(), " (TLS 1.3, ",
             slots_.size(), " replica", slots_.size() == 1 ? "" : "s", ")");
}

uint16_t Server::port() const
{
    return listener_ ? listener_->port() : 0;
}

void Server::run(const std::atomic<bool> &stop)
{
    stop_ = &stop;
    while (!stop) {
        // Reap finished connections.
        for (auto it = workers_.begin(); it != workers_.end();) {
            if (it->done) {
                it->thread.join();
                it = workers_.erase(it);
            } else {
                ++it;
            }
        }
        std::string peer;
        UniqueFd fd;
        try {
            fd = listener_->accept(std::chrono::milliseconds(500), &peer);
        } catch (const Error &e) {
            log_warn(e.what());
            continue;
        }
        if (!fd)
            continue;
        if (workers_.size() >= kMaxConnections) {
            log_warn("refusing connection from ", peer, ": ", kMaxConnections,
                     " connections already open");
            continue;
        }
        Worker &w = workers_.emplace_back();
        w.fd = fd.get();
        w.thread = std::thread([this, f = std::move(fd), peer, wp = &w]() mutable {
            serve(std::move(f), peer, wp);
            wp->done = true;
        });
    }
    // Connections notice the stop between frames (within a second) and answer ERROR
    // SHUTDOWN; one stuck in the middle of a frame is woken by shutting its socket down.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline &&
           std::any_of(workers_.begin(), workers_.end(), [](const Worker &w) { return !w.done; }))
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (auto &w : workers_)
        if (!w.done && w.fd >= 0)
            ::shutdown(w.fd, SHUT_RDWR);
    for (auto &w : workers_)
        w.thread.join();
    workers_.clear();
}

void Server::serve(UniqueFd fd, std::string peer, Worker *self)
{
    std::unique_ptr<FrameConn> conn;
    try {
        conn = FrameConn::server(std::move(fd), ctx_.get(), peer, cfg_.handshake_timeout);
    } catch (const std::exception &e) {
        // Plaintext clients, wrong CA, expired certificates: nothing reached a replica.
        log_warn("refused ", peer, ": ", e.what());
        return;
    }
    try {
        session(*conn, self);
    } catch (const std::exception &e) {
        log_warn(peer, ": ", e.what());
    }
}

void Server::session(FrameConn &conn, Worker *self)
{
    const std::string &peer = conn.peer();
    std::vector<std::string> ids = tls::peer_identities(conn.ssl());
    std::string who = cat(peer, " (", join(ids), ")");

    Frame f;
    try {
        conn.recv(f);
    } catch (const FrameError &e) {
        log_warn("refused ", who, ": ", e.what());
        send_error(conn, CBT_WERR_PROTOCOL, false, 0, e.what());
        return;
    }
    if (f.type() != CBT_WT_HELLO) {
        std::string msg = cat("expected HELLO, got ", cbt_wire_type_str(f.type()));
        log_warn("refused ", who, ": ", msg);
        send_error(conn, CBT_WERR_PROTOCOL, false, 0, msg);
        return;
    }
    auto hello = f.as<cbt_wire_hello>();
    std::string name(hello.replica);
    auto refuse = [&](uint32_t code, bool fatal, const std::string &msg) {
        log_warn("refused ", who, " for replica '", name, "': ", msg);
        send_error(conn, code, fatal, 0, msg);
    };
    uint16_t version = std::min<uint16_t>(hello.version_max, CBT_WIRE_VERSION_MAX);
    if (version < hello.version_min || version < CBT_WIRE_VERSION_MIN)
        return refuse(CBT_WERR_VERSION, true,
                      cat("client speaks protocol ", hello.version_min, "..", hello.version_max,
                          ", target ", CBT_WIRE_VERSION_MIN, "..", CBT_WIRE_VERSION_MAX));
    auto sit = slots_.find(name);
    if (sit == slots_.end())
        return refuse(CBT_WERR_UNKNOWN_REPLICA, true, cat("no replica named '", name, "'"));
    Slot &slot = *sit->second;
    const auto &allowed = slot.applier->spec().allowed_clients;
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string &a) {
        return a == "*" || std::find(ids.begin(), ids.end(), a) != ids.end();
    });
    if (!ok)
        return refuse(
            CBT_WERR_AUTH, true,
            cat("client certificate ", join(ids), " is not allowed for replica '", name, "'"));

    // One connection per replica: a newer one takes over from a stale one.
    {
        std::unique_lock lk(slot.m);
        if (slot.owned) {
            log_warn("replica ", name, ": connection ", who, " takes over from ", slot.owner);
            ::shutdown(slot.owner_fd, SHUT_RDWR);
            if (!slot.cv.wait_for(lk, std::chrono::seconds(30), [&] { return !slot.owned; }))
                return refuse(CBT_WERR_BUSY, false, "replica busy with another connection");
        }
        slot.owned = true;
        slot.owner_fd = conn.fd();
        slot.owner = who;
    }
    struct Release {
        Slot &s;
        ~Release()
        {
            std::lock_guard lk(s.m);
            s.owned = false;
            s.owner_fd = -1;
            s.cv.notify_all();
        }
    } release{slot};

    Applier &ap = *slot.applier;
    try {
        ap.open(hello.device_bytes);
        if (ap.replica_bytes() < hello.device_bytes)
            return refuse(
                CBT_WERR_SIZE, true,
                cat("replica is ", ap.replica_bytes(), " bytes, source ", hello.device_bytes));
        ap.check_or_bind_device(hello.device_id);
    } catch (const ApplyError &e) {
        return refuse(e.code(), !e.recoverable(), e.what());
    } catch (const Error &e) {
        return refuse(CBT_WERR_IO, !e.recoverable(), e.what());
    }

    const StateRecord &st = ap.state();
    cbt_wire_hello_ok ok_body{};
    ok_body.version = version;
    ok_body.replica_bytes = ap.replica_bytes();
    ok_body.applied_seq = st.applied_seq;
    ok_body.applied_batch_id = st.applied_seq ? st.applied_batch_id : 0;
    ok_body.consistent_seq = std::min(st.consistent_seq, st.applied_seq);
    std::memcpy(ok_body.replica_id, st.replica_id, 16);
    std::memcpy(ok_body.device_id, st.device_id, 16);
    ok_body.max_window = cfg_.max_window;
    ok_body.max_extent = CBT_WIRE_MAX_EXTENT;
    ok_body.flags = (st.batches == 0 ? CBT_WHO_NEW_REPLICA : 0) |
                    (st.flags & kStateConsistent ? CBT_WHO_CONSISTENT : 0);
    conn.send(CBT_WT_HELLO_OK, ok_body);
    conn.set_version(version);
    conn.set_io_timeout(cfg_.io_timeout);
    log_info("replica ", name, ": connected ", who, ", source '", hello.source, "' ",
             hello.device_bytes, " bytes, protocol v", version, ", resuming after seq ",
             st.applied_seq);

    uint64_t replica_bytes = ap.replica_bytes();
    uint64_t batch_id = 0;
    ap.take_stats();
    auto started = std::chrono::steady_clock::now();
    // One line per connection says where apply time went (engine benchmark breakdown).
    struct Summary {
        Applier &ap;
        const std::string &name;
        std::chrono::steady_clock::time_point t0;
        ~Summary()
        {
            ApplyStats st = ap.take_stats();
            if (!st.batches)
                return;
            double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            log_info("replica ", name, ": applied ", st.batches, " batches, ", st.bytes / 1048576.0,
                     " MiB in ", secs, " s; decode+digest ", st.decode_s, " s, undo ", st.undo_s,
                     " s, write ", st.write_s, " s, sync ", st.sync_s, " s, commit ", st.commit_s,
                     " s");
        }
    } summary{ap, name, started};
    try {
        for (;;) {
            if (stop_ && *stop_) {
                ap.abort();
                send_error(conn, CBT_WERR_SHUTDOWN, false, batch_id, "target shutting down");
                return;
            }
            if (!conn.readable(std::chrono::milliseconds(1000))) {
                if (!ap.in_batch())
                    continue;
            }
            conn.recv(f, replica_bytes);
            switch (f.type()) {
            case CBT_WT_BATCH_BEGIN: {
                auto b = f.as<cbt_wire_batch_begin>();
                batch_id = b.batch_id;
                ap.begin(b);
                break;
            }
            case CBT_WT_EXTENT:
                ap.extent(f.as<cbt_wire_extent>(), f.payload);
                break;
            case CBT_WT_TAG:
                ap.tag(f.as<cbt_wire_tag>());
                break;
            case CBT_WT_BATCH_END: {
                cbt_wire_ack ack = ap.end(f.as<cbt_wire_batch_end>());
                conn.send(CBT_WT_ACK, ack); // only now: the batch is durable
                batch_id = 0;
                break;
            }
            case CBT_WT_RS_BEGIN:
                // A resync or verify session (docs/resync.md) owns the connection from here.
                if (ap.in_batch())
                    throw FrameError("RS_BEGIN inside a batch", CBT_WIRE_E_UNEXPECTED);
                // A resync writes without before-images: the recovery points go first
                // (unless serve_resync will refuse it for its size and write nothing).
                if (auto rb = f.as<cbt_wire_rs_begin>();
                    !(rb.flags & CBT_WRS_VERIFY) && rb.device_bytes == replica_bytes)
                    ap.prepare_resync(rb.flags & CBT_WRS_REBASE
                                          ? std::optional<uint64_t>(rb.base_seq)
                                          : std::nullopt);
                resync::serve_resync(conn, f, name, ap.spec().path, replica_bytes);
                return;
            case CBT_WT_PING:
                conn.send(CBT_WT_PONG, f.as<cbt_wire_ping>());
                break;
            case CBT_WT_PONG:
                break;
            case CBT_WT_ERROR: {
                auto e = f.as<cbt_wire_error>();
                ap.abort();
                log_warn("replica ", name, ": client ", who,
                         " ended with error: ", cbt_wire_error_code_str(e.code), ": ", e.message);
                return;
            }
            default:
                throw FrameError(
                    cat(cbt_wire_type_str(f.type()), " frame not allowed from a client"),
                    CBT_WIRE_E_UNEXPECTED);
            }
        }
    } catch (const PeerClosed &e) {
        bool mid = ap.in_batch();
        ap.abort();
        if (mid)
            log_warn("replica ", name, ": ", who, " disconnected in the middle of batch ",
                     batch_id);
        else
            log_info("replica ", name, ": ", who, " disconnected");
    } catch (const FrameError &e) {
        ap.abort();
        log_warn("replica ", name, ": dropping ", who, ": ", e.what());
        send_error(conn, CBT_WERR_PROTOCOL, false, batch_id, e.what());
    } catch (const ApplyError &e) {
        ap.abort();
        log_warn("replica ", name, ": dropping ", who, ": ", cbt_wire_error_code_str(e.code()),
                 ": ", e.what());
        send_error(conn, e.code(), !e.recoverable(), batch_id, e.what());
    } catch (const Error &e) {
        ap.abort();
        log_warn("replica ", name, ": connection ", who, " failed: ", e.what());
        send_error(conn, CBT_WERR_IO, false, batch_id, e.what());
    }
    (void)self;
}

} // namespace cbtrep::target
