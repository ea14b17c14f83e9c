// The replica itself: a block device or an image file (created sparse when absent). Every
// access is bounds-checked here a second time, after the frame validators, so no code path
// can write outside [0, size).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/fd.h"

namespace cbtrep::target
{

class ReplicaFile
{
  public:
    // Opens path read-write. When it does not exist and create_bytes is nonzero, creates a
    // sparse image file of that size; otherwise a missing path is an error.
    ReplicaFile(const std::string &path, uint64_t create_bytes);

    const std::string &path() const noexcept { return path_; }
    uint64_t size() const noexcept { return size_; }
    bool is_block_device() const noexcept { return blockdev_; }
    int fd() const noexcept { return fd_.get(); }

    void read(uint64_t offset, std::span<uint8_t> buf) const;
    void write(uint64_t offset, std::span<const uint8_t> buf);
    // Makes [offset, offset+length) read back as zeroes: punch a hole / BLKZEROOUT /
    // BLKDISCARD (discard only where it reads back as zeroes), else write zeroes.
    void zero(uint64_t offset, uint64_t length, bool discard);
    // Offset of the next data at or after offset (SEEK_DATA on files; offset itself on
    // devices or when unsupported); size() when only holes follow.
    uint64_t next_data(uint64_t offset) const;
    void sync();

  private:
    void check_range(uint64_t offset, uint64_t length, const char *op) const;
    void write_zeroes(uint64_t offset, uint64_t length);

    std::string path_;
    UniqueFd fd_;
    uint64_t size_ = 0;
    bool blockdev_ = false;
    bool punch_ok_ = true;
    bool discard_zeroes_ = false;
};

} // namespace cbtrep::target
