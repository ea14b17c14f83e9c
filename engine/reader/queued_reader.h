// The in-order, bounded-window read loop shared by every backend: a ring of queue_depth
// aligned buffers, piece k in slot k % depth, delivered in order, short reads requeued.
// Block devices are always read with O_DIRECT (see the constructor for why).
// A backend only says how to submit one read and how to reap completions.
#pragma once

#include <cstdlib>
#include <memory>
#include <utility>

#include "reader.h"

namespace cbtrep::reader
{

class QueuedReader : public Reader
{
  public:
    ~QueuedReader() override;
    void read(std::span<const Range> ranges, const Consumer &consume) override;
    uint64_t size() const override { return size_; }
    bool direct() const override { return direct_fd_ >= 0; }

  protected:
    struct Completion {
        unsigned slot;
        int64_t result; // bytes read, or -errno
    };

    QueuedReader(const std::string &path, const Options &opts);

    // Queues a read of len bytes at off from fd into dst (inside slot's buffer).
    virtual void submit(unsigned slot, int fd, uint64_t off, uint8_t *dst, size_t len) = 0;
    // Sends queued reads to the kernel.
    virtual void flush() = 0;
    // Appends at least one completion (blocking).
    virtual void reap(std::vector<Completion> &out) = 0;

    uint8_t *slot_buf(unsigned slot) const { return pool_ + size_t(slot) * opts_.piece_bytes; }
    unsigned depth() const { return opts_.queue_depth; }
    size_t pool_bytes() const { return size_t(opts_.queue_depth) * opts_.piece_bytes; }
    // False for a block device: its page cache may be stale (see the constructor), so an
    // O_DIRECT refusal there is an error, never a reason to read buffered.
    bool may_read_buffered() const;

    std::string path_;
    Options opts_;
    int fd_ = -1;        // buffered
    int direct_fd_ = -1; // O_DIRECT, -1 when not available
    uint64_t size_ = 0;
    bool block_device_ = false;
    uint32_t direct_align_ = 4096; // O_DIRECT alignment: logical block size, or 4 KiB for files

  private:
    struct Slot {
        uint64_t offset = 0;
        uint32_t length = 0;
        uint32_t done = 0;
        bool complete = false;
    };
    void start(unsigned slot);
    uint8_t *pool_ = nullptr;
    std::vector<Slot> slots_;
};

// Backend constructors (throw with the reason when the backend is unusable here).
std::unique_ptr<Reader> make_uring_reader(const std::string &path, const Options &opts,
                                          std::string &note);
std::unique_ptr<Reader> make_aio_reader(const std::string &path, const Options &opts);
std::unique_ptr<Reader> make_pread_reader(const std::string &path, const Options &opts);

} // namespace cbtrep::reader
