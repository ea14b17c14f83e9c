// cbtrep-wire-inject (test-only): a client of cbtrep-target for the integration tests.
//
//   replay  --stream FILE [--lz4] [--window N] [--stop-after-batches N] COMMON
//           sends a journal stream through ReplicaSession, resuming after the replica's
//           applied_seq; exit 0 when every batch is acknowledged
//   status  COMMON                      prints applied_seq=N (a HELLO round trip)
//   inject  --case NAME [--device-mib N] COMMON
//           starts a valid batch with several MiB of valid extents, then sends one crafted
//           bad frame; exit 0 when the target answers with an ERROR frame and closes
//   COMMON: --connect HOST:PORT --ca F --cert F --key F --replica NAME [--server-name N]
//           [--device-id HEX32]
//
// Exit codes: 0 ok, 1 usage or unexpected result, 3 fatal error (do not retry), 4 recoverable.
#include <cstring>
#include <iostream>
#include <lz4.h>
#include <map>
#include <string>
#include <sys/socket.h>
#include <vector>

#include <cbtrep/wire.h>

#include "common/digest.h"
#include "stream_io.h"
#include "transport/frame_conn.h"
#include "transport/session.h"
#include "transport/socket.h"

using namespace cbtrep;
using namespace cbtrep::transport;
using namespace cbtrep::testtools;

namespace
{

using Args = std::map<std::string, std::string>;

Args parse(int argc, char **argv)
{
    Args m;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--", 0) != 0)
            throw std::runtime_error("bad argument " + a);
        if (a == "--lz4") {
            m["lz4"] = "1";
            continue;
        }
        if (i + 1 >= argc)
            throw std::runtime_error("missing value for " + a);
        m[a.substr(2)] = argv[++i];
    }
    return m;
}

std::string need(const Args &a, const std::string &k)
{
    auto it = a.find(k);
    if (it == a.end())
        throw std::runtime_error("--" + k + " is required");
    return it->second;
}

uint64_t num(const Args &a, const std::string &k, uint64_t def)
{
    auto it = a.find(k);
    return it == a.end() ? def : std::stoull(it->second);
}

struct Endpoint {
    std::string host;
    uint16_t port;
};

Endpoint endpoint(const Args &a)
{
    std::string c = need(a, "connect");
    auto colon = c.rfind(':');
    if (colon == std::string::npos)
        throw std::runtime_error("--connect HOST:PORT");
    return {c.substr(0, colon), static_cast<uint16_t>(std::stoul(c.substr(colon + 1)))};
}

TlsConfig tls_of(const Args &a)
{
    TlsConfig t;
    t.ca_file = need(a, "ca");
    t.cert_file = need(a, "cert");
    t.key_file = need(a, "key");
    if (a.count("server-name"))
        t.server_name = a.at("server-name");
    return t;
}

void device_id_of(const Args &a, std::array<uint8_t, 16> &id)
{
    id.fill(0);
    if (!a.count("device-id"))
        return;
    std::string h = a.at("device-id");
    for (size_t i = 0; i < 16 && 2 * i + 1 < h.size(); i++)
        id[i] = static_cast<uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
}

