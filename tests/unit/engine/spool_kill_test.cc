// Spool: kill -9 of the appending process at many points. Every batch whose sync() returned
// before the kill is there after a reopen; a torn tail is cut; sequence numbers continue.
#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "spool_fixture.h"

using namespace spooltest;
using cbtrep::spool::Spool;

TEST_CASE("spool: kill -9 while appending loses no batch that sync() reported durable", "[spool]")
{
    TempDir tmp;
    auto batches = make_batches(tmp, 600, 16384);
    auto o = options(tmp.str("spool"));
    o.segment_bytes = 1 << 20;
    o.write_buffer_bytes = 5000;
    // Short writes of at most 4 KiB: the kill lands between the pieces of a batch often.
    o.write_fn = [](int fd, const void *buf, size_t len) {
        return ::write(fd, buf, std::min<size_t>(len, 4096));
    };

    uint64_t acked_durable = 0; // highest seq a child reported durable, over every round
    for (int round = 0; round < 12; round++) {
        int pfd[2];
        REQUIRE(::pipe(pfd) == 0);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(pfd[0]);
            try {
                Spool s(o);
                for (size_t i = 0; i < batches.size(); i++) {
                    // Continue after whatever the previous rounds left.
                    if (batches[i].header().last_seq <= s.stats().appended_seq)
                        continue;
                    s.append(batches[i]);
                    if (i % 3 == 2) {
                        uint64_t d = s.sync();
                        if (::write(pfd[1], &d, sizeof(d)) != sizeof(d))
                            ::_exit(3);
                    }
                }
                s.sync();
                ::close(pfd[1]); // everything is in: the parent stops waiting for syncs
                ::pause();
            } catch (...) {
                ::_exit(2);
            }
        }
        ::close(pfd[1]);
        // Let the child report a varying number of syncs, then kill it mid-stream.
        int want = 2 + round * 2;
        for (int n = 0; n < want; n++) {
            uint64_t d;
            if (::read(pfd[0], &d, sizeof(d)) != sizeof(d))
                break;
            acked_durable = std::max(acked_durable, d);
        }
        ::usleep(static_cast<useconds_t>(round * 211 % 900)); // a different point each round
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        ::close(pfd[0]);
        REQUIRE(WIFSIGNALED(status));

        Spool s(o);
        auto got = drain(s);
        REQUIRE(!got.empty());
        // In order, continuous, and covering every batch reported durable.
        for (size_t i = 0; i < got.size(); i++)
            REQUIRE(got[i].id() == batches[i].id());
        REQUIRE(got.back().header().last_seq >= acked_durable);
    }
}
