// Readers: every backend returns the same bytes in request order, across piece and range
// boundaries, unaligned ranges included; the selector reports what it chose.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <fcntl.h>
#include <unistd.h>

#include "reader/reader.h"

using namespace cbtrep::reader;

namespace
{

struct TempFile {
    std::string path;
    std::vector<uint8_t> bytes;
    explicit TempFile(size_t n)
    {
        // /var/tmp rather than /tmp: a disk file system, so O_DIRECT is exercised.
        char tmpl[] = "/var/tmp/cbtrep-rdXXXXXX";
        int fd = ::mkstemp(tmpl);
        path = tmpl;
        std::mt19937 rng(42);
        bytes.resize(n);
        for (auto &b : bytes)
            b = uint8_t(rng());
        REQUIRE(::write(fd, bytes.data(), n) == ssize_t(n));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path.c_str()); }
};

std::vector<uint8_t> read_all(Reader &r, const std::vector<Range> &ranges,
                              std::vector<uint64_t> *offsets)
{
    std::vector<uint8_t> out;
    r.read(ranges, [&](uint64_t off, std::span<const uint8_t> b) {
        if (offsets)
            offsets->push_back(off);
        out.insert(out.end(), b.begin(), b.end());
    });
    return out;
}

std::vector<uint8_t> expect(const TempFile &f, const std::vector<Range> &ranges)
{
    std::vector<uint8_t> out;
    for (auto &r : ranges)
        out.insert(out.end(), f.bytes.begin() + long(r.offset),
                   f.bytes.begin() + long(r.offset + r.length));
    return out;
}

} // namespace

TEST_CASE("reader: every backend reads ranges in request order", "[reader]")
{
    TempFile f(3 << 20);
    // Out of file order on purpose, one unaligned, one spanning several pieces.
    std::vector<Range> ranges = {
        {1 << 20, 600 * 1024}, {4096, 8192}, {777, 5000}, {0, 4096}, {(3 << 20) - 512, 512}};
    for (const char *name : {"io_uring", "libaio", "pread"}) {
        DYNAMIC_SECTION(name)
        {
            Options o;
            o.backend = name;
            o.queue_depth = 4;
            o.piece_bytes = 64 * 1024;
            Selection s = open_reader(f.path, o);
            REQUIRE(s.reader);
            CHECK(std::string(backend_name(s.reader->backend())) == name);
            CHECK(s.reader->size() == f.bytes.size());
            std::vector<uint64_t> offs;
            CHECK(read_all(*s.reader, ranges, &offs) == expect(f, ranges));
            REQUIRE(offs.size() >= ranges.size());
            CHECK(offs.front() == (1u << 20));
            CHECK(offs.back() == (3u << 20) - 512);
        }
    }
}

TEST_CASE("reader: auto picks io_uring here and says so", "[reader]")
{
    TempFile f(1 << 20);
    Selection s = open_reader(f.path, Options{});
    REQUIRE(s.reader);
    CHECK(s.reader->backend() == Backend::io_uring);
    REQUIRE_FALSE(s.notes.empty());
    CHECK_THAT(s.notes.back(), Catch::Contains("using io_uring"));
}

TEST_CASE("reader: a range past the end is refused before any I/O", "[reader]")
{
    TempFile f(1 << 16);
    Options o;
    o.backend = "pread";
    auto s = open_reader(f.path, o);
    std::vector<Range> bad = {{60000, 8192}};
    CHECK_THROWS_WITH(s.reader->read(bad, [](uint64_t, std::span<const uint8_t>) {}),
                      Catch::Contains("beyond the end"));
}

TEST_CASE("reader: an unknown backend name is a configuration error", "[reader]")
{
    TempFile f(4096);
    Options o;
    o.backend = "mmap";
    CHECK_THROWS_WITH(open_reader(f.path, o), Catch::Contains("unknown backend"));
}

TEST_CASE("reader: a large read through io_uring matches the file", "[reader]")
{
    TempFile f(8 << 20);
    auto s = open_reader(f.path, Options{});
    std::vector<Range> all = {{0, f.bytes.size()}};
    CHECK(read_all(*s.reader, all, nullptr) == f.bytes);
}

