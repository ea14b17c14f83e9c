#include "remote_responder.h"

#include <cstring>
#include <memory>
#include <stdexcept>

#include <cbtrep/wire.h>

#include "common/log.h"
#include "resync/block_hasher.h"
#include "resync/responder.h"
#include "resync/wire_map.h"
#include "transport/frame_conn.h"

namespace cbtrep::resync
{

using transport::Frame;
using transport::FrameConn;
using transport::FrameError;
using transport::PeerClosed;

namespace
{

// An error to report with its wire code.
struct SessionError : Error {
    SessionError(const std::string &what, uint32_t code, bool fatal)
        : Error(what, !fatal), code(code)
    {
    }
    uint32_t code;
};

void send_error(FrameConn &conn, uint32_t code, bool fatal, const std::string &msg)
{
    cbt_wire_error e{};
    e.code = code;
    e.flags = fatal ? CBT_WERR_F_FATAL : 0;
    std::strncpy(e.message, msg.c_str(), sizeof(e.message) - 1);
    try {
        conn.send(CBT_WT_ERROR, e);
        conn.close();
    } catch (const std::exception &) {
        // The client may be gone already; the log has the reason.
    }
}

HashRequest request_from(const Frame &f)
{
    auto r = f.as<cbt_wire_rs_hash_req>();
    HashRequest req;
    req.kind = kind_from_wire(r.kind);
    req.region = r.region;
    if (req.kind == RequestKind::leaves) {
        req.blocks.resize(r.nr_items);
        std::memcpy(req.blocks.data(), f.payload.data(), size_t(r.nr_items) * 4);
    } else if (req.kind == RequestKind::rehash) {
        req.ranges.resize(r.nr_items);
        for (uint32_t i = 0; i < r.nr_items; ++i) {
            std::memcpy(&req.ranges[i].offset, f.payload.data() + size_t(i) * 16, 8);
            std::memcpy(&req.ranges[i].length, f.payload.data() + size_t(i) * 16 + 8, 8);
        }
    }
    return req;
}

void session(FrameConn &conn, const cbt_wire_rs_begin &begin, const std::string &name,
             const std::string &path, uint64_t replica_bytes)
{
    if (begin.device_bytes != replica_bytes)
        throw SessionError(cat("resync refused: the source is ", begin.device_bytes,
                               " bytes but replica '", name, "' is ", replica_bytes,
                               " bytes; sizes must match"),
                           CBT_WERR_SIZE, true);
    bool verify = begin.flags & CBT_WRS_VERIFY;
    Geometry g = geometry_from(begin);
    BlockHasher hasher(path, g, reader::Options{});
    std::unique_ptr<FileWriter> writer;
    if (!verify)
        writer = std::make_unique<FileWriter>(path);
    Responder responder(hasher, writer.get());
    for (const std::string &n : hasher.notes())
        log_info("replica ", name, ": resync ", n);
    log_info("replica ", name, ": ", verify ? "verify" : "resync", " session from ", conn.peer(),
             ", ", describe(g));

    cbt_wire_rs_begin_ok ok{};
    ok.replica_bytes = replica_bytes;
    ok.flags = begin.flags;
    conn.send(CBT_WT_RS_BEGIN_OK, ok);

    Frame f;
    uint64_t next_req = 1;
    uint64_t extents = 0, bytes = 0;
    std::vector<uint8_t> hashes;
    size_t hlen = hash_len(g.hash);
    for (;;) {
        try {
            conn.recv(f, replica_bytes);
        } catch (const PeerClosed &) {
            log_info("replica ", name, ": resync session ended by ", conn.peer(), " after ",
                     extents, " extents (", bytes, " bytes)");
            return;
        }
        switch (f.type()) {
        case CBT_WT_RS_HASH_REQ: {
            auto r = f.as<cbt_wire_rs_hash_req>();
            if (r.req_id != next_req)
                throw FrameError(cat("RS_HASH_REQ ", r.req_id, ", expected ", next_req),
                                 CBT_WIRE_E_ORDER);
            ++next_req;
            HashReply rep = responder.answer(request_from(f));
            if (rep.hashes.size() > CBT_WRS_MAX_LEAVES)
                throw SessionError("resync: reply larger than the protocol allows",
                                   CBT_WERR_INTERNAL, false);
            hashes.resize(rep.hashes.size() * hlen);
            for (size_t i = 0; i < rep.hashes.size(); ++i)
                std::memcpy(hashes.data() + i * hlen, rep.hashes[i].bytes.data(), hlen);
            cbt_wire_rs_hashes h{};
            h.req_id = r.req_id;
            h.region = r.region;
            h.kind = r.kind;
            h.hash_len = uint16_t(hlen);
            h.nr_hashes = uint32_t(rep.hashes.size());
            conn.send(CBT_WT_RS_HASHES, h, hashes);
            break;
        }
        case CBT_WT_EXTENT: {
            if (verify)
                throw SessionError("data sent in a verify (read-only) session", CBT_WERR_PROTOCOL,
                                   false);
            auto e = f.as<cbt_wire_extent>();
            codec::Chunk c;
            c.offset = e.offset;
            c.length = uint32_t(e.length);
            if (e.length > UINT32_MAX)
                throw SessionError(cat("resync extent at ", e.offset, " is ", e.length,
                                       " bytes; at most 4 GiB per extent"),
                                   CBT_WERR_PROTOCOL, false);
            c.encoding = encoding_from_wire(e.encoding);
            std::memcpy(c.digest.data(), e.digest, sizeof(e.digest));
            c.payload = std::move(f.payload);
            try {
                responder.apply(c);
            } catch (const std::runtime_error &x) {
                if (dynamic_cast<const Error *>(&x))
                    throw;
                // codec::decode: corrupt lz4 or digest mismatch; nothing was written.
                throw SessionError(x.what(), CBT_WERR_DIGEST, false);
            }
            ++extents;
            bytes += e.length;
            break;
        }
        case CBT_WT_RS_FLUSH: {
            auto fl = f.as<cbt_wire_rs_flush>();
            responder.flush();
            conn.send(CBT_WT_RS_FLUSHED, fl);
            break;
        }
        case CBT_WT_PING:
            conn.send(CBT_WT_PONG, f.as<cbt_wire_ping>());
            break;
        case CBT_WT_PONG:
            break;
        case CBT_WT_ERROR: {
            auto e = f.as<cbt_wire_error>();
            log_warn("replica ", name, ": resync client ", conn.peer(),
                     " ended with error: ", cbt_wire_error_code_str(e.code), ": ", e.message);
            return;
        }
        default:
            throw FrameError(
                cat(cbt_wire_type_str(f.type()), " frame not allowed in a resync session"),
                CBT_WIRE_E_UNEXPECTED);
        }
    }
}

} // namespace

void serve_resync(FrameConn &conn, const Frame &begin, const std::string &replica_name,
                  const std::string &replica_path, uint64_t replica_bytes)
{
    try {
        session(conn, begin.as<cbt_wire_rs_begin>(), replica_name, replica_path, replica_bytes);
    } catch (const SessionError &e) {
        log_warn("replica ", replica_name, ": resync from ", conn.peer(), ": ", e.what());
        send_error(conn, e.code, !e.recoverable(), e.what());
    } catch (const FrameError &e) {
        log_warn("replica ", replica_name, ": resync from ", conn.peer(), ": ", e.what());
        send_error(conn, CBT_WERR_PROTOCOL, false, e.what());
    } catch (const std::logic_error &e) {
        // out_of_range / invalid_argument from the responder: the request itself was wrong
        // (a region past the end, a block that does not exist), not our disk.
        log_warn("replica ", replica_name, ": resync from ", conn.peer(), ": ", e.what());
        send_error(conn, CBT_WERR_PROTOCOL, false, e.what());
    } catch (const PeerClosed &e) {
        log_warn("replica ", replica_name, ": resync client ", conn.peer(),
                 " went away: ", e.what());
    } catch (const std::exception &e) {
        log_warn("replica ", replica_name, ": resync from ", conn.peer(), " failed: ", e.what());
        send_error(conn, CBT_WERR_IO, false, e.what());
    }
}

} // namespace cbtrep::resync