int replay(const Args &a)
{
    StreamReader rd(need(a, "stream"));
    Endpoint ep = endpoint(a);
    SourceIdentity id;
    id.replica = need(a, "replica");
    id.device_bytes = rd.header().device_bytes;
    id.granularity = rd.header().granularity;
    id.source_name = rd.header().name;
    device_id_of(a, id.device_id);
    SessionOptions opt;
    opt.window = static_cast<uint32_t>(num(a, "window", 8));
    opt.io_timeout = std::chrono::seconds(30);
    bool lz4 = a.count("lz4");
    uint64_t stop_after = num(a, "stop-after-batches", UINT64_MAX);

    auto s = ReplicaSession::connect(ep.host, ep.port, tls_of(a), id, opt);
    uint64_t resume = s->replica().applied_seq;
    uint64_t acked = 0, dups = 0, sent = 0;
    s->on_ack([&](const Ack &ack) {
        ++acked;
        dups += ack.duplicate;
    });

    StreamBatch b;
    std::vector<std::vector<uint8_t>> bufs;
    while (rd.next(b)) {
        if (b.hdr.last_seq <= resume)
            continue;
        if (sent >= stop_after)
            break;
        BatchInfo info;
        info.batch_id = b.hdr.batch_id;
        info.first_seq = b.hdr.first_seq;
        info.last_seq = b.hdr.last_seq;
        info.mode = b.hdr.mode;
        info.flags = (b.hdr.mode == CBT_MODE_DATA ? CBT_WB_CONSISTENT : 0) |
                     (b.hdr.flags & CBT_BF_HAS_GAP ? CBT_WB_HAS_GAP : 0) |
                     (resume && b.hdr.first_seq != resume + 1 ? CBT_WB_SEQ_JUMP : 0);
        std::vector<ExtentOut> ext;
        std::vector<TagOut> tags;
        bufs.clear();
        for_each_record(b, [&](const cbt_record &r, const uint8_t *data) {
            uint64_t off = r.sector << CBT_SECTOR_SHIFT;
            uint64_t len = static_cast<uint64_t>(r.nr_sectors) << CBT_SECTOR_SHIFT;
            switch (r.type) {
            case CBT_REC_WRITE:
                for (uint64_t done = 0; done < len; done += CBT_WIRE_MAX_EXTENT) {
                    uint64_t n = std::min<uint64_t>(len - done, CBT_WIRE_MAX_EXTENT);
                    std::span<const uint8_t> dec(data + done, n);
                    if (lz4) {
                        auto &buf = bufs.emplace_back(LZ4_compressBound(static_cast<int>(n)));
                        int c =
                            LZ4_compress_default(reinterpret_cast<const char *>(dec.data()),
                                                 reinterpret_cast<char *>(buf.data()),
                                                 static_cast<int>(n), static_cast<int>(buf.size()));
                        if (c > 0 && static_cast<uint64_t>(c) < n) {
                            buf.resize(static_cast<size_t>(c));
                            ext.push_back(ExtentOut::lz4(off + done, dec, buf, r.seq));
                            continue;
                        }
                    }
                    ext.push_back(ExtentOut::raw(off + done, dec, r.seq));
                }
                break;
            case CBT_REC_WRITE_ZEROES:
                ext.push_back(ExtentOut::zero(off, len, r.seq));
                break;
            case CBT_REC_DISCARD:
            case CBT_REC_SECURE_ERASE:
                ext.push_back(ExtentOut::discard(off, len, r.seq));
                break;
            case CBT_REC_TAG: {
                cbt_tag t;
                std::memcpy(&t, data, sizeof(t));
                TagOut to;
                to.tag_id = t.tag_id;
                to.timestamp_ns = t.timestamp_ns;
                to.seq = r.seq;
                to.flags = t.flags;
                to.nr_devices = t.nr_devices;
                to.name = t.name;
                tags.push_back(to);
                break;
            }
            default:
                break; // GAP, DIRTY: nothing this test client can send
            }
        });
        s->send_batch(info, ext, tags);
        resume = b.hdr.last_seq;
        ++sent;
    }
    s->wait_all_acked();
    s->close();
    std::cout << "replay: sent " << sent << " batches, acked " << acked << " (" << dups
              << " duplicates), replica at seq " << s->replica().applied_seq << "\n";
    return 0;
}

struct Raw {
    std::unique_ptr<FrameConn> conn;
    cbt_wire_hello_ok ok{};
};

Raw raw_connect(const Args &a, uint64_t device_bytes)
{
    Endpoint ep = endpoint(a);
    TlsConfig t = tls_of(a);
    auto ctx = tls::make_client_ctx(t);
    Raw r;
    r.conn = FrameConn::client(tcp_connect(ep.host, ep.port, std::chrono::seconds(5)), ctx.get(),
                               t.server_name.empty() ? ep.host : t.server_name,
                               std::chrono::seconds(10));
    cbt_wire_hello h{};
    h.version_min = h.version_max = CBT_WIRE_VERSION_MAX;
    std::string rep = need(a, "replica");
    std::strncpy(h.replica, rep.c_str(), sizeof(h.replica) - 1);
    h.device_bytes = device_bytes;
    h.granularity = 4096;
    std::array<uint8_t, 16> id;
    device_id_of(a, id);
    std::memcpy(h.device_id, id.data(), 16);
    r.conn->send(CBT_WT_HELLO, h);
    Frame f;
    r.conn->recv(f);
    if (f.type() == CBT_WT_ERROR) {
        auto er = f.as<cbt_wire_error>();
        throw RemoteError(std::string("target refused: ") + cbt_wire_error_code_str(er.code) +
                              ": " + er.message,
                          er.code, er.flags & CBT_WERR_F_FATAL, 0);
    }
    r.ok = f.as<cbt_wire_hello_ok>();
    r.conn->set_version(r.ok.version);
    return r;
}