TEST_CASE("reader: the probe falls back io_uring -> libaio -> pread and says why", "[reader]")
{
    TempFile f(1 << 20);
    std::vector<Range> all = {{0, f.bytes.size()}};
    ::setenv("CBTREP_READER_DISABLE", "io_uring", 1);
    Selection s = open_reader(f.path, Options{});
    CHECK(s.reader->backend() == Backend::libaio);
    REQUIRE(s.notes.size() >= 2);
    CHECK_THAT(s.notes[0], Catch::Contains("io_uring unavailable") &&
                               Catch::Contains("CBTREP_READER_DISABLE") &&
                               Catch::Contains("falling back"));
    CHECK_THAT(s.notes.back(), Catch::Contains("using libaio"));
    CHECK(read_all(*s.reader, all, nullptr) == f.bytes);

    ::setenv("CBTREP_READER_DISABLE", "io_uring,libaio", 1);
    s = open_reader(f.path, Options{});
    CHECK(s.reader->backend() == Backend::pread);
    CHECK_THAT(s.notes.back(), Catch::Contains("using pread"));
    CHECK(read_all(*s.reader, all, nullptr) == f.bytes);
    ::unsetenv("CBTREP_READER_DISABLE");
}

namespace
{

// A loop device over a temporary file, detached on scope exit. Empty path when this
// machine cannot make one (not root, no loop driver): the caller skips with a warning.
struct LoopDevice {
    std::string path;
    explicit LoopDevice(const std::string &backing)
    {
        std::string cmd = "losetup --find --show " + backing + " 2>/dev/null";
        FILE *p = ::popen(cmd.c_str(), "r");
        if (!p)
            return;
        char line[256] = {};
        if (std::fgets(line, sizeof(line), p))
            path = std::string(line, strcspn(line, "\n"));
        if (::pclose(p) != 0)
            path.clear();
    }
    ~LoopDevice()
    {
        if (!path.empty())
            (void)!std::system(("losetup -d " + path).c_str());
    }
};

} // namespace

// What broke the live-disk end-to-end flow: a file system writes its blocks with bios that
// bypass the block device's page cache, so a buffered read of the device returned what an
// earlier read had cached (the replica missed 259 KiB of a 2 MiB META-mode write at a 1 KiB
// offset). Here the "file system" is a write to the loop device's backing file.
TEST_CASE("reader: a block device is read from the disk, never from a stale page cache", "[reader]")
{
    TempFile f(1 << 20);
    LoopDevice loop(f.path);
    if (loop.path.empty()) {
        WARN("no loop device here (needs root and the loop driver): not checked");
        return;
    }
    {
        // Fill the device's page cache with the old bytes.
        std::ifstream in(loop.path, std::ios::binary);
        std::vector<char> all(f.bytes.size());
        REQUIRE(in.read(all.data(), std::streamsize(all.size())));
    }
    // New bytes at a 1 KiB offset (a 1 KiB-block ext4 writes there), written below the cache.
    std::mt19937 rng(7);
    for (size_t i = 1024; i < 1024 + 300 * 1024; i++)
        f.bytes[i] = uint8_t(rng());
    {
        int fd = ::open(f.path.c_str(), O_WRONLY);
        REQUIRE(fd >= 0);
        REQUIRE(::pwrite(fd, f.bytes.data() + 1024, 300 * 1024, 1024) == 300 * 1024);
        REQUIRE(::fsync(fd) == 0);
        ::close(fd);
    }
    std::vector<Range> ranges = {{1024, 300 * 1024}, {512, 1024}, {0, 1 << 20}};
    for (const char *name : {"io_uring", "libaio", "pread"}) {
        DYNAMIC_SECTION(name)
        {
            Options o;
            o.backend = name;
            o.piece_bytes = 64 * 1024;
            o.direct = false; // ignored for a block device: it must still read the disk
            Selection s = open_reader(loop.path, o);
            REQUIRE(s.reader);
            CHECK(s.reader->direct());
            CHECK(read_all(*s.reader, ranges, nullptr) == expect(f, ranges));
        }
    }
}
