// The engine's half of resync-required on a FileSource (the kernel's CBT_IOC_RESYNC rule,
// kept in <stream>.tracker): a hand-written "resync-required" shows in status(), a resync's
// cut names a fresh generation, DONE as of that cut clears it, and a REQUIRE after the cut
// makes that DONE fail (cleared == false) until the next resync.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "source/file_source.h"
#include "scratch_dir.h"
#include "source/stream_writer.h"

using namespace cbtrep::source;
namespace fs = std::filesystem;
using TempDir = enginetest::ScratchDir;

namespace
{

std::string one_batch_stream(const fs::path &dir)
{
    std::string p = (dir / "j.cbts").string();
    StreamWriter::Options o;
    o.device_bytes = 16ull << 20;
    StreamWriter w(p, o);
    std::vector<uint8_t> a(4096, 0x5a);
    w.write(0, a);
    w.close();
    return p;
}

FileSource open_src(const std::string &p)
{
    FileSourceOptions o;
    o.stream_path = p;
    return FileSource(o);
}

} // namespace

TEST_CASE("source_resync: no tracker file means dirty and a hand-written one is obeyed",
          "[source][resync]")
{
    TempDir d;
    std::string p = one_batch_stream(d.path);
    FileSource src = open_src(p);
    CHECK(src.status().state == CBT_STATE_DIRTY);
    CHECK_THROWS(src.bitmap_cut(0)); // neither a GAP nor a resync to cut for
    {
        std::ofstream(p + ".tracker") << "cbtrep-tracker 1 resync-required 1\n";
    }
    Status st = src.status();
    CHECK(st.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(st.state_reason == CBT_REASON_UNCLEAN_SHUTDOWN);
    uint64_t g = src.bitmap_cut(0);
    CHECK(g == 1);
    ResyncReply r = src.resync_done(g);
    CHECK(r.cleared);
    CHECK(r.state == CBT_STATE_DIRTY);
    CHECK(src.status().state == CBT_STATE_DIRTY);
    CHECK(src.status().state_reason == CBT_REASON_NONE);
    // A new FileSource (a restarted daemon) reads the cleared state.
    CHECK(open_src(p).status().state == CBT_STATE_DIRTY);
}

TEST_CASE("source_resync: a REQUIRE after the cut keeps resync-required (EAGAIN rule)",
          "[source][resync]")
{
    TempDir d;
    std::string p = one_batch_stream(d.path);
    FileSource src = open_src(p);
    ResyncReply req = src.require_resync(CBT_REASON_SPOOL_LIMIT);
    CHECK(req.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(req.state_reason == CBT_REASON_SPOOL_LIMIT);
    uint64_t g1 = src.bitmap_cut(0);
    src.require_resync(CBT_REASON_SPOOL_LIMIT); // the log overflowed again during that resync
    ResyncReply r = src.resync_done(g1);
    CHECK_FALSE(r.cleared);
    CHECK(r.state == CBT_STATE_RESYNC_REQUIRED);
    CHECK(src.status().state == CBT_STATE_RESYNC_REQUIRED);
    uint64_t g2 = src.bitmap_cut(g1);
    CHECK(g2 > g1);
    r = src.resync_done(g2);
    CHECK(r.cleared);
    CHECK(src.status().state == CBT_STATE_DIRTY);
}

TEST_CASE("source_resync: bad arguments are refused like the kernel's EINVAL", "[source][resync]")
{
    TempDir d;
    std::string p = one_batch_stream(d.path);
    FileSource src = open_src(p);
    CHECK_THROWS_AS(src.require_resync(CBT_REASON_NONE), std::invalid_argument);
    CHECK_THROWS_AS(src.require_resync(CBT_REASON_MAX + 1), std::invalid_argument);
    src.require_resync(CBT_REASON_NEW_DEVICE);
    CHECK_THROWS_AS(src.resync_done(0), std::invalid_argument);
    CHECK_THROWS_AS(src.resync_done(5), std::invalid_argument); // no cut produced 5
    CHECK(src.status().state == CBT_STATE_RESYNC_REQUIRED);
    {
        std::ofstream(p + ".tracker") << "garbage\n";
    }
    CHECK_THROWS_WITH(src.status(), Catch::Contains(".tracker"));
}
