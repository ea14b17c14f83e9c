// Shared by the source, spool and daemon unit tests: a scratch directory removed with
// everything in it at scope end, and a one-byte corruption of a file on disk.
#pragma once

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace enginetest
{

struct ScratchDir {
    std::filesystem::path path;
    // prefix: the directory's path up to mkdtemp's random suffix.
    explicit ScratchDir(const std::string &prefix = "/tmp/cbtrep-test-")
    {
        std::string tmpl = prefix + "XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp " + tmpl + " failed");
        path = tmpl;
    }
    ~ScratchDir() { std::filesystem::remove_all(path); }
    ScratchDir(const ScratchDir &) = delete;
    ScratchDir &operator=(const ScratchDir &) = delete;
    std::string str(const std::string &leaf) const { return (path / leaf).string(); }
};

// Flips one bit of the byte at off, in place.
inline void flip_byte(const std::string &path, uint64_t off)
{
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(long(off));
    char c;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(long(off));
    f.write(&c, 1);
}

} // namespace enginetest