int status(const Args &a)
{
    Raw r = raw_connect(a, num(a, "device-mib", 1) << 20);
    std::cout << "applied_seq=" << r.ok.applied_seq << " applied_batch=" << r.ok.applied_batch_id
              << " consistent_seq=" << r.ok.consistent_seq
              << " replica_bytes=" << r.ok.replica_bytes << "\n";
    r.conn->close(std::chrono::milliseconds(100));
    return 0;
}

// Sends a header + body with a valid CRC for whatever fields the case set.
void send_frame(FrameConn &c, uint16_t version, uint16_t type, const void *body, uint32_t len,
                std::span<const uint8_t> payload)
{
    cbt_wire_hdr h;
    cbt_wire_hdr_init(&h, version, type, body, len, static_cast<uint32_t>(payload.size()));
    c.send_raw(&h, sizeof(h));
    c.send_raw(body, len);
    if (!payload.empty())
        c.send_raw(payload.data(), payload.size());
}

int inject(const Args &a)
{
    std::string which = need(a, "case");
    uint64_t dev = num(a, "device-mib", 64) << 20;
    Raw r = raw_connect(a, dev);
    FrameConn &c = *r.conn;
    uint16_t v = r.ok.version;
    uint64_t seq = r.ok.applied_seq + 1;
    const uint32_t nvalid = 6; // 6 MiB: more than the smallest apply buffer, so some is written

    cbt_wire_batch_begin b{};
    b.batch_id = 1000000 + seq;
    b.first_seq = seq;
    b.last_seq = seq + nvalid;
    b.nr_extents = nvalid + 1;
    b.mode = CBT_MODE_DATA;
    b.flags = CBT_WB_CONSISTENT | (r.ok.applied_seq ? 0 : 0);
    b.total_bytes = (nvalid + 1) * (1ull << 20);
    c.send(CBT_WT_BATCH_BEGIN, b);

    std::vector<uint8_t> data(1u << 20);
    for (uint32_t i = 0; i < nvalid; i++) {
        for (size_t k = 0; k < data.size(); k++)
            data[k] = static_cast<uint8_t>(0xA5 ^ (k * 7) ^ i);
        cbt_wire_extent e{};
        e.offset = (uint64_t)i << 20;
        e.length = data.size();
        e.encoding = CBT_WE_RAW;
        e.encoded_len = static_cast<uint32_t>(data.size());
        e.seq = seq + i;
        Digest d = xxh3_128(data.data(), data.size());
        std::memcpy(e.digest, d.data(), 16);
        e.index = i;
        c.send(CBT_WT_EXTENT, e, data);
    }
    cbt_wire_extent e{};
    e.offset = (uint64_t)nvalid << 20;
    e.length = data.size();
    e.encoding = CBT_WE_RAW;
    e.encoded_len = static_cast<uint32_t>(data.size());
    e.seq = seq + nvalid;
    e.index = nvalid;
    Digest d = xxh3_128(data.data(), data.size());
    std::memcpy(e.digest, d.data(), 16);

    if (which == "corrupt-digest") {
        e.digest[3] ^= 0x40;
        send_frame(c, v, CBT_WT_EXTENT, &e, sizeof(e), data);
    } else if (which == "truncated-frame") {
        cbt_wire_hdr h;
        cbt_wire_hdr_init(&h, v, CBT_WT_EXTENT, &e, sizeof(e), e.encoded_len);
        c.send_raw(&h, sizeof(h));
        c.send_raw(&e, sizeof(e));
        c.send_raw(data.data(), 1000); // then stop sending: the frame never completes
        ::shutdown(c.fd(), SHUT_WR);
    } else if (which == "out-of-bounds") {
        e.offset = r.ok.replica_bytes - 4096;
        e.length = 8192;
        std::vector<uint8_t> p(8192, 1);
        e.encoded_len = 8192;
        Digest d2 = xxh3_128(p.data(), p.size());
        std::memcpy(e.digest, d2.data(), 16);
        send_frame(c, v, CBT_WT_EXTENT, &e, sizeof(e), p);
    } else if (which == "length-overflow") {
        e.encoding = CBT_WE_ZERO;
        e.encoded_len = 0;
        std::memset(e.digest, 0, 16);
        e.offset = ~0ull - 511; // aligned; offset + length wraps around
        e.length = 1u << 20;
        send_frame(c, v, CBT_WT_EXTENT, &e, sizeof(e), {});
    } else if (which == "payload-too-large") {
        cbt_wire_hdr h;
        cbt_wire_hdr_init(&h, v, CBT_WT_EXTENT, &e, sizeof(e), 0xfffffff0u);
        c.send_raw(&h, sizeof(h));
        c.send_raw(&e, sizeof(e));
    } else if (which == "unknown-type") {
        uint8_t body[16] = {};
        cbt_wire_hdr h;
        cbt_wire_hdr_init(&h, v, 77, body, sizeof(body), 0);
        c.send_raw(&h, sizeof(h));
        c.send_raw(body, sizeof(body));
    } else if (which == "bad-header-crc") {
        cbt_wire_hdr h;
        cbt_wire_hdr_init(&h, v, CBT_WT_EXTENT, &e, sizeof(e), e.encoded_len);
        h.hdr_crc ^= 1;
        c.send_raw(&h, sizeof(h));
        c.send_raw(&e, sizeof(e));
        c.send_raw(data.data(), data.size());
    } else if (which == "lz4-garbage") {
        e.encoding = CBT_WE_LZ4;
        std::vector<uint8_t> junk(5000, 0xff);
        e.encoded_len = static_cast<uint32_t>(junk.size());
        send_frame(c, v, CBT_WT_EXTENT, &e, sizeof(e), junk);
    } else if (which == "bad-totals") {
        send_frame(c, v, CBT_WT_EXTENT, &e, sizeof(e), data);
        cbt_wire_batch_end end{};
        end.batch_id = b.batch_id;
        end.nr_extents = nvalid + 1;
        end.total_bytes = b.total_bytes + 512;
        end.payload_bytes = b.total_bytes;
        send_frame(c, v, CBT_WT_BATCH_END, &end, sizeof(end), {});
    } else {
        throw std::runtime_error("unknown case " + which);
    }

    // The target must answer with ERROR and close; an ACK would mean it applied bad data.
    Frame f;
    try {
        for (;;) {
            if (!c.readable(std::chrono::seconds(15))) {
                std::cerr << "inject " << which << ": no answer from the target\n";
                return 1;
            }
            c.recv(f);
            if (f.type() == CBT_WT_ERROR) {
                auto er = f.as<cbt_wire_error>();
                std::cout << "inject " << which << ": target ERROR "
                          << cbt_wire_error_code_str(er.code)
                          << (er.flags & CBT_WERR_F_FATAL ? " (fatal)" : " (recoverable)") << ": "
                          << er.message << "\n";
                try {
                    c.recv(f);
                } catch (const PeerClosed &) {
                    return 0; // and it closed the connection
                } catch (const Error &) {
                    return 0;
                }
                std::cerr << "inject " << which << ": connection still open after ERROR\n";
                return 1;
            }
            if (f.type() == CBT_WT_ACK) {
                std::cerr << "inject " << which << ": target ACKed a bad batch\n";
                return 1;
            }
        }
    } catch (const Error &err) {
        // After a truncated frame the target's TLS layer is in error and can only abort the
        // connection: dropping it is the expected answer there.
        if (which == "truncated-frame") {
            std::cout << "inject " << which << ": connection dropped by the target: " << err.what()
                      << "\n";
            return 0;
        }
        std::cerr << "inject " << which << ": connection ended without ERROR: " << err.what()
                  << "\n";
        return 1;
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::cerr << "usage: cbtrep-wire-inject replay|status|inject ...\n";
        return 1;
    }
    std::string cmd = argv[1];
    try {
        Args a = parse(argc, argv);
        if (cmd == "replay")
            return replay(a);
        if (cmd == "status")
            return status(a);
        if (cmd == "inject")
            return inject(a);
        std::cerr << "unknown command " << cmd << "\n";
        return 1;
    } catch (const Error &e) {
        std::cerr << "cbtrep-wire-inject " << cmd << ": " << e.what() << "\n";
        return e.recoverable() ? 4 : 3;
    } catch (const std::exception &e) {
        std::cerr << "cbtrep-wire-inject " << cmd << ": " << e.what() << "\n";
        return 1;
    }
}
