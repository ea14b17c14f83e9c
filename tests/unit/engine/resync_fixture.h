// Shared by the resync_*_test.cc files: temporary images with known content, a divergence
// helper and a whole-file comparison, so every test states only its pattern and its check.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "resync/local_peer.h"
#include "resync/resync.h"

namespace rstest
{

inline std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string &path, const std::vector<uint8_t> &bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

// Compressible-ish data: random words from a small alphabet (lz4 shrinks it, not to nothing).
inline std::vector<uint8_t> make_data(size_t n, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = uint8_t('a' + rng() % 16);
    return v;
}

// A temporary directory removed with everything in it at scope end.
struct TempDir {
    std::string path;
    TempDir()
    {
        char tmpl[] = "/tmp/cbtrep-resync-test-XXXXXX";
        if (!mkdtemp(tmpl))
            throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
    std::string operator/(const std::string &name) const { return path + "/" + name; }
};

// Small levels so a few MiB hold many regions, blocks and leaves.
inline cbtrep::resync::Options small_options()
{
    cbtrep::resync::Options o;
    o.geometry.region_bytes = 1u << 20;
    o.geometry.block_bytes = 64u << 10;
    o.geometry.leaf_bytes = 4u << 10;
    o.window = 4;
    return o;
}

// A source/replica pair with the same content; tests then make them diverge.
struct Pair {
    TempDir dir;
    std::string src = dir / "src.img";
    std::string dst = dir / "dst.img";
    std::vector<uint8_t> data;

    explicit Pair(size_t size, uint64_t seed = 1) : data(make_data(size, seed))
    {
        write_file(src, data);
        write_file(dst, data);
    }
    bool equal() const { return read_file(src) == read_file(dst); }
};

inline cbtrep::resync::Result resync_local(const Pair &p, cbtrep::resync::Options o,
                                           cbtrep::resync::LocalPeerOptions po = {})
{
    cbtrep::resync::LocalPeer peer(p.dst, po);
    return cbtrep::resync::run(p.src, peer, o);
}

inline cbtrep::resync::Result verify_local(const Pair &p, cbtrep::resync::Options o)
{
    o.verify = true;
    cbtrep::resync::LocalPeerOptions po;
    po.read_only = true;
    cbtrep::resync::LocalPeer peer(p.dst, po);
    return cbtrep::resync::run(p.src, peer, o);
}

// Overwrites [off, off+len) of a file with other bytes.
inline void scribble(const std::string &path, uint64_t off, size_t len, uint64_t seed = 99)
{
    auto bytes = make_data(len, seed);
    for (auto &b : bytes)
        b = uint8_t(b ^ 0x80); // never equal to make_data's alphabet
    int fd = ::open(path.c_str(), O_WRONLY);
    if (fd < 0 || ::pwrite(fd, bytes.data(), len, off_t(off)) != ssize_t(len))
        throw std::runtime_error("scribble failed on " + path);
    ::close(fd);
}

} // namespace rstest
