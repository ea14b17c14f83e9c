// LocalPeer: the replica is a local file or block device (`cbtrep resync src --replica-file
// dst`, and the unit tests). A worker thread plays the replica side — it reads and hashes
// the replica while the planner reads and hashes the source, so both disks (and both
// cores) work at once, exactly as with a remote target.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "resync/peer.h"
#include "resync/responder.h"

namespace cbtrep::resync
{

struct LocalPeerOptions {
    bool read_only = false; // verify: never opened for writing
    reader::Options reader; // how the replica is read
    Direct direct = Direct::automatic;
    // When the replica is a regular file of another size, make it the source's size
    // (--resize). Devices are never resized.
    bool resize = false;
};

class LocalPeer : public ReplicaPeer
{
  public:
    LocalPeer(std::string path, LocalPeerOptions opts = {});
    ~LocalPeer() override;

    PeerInfo open(const Geometry &geometry, uint64_t source_bytes) override;
    void request(HashRequest req) override;
    HashReply reply() override;
    void write(std::vector<codec::Chunk> chunks) override;
    void flush() override;

  private:
    struct Flush {
        uint64_t ticket;
    };
    using Op = std::variant<HashRequest, std::vector<codec::Chunk>, Flush>;

    void run();
    void push(Op op, uint64_t write_bytes);
    void rethrow_locked();

    std::string path_;
    LocalPeerOptions opts_;
    std::unique_ptr<BlockHasher> hasher_;
    std::unique_ptr<FileWriter> writer_;
    std::unique_ptr<Responder> responder_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Op> ops_;
    std::deque<HashReply> replies_;
    uint64_t queued_write_bytes_ = 0;
    uint64_t flush_issued_ = 0;
    uint64_t flush_done_ = 0;
    std::exception_ptr error_;
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace cbtrep::resync
