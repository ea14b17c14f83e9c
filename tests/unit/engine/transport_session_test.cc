// ReplicaSession against an in-process cbtrep-target over loopback TLS: pipelined batches
// are acknowledged in order through the ack handler, a resent batch comes back as a
// duplicate, ping() works with batches in flight, and the target's refusals arrive as
// RemoteError with the right code and fatal flag.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "target/config.h"
#include "target/server.h"
#include "target_fixture.h"
#include "transport/session.h"

using namespace cbtrep;
using namespace cbtrep::transport;
using namespace target_test;

namespace
{

struct LiveTarget {
    TempDir dir;
    std::atomic<bool> stop{false};
    std::unique_ptr<target::Server> server;
    std::thread thread;
    TlsConfig client;

    LiveTarget()
    {
        std::string cmd = std::string(CBTREP_SOURCE_DIR) + "/tools/certs/cbtrep-certs init --dir " +
                          (dir / "pki") + " --server localhost,127.0.0.1 --client engine1 " +
                          "--client intruder >/dev/null";
        REQUIRE(std::system(cmd.c_str()) == 0);
        target::TargetConfig cfg;
        cfg.listen_address = "127.0.0.1";
        cfg.port = 0;
        cfg.tls = {dir / "pki/ca.pem", dir / "pki/localhost.pem", dir / "pki/localhost.key", ""};
        cfg.state_dir = dir / "state";
        cfg.max_window = 4;
        cfg.apply_buffer_bytes = 4u << 20;
        target::ReplicaSpec r;
        r.name = "vm1";
        r.path = dir / "vm1.img";
        r.create_bytes = 8u << 20;
        r.allowed_clients = {"engine1"};
        cfg.replicas.push_back(r);
        server = std::make_unique<target::Server>(cfg);
        server->start();
        thread = std::thread([this] { server->run(stop); });
        client = {dir / "pki/ca.pem", dir / "pki/engine1.pem", dir / "pki/engine1.key",
                  "localhost"};
    }
    ~LiveTarget()
    {
        stop = true;
        thread.join();
    }
    std::unique_ptr<ReplicaSession> connect(const std::string &replica = "vm1",
                                            const TlsConfig *tls = nullptr)
    {
        SourceIdentity id;
        id.replica = replica;
        id.device_bytes = 8u << 20;
        SessionOptions o;
        o.window = 8;
        return ReplicaSession::connect("127.0.0.1", server->port(), tls ? *tls : client, id, o);
    }
};

BatchInfo batch(uint64_t id, uint64_t seq)
{
    BatchInfo b;
    b.batch_id = id;
    b.first_seq = b.last_seq = seq;
    b.mode = CBT_MODE_DATA;
    b.flags = CBT_WB_CONSISTENT;
    return b;
}

} // namespace

TEST_CASE("session: pipelined batches are acknowledged in order, then resent as duplicates",
          "[transport][session]")
{
    LiveTarget t;
    auto s = t.connect();
    CHECK(s->replica().applied_seq == 0);
    CHECK(s->replica().flags & CBT_WHO_NEW_REPLICA);
    CHECK(s->window() == 4); // the target's limit wins over ours
    std::vector<Ack> acks;
    s->on_ack([&](const Ack &a) { acks.push_back(a); });
    std::vector<std::vector<uint8_t>> data;
    for (uint64_t i = 1; i <= 10; i++) {
        data.push_back(pattern(64 * 1024, uint8_t(i)));
        ExtentOut e = ExtentOut::raw((i - 1) * 65536, data.back(), i);
        s->send_batch(batch(i, i), std::span(&e, 1));
        CHECK(s->unacked() <= 4);
    }
    s->ping();
    s->wait_all_acked();
    REQUIRE(acks.size() == 10);
    for (uint64_t i = 0; i < 10; i++) {
        CHECK(acks[i].batch_id == i + 1);
        CHECK(acks[i].last_seq == i + 1);
        CHECK_FALSE(acks[i].duplicate);
    }
    s->close();
    s.reset();

    auto img = slurp(t.dir / "vm1.img");
    for (uint64_t i = 0; i < 10; i++)
        CHECK(std::equal(data[i].begin(), data[i].end(), img.begin() + i * 65536));

    auto s2 = t.connect();
    CHECK(s2->replica().applied_seq == 10);
    bool dup = false;
    s2->on_ack([&](const Ack &a) { dup = a.duplicate; });
    auto other = pattern(4096, 99);
    ExtentOut e = ExtentOut::raw(0, other, 3);
    s2->send_batch(batch(3, 3), std::span(&e, 1));
    s2->wait_all_acked();
    CHECK(dup);
    CHECK(slurp(t.dir / "vm1.img") == img);
}

TEST_CASE("session: refusals arrive as RemoteError with code and fatal flag",
          "[transport][session]")
{
    LiveTarget t;
    try {
        t.connect("nope");
        FAIL("unknown replica accepted");
    } catch (const RemoteError &e) {
        CHECK(e.code() == CBT_WERR_UNKNOWN_REPLICA);
        CHECK_FALSE(e.recoverable());
    }
    TlsConfig intruder = t.client;
    intruder.cert_file = t.dir / "pki/intruder.pem";
    intruder.key_file = t.dir / "pki/intruder.key";
    try {
        t.connect("vm1", &intruder);
        FAIL("intruder accepted");
    } catch (const RemoteError &e) {
        CHECK(e.code() == CBT_WERR_AUTH);
        CHECK_FALSE(e.recoverable());
    }
    TlsConfig wrong_name = t.client;
    wrong_name.server_name = "other.example";
    try {
        t.connect("vm1", &wrong_name);
        FAIL("wrong server name accepted");
    } catch (const Error &e) {
        CHECK_FALSE(e.recoverable());
        CHECK_THAT(e.what(), Catch::Contains("hostname mismatch"));
    }
    // A sequence gap is fatal.
    auto s = t.connect();
    auto d = pattern(4096, 1);
    ExtentOut e = ExtentOut::raw(0, d, 5);
    s->send_batch(batch(1, 5), std::span(&e, 1));
    s->wait_all_acked();
    ExtentOut e2 = ExtentOut::raw(0, d, 9);
    try {
        s->send_batch(batch(2, 9), std::span(&e2, 1));
        s->wait_all_acked();
        FAIL("gap accepted");
    } catch (const RemoteError &err) {
        CHECK(err.code() == CBT_WERR_SEQUENCE);
        CHECK_FALSE(err.recoverable());
    }
}
