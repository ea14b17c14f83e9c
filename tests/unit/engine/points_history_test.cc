// Recovery points (docs/points.md): tags in consistent batches become points kept across
// restarts; the view of a point reads exactly the replica as it was at the point while later
// batches are applied, and its writes never reach the replica; rollback restores the image;
// retention keeps within its bound and never passes a held point; corrupt or out-of-bounds
// history records stop with a clear error before anything is written.
#include <catch2/catch.hpp>

#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "points/segment.h"
#include "points/view.h"
#include "applier_fixture.h"
#include "target/applier.h"
#include "target_fixture.h"

using namespace cbtrep;
using namespace cbtrep::target;
using namespace target_test;

namespace
{

constexpr uint64_t kSize = 8u << 20;
constexpr size_t kStage = 4u << 20;

using Extents = std::vector<std::pair<uint64_t, std::vector<uint8_t>>>;

struct Fixture : ApplierFixture {
    Fixture() : ApplierFixture(kSize, kStage) {}
    points::Store store() { return points::Store(dir.path.string(), spec.name); }
};

// Applies one batch of raw extents with seq first..last; a tag (seq == last) when tag_id.
void apply(Applier &a, uint64_t id, uint64_t first, uint64_t last, const Extents &ext,
           uint64_t tag_id = 0, bool app = false)
{
    uint64_t total = 0;
    for (auto &e : ext)
        total += e.second.size();
    auto b = begin(id, first, last, uint32_t(ext.size()), total);
    b.nr_tags = tag_id ? 1 : 0;
    a.begin(b);
    for (uint32_t i = 0; i < ext.size(); i++)
        a.extent(raw_extent(ext[i].first, ext[i].second, i), ext[i].second);
    if (tag_id) {
        cbt_wire_tag t = device_tag(tag_id, last);
        t.timestamp_ns = 1000 + tag_id;
        t.flags = app ? CBT_TAG_APP_CONSISTENT : 0;
        std::snprintf(t.name, sizeof(t.name), "t%llu", static_cast<unsigned long long>(tag_id));
        a.tag(t);
    }
    auto e = end(id, uint32_t(ext.size()), total, total);
    e.nr_tags = b.nr_tags;
    a.end(e);
}

std::vector<uint8_t> read_view(points::PointView &v)
{
    std::vector<uint8_t> out(v.size());
    // Odd-sized reads so pieces are cut at arbitrary places.
    for (uint64_t off = 0; off < out.size();) {
        uint64_t n = std::min<uint64_t>(out.size() - off, 300000);
        v.read(out.data() + off, n, off);
        off += n;
    }
    return out;
}

// Writes a history that overlaps itself: batch k writes pattern(k) at several offsets, some
// covering earlier batches' ranges, some inside one batch (later extents in another flush).
// Batch k has seq 3k-2..3k and tag id k (point id 3k); images[k-1] is the replica after it.
void write_history(Applier &a, std::vector<std::vector<uint8_t>> &images, Fixture &f, int batches)
{
    int from = int(images.size()) + 1;
    for (int k = from; k < from + batches; k++) {
        uint64_t seq = uint64_t(k) * 3 - 2;
        Extents ext;
        ext.push_back({uint64_t(k) * 65536, pattern(200192, uint8_t(k))});
        ext.push_back({uint64_t(k % 3) * 102400 + 4096, pattern(3u << 20, uint8_t(k + 50))});
        ext.push_back({uint64_t(k) * 65536 + 512, pattern(70144, uint8_t(k + 100))});
        apply(a, uint64_t(k), seq, seq + 2, ext, uint64_t(k), k % 2);
        images.push_back(f.image());
    }
}

} // namespace

TEST_CASE("points: every tag of a consistent batch is a point, kept across restarts", "[points]")
{
    Fixture f;
    std::vector<std::vector<uint8_t>> images;
    {
        auto a = f.open();
        write_history(*a, images, f, 4);
    }
    auto a = f.open();
    auto pts = f.store().load_points();
    REQUIRE(pts.size() == 4);
    CHECK(pts[0].id == 3);
    CHECK(pts[0].batch_last_seq == 3);
    CHECK((pts[0].flags & kPointApp) != 0);
    CHECK((pts[1].flags & kPointApp) == 0);
    CHECK(std::string(pts[3].name) == "t4");
    // The first batch's before-images serve no point (none existed before it).
    CHECK(f.store().segments().size() == 3);

    // A tag in a batch that is not consistent is no point.
    apply(*a, 5, 13, 13, {{0, pattern(4096, 9)}}, 0);
    auto b = begin(6, 14, 14, 0, 0, 0);
    b.nr_tags = 1;
    a->begin(b);
    a->tag(device_tag(9, 14));
    auto e = end(6, 0, 0, 0);
    e.nr_tags = 1;
    a->end(e);
    CHECK(f.store().load_points().size() == 4);
}

