// The replica side of a resync: answers hash requests from the region trees of the replica
// (kept for the regions still being compared, so "which blocks / leaves differ" costs no
// second read) and applies the differing data through a ReplicaWriter. The local peer runs
// one in a thread; cbtrep-target runs one per resync connection.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "codec/codec.h"
#include "resync/block_hasher.h"
#include "resync/peer.h"

namespace cbtrep::resync
{

// Where verified data lands. Offsets and lengths are already bounds-checked.
class ReplicaWriter
{
  public:
    virtual ~ReplicaWriter() = default;
    virtual void write(uint64_t offset, std::span<const uint8_t> bytes) = 0;
    virtual void write_zero(uint64_t offset, uint64_t length) = 0;
    virtual void flush() = 0; // durable
};

// A replica that is a local regular file or block device, opened read-write.
class FileWriter : public ReplicaWriter
{
  public:
    explicit FileWriter(const std::string &path);
    ~FileWriter() override;
    void write(uint64_t offset, std::span<const uint8_t> bytes) override;
    void write_zero(uint64_t offset, uint64_t length) override;
    void flush() override;

  private:
    std::string path_;
    int fd_ = -1;
    bool regular_ = false;
};

class Responder
{
  public:
    // Reads the replica through hasher, writes through writer (not owned; both must outlive it).
    Responder(BlockHasher &hasher, ReplicaWriter *writer);

    HashReply answer(const HashRequest &req);
    // Validates (bounds, decode, digest) and writes one chunk. Throws naming the offset.
    void apply(const codec::Chunk &chunk);
    void flush();

  private:
    const RegionTree &tree(uint64_t region);

    BlockHasher &hasher_;
    ReplicaWriter *writer_;
    std::deque<RegionTree> cache_; // oldest first, bounded
    std::vector<uint8_t> buf_;
};

} // namespace cbtrep::resync