TEST_CASE("points: the view of a point equals the replica at that point, writes stay in the "
          "overlay",
          "[points]")
{
    Fixture f;
    std::vector<std::vector<uint8_t>> images;
    auto a = f.open();
    write_history(*a, images, f, 3);
    points::PointView v1(f.dir.path.string(), "r1", f.spec.path, 3, f.dir / "ov1");
    points::PointView v2(f.dir.path.string(), "r1", f.spec.path, 6, f.dir / "ov2");
    CHECK(read_view(v1) == images[0]);
    CHECK(read_view(v2) == images[1]);
    // Replication goes on: the views do not move.
    write_history(*a, images, f, 3);
    REQUIRE(a->state().applied_seq == 18);
    REQUIRE(f.image() != images[1]);
    CHECK(read_view(v1) == images[0]);
    CHECK(read_view(v2) == images[1]);

    // Writes: aligned and not, across blocks; the replica does not change.
    auto before = f.image();
    auto junk = pattern(10000, 77);
    v1.write(junk.data(), junk.size(), 123);
    v1.write(junk.data(), 4096, 8192 * 10);
    auto want = images[0];
    std::memcpy(want.data() + 123, junk.data(), junk.size());
    std::memcpy(want.data() + 8192 * 10, junk.data(), 4096);
    CHECK(read_view(v1) == want);
    CHECK(f.image() == before);
    CHECK(read_view(v2) == images[1]);
}

TEST_CASE("points: rollback to each point, newest first, restores its image", "[points]")
{
    Fixture f;
    std::vector<std::vector<uint8_t>> images;
    auto a = f.open();
    write_history(*a, images, f, 5);
    for (int k = 5; k >= 1; k--) {
        a->rollback_to(uint64_t(k) * 3);
        CHECK(f.image() == images[size_t(k - 1)]);
        CHECK(a->state().applied_seq == uint64_t(k) * 3);
        CHECK((a->state().flags & kStateRolledBack) != 0);
    }
    CHECK(f.store().segments().empty());
    // Replication from the old source position is refused: the replica left it behind.
    CHECK_THROWS_WITH(apply(*a, 9, 4, 4, {{0, pattern(512, 1)}}),
                      Catch::Contains("rolled back") && Catch::Contains("resync required"));
}

TEST_CASE("points: retention by space prunes oldest first and stops at a held point", "[points]")
{
    Fixture f;
    f.spec.retention.max_age_s = 0;
    std::vector<std::vector<uint8_t>> images;
    auto a = f.open();
    write_history(*a, images, f, 3);
    uint64_t per_batch = f.store().segments().back().bytes;
    f.store().add_hold(3, "test");
    f.spec.retention.max_bytes = per_batch * 2;
    a = f.open();
    write_history(*a, images, f, 3);
    auto pts = f.store().load_points();
    REQUIRE(!pts.empty());
    CHECK(pts.front().id == 3); // held: nothing pruned past it
    CHECK(pts.size() == 6);

    f.store().remove_hold(3);
    a = f.open(); // open() applies retention
    pts = f.store().load_points();
    CHECK(pts.size() < 6);
    uint64_t needed = 0;
    for (auto &s : f.store().segments()) {
        CHECK(s.first_seq > pts.front().batch_last_seq); // nothing kept that serves no point
        needed += s.bytes;
    }
    CHECK(needed <= f.spec.retention.max_bytes);
    // What is left still rolls back exactly.
    uint64_t oldest = pts.front().id;
    a->rollback_to(oldest);
    CHECK(f.image() == images[size_t(oldest / 3 - 1)]);
}

TEST_CASE("points: corrupt or out-of-bounds history is refused before anything is written",
          "[points]")
{
    Fixture f;
    std::vector<std::vector<uint8_t>> images;
    auto a = f.open();
    write_history(*a, images, f, 3);
    auto segs = f.store().segments();
    REQUIRE(segs.size() == 2);
    auto now = f.image();

    SECTION("a flipped data byte")
    {
        int fd = ::open(segs.back().path.c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        uint8_t x = 0;
        REQUIRE(::pread(fd, &x, 1, 64 + 64 + 10) == 1);
        x ^= 0xff;
        REQUIRE(::pwrite(fd, &x, 1, 64 + 64 + 10) == 1);
        ::close(fd);
        CHECK_THROWS_WITH(a->rollback_to(3), Catch::Contains("data CRC mismatch") &&
                                                 Catch::Contains(segs.back().path));
        CHECK(f.image() == now);
        // The view indexes (and checks) the history it needs when it opens.
        CHECK_THROWS_WITH(
            points::PointView(f.dir.path.string(), "r1", f.spec.path, 3, f.dir / "ov"),
            Catch::Contains("data CRC mismatch"));
    }
    SECTION("a record reaching past the replica, with a valid CRC")
    {
        int fd = ::open(segs.back().path.c_str(), O_RDWR);
        REQUIRE(fd >= 0);
        UndoRecord r{};
        REQUIRE(::pread(fd, &r, sizeof(r), 64) == sizeof(r));
        r.offset = kSize - 100;
        r.hdr_crc = cbt_crc32c(0, &r, offsetof(UndoRecord, hdr_crc));
        REQUIRE(::pwrite(fd, &r, sizeof(r), 64) == sizeof(r));
        ::close(fd);
        CHECK_THROWS_WITH(a->rollback_to(3), Catch::Contains("outside the replica"));
        CHECK(f.image() == now);
    }
}
