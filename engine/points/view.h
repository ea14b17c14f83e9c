// A writable view of a replica as it was at a recovery point, while replication goes on:
//
//   base(byte) = its before-image in the oldest history segment after the point that
//                covers it (within a segment: the first record covering it), else the one in
//                the live undo log, else the replica's current byte;
//   view(byte) = the overlay's byte if the view wrote that block, else base(byte).
//
// Order of a read: replica first, then the live undo log, then the history. The target
// makes a batch's before-images durable in the undo log before it writes the replica, and
// renames that log into the history (never copies, never loses it) after the commit, so any
// replica byte the read saw changed is covered by a record found afterwards. Writes only
// ever go to the overlay file; the replica and the history are opened read-only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "points/segment.h"
#include "points/store.h"

namespace cbtrep::points
{

class PointView
{
  public:
    // The point must be in the catalog; the caller holds it (hold-<id>) so pruning keeps it.
    PointView(const std::string &state_dir, const std::string &replica,
              const std::string &replica_path, uint64_t point_id, const std::string &overlay_path);
    ~PointView();
    PointView(const PointView &) = delete;
    PointView &operator=(const PointView &) = delete;

    uint64_t size() const noexcept { return size_; }
    const PointRecord &point() const noexcept { return point_; }
    void read(uint8_t *buf, uint64_t len, uint64_t off);
    void write(const uint8_t *buf, uint64_t len, uint64_t off);
    void flush();

  private:
    struct Piece {
        uint64_t end;
        int fd;            // segment file; -1 = zero
        uint64_t data_off; // file offset of the byte at the piece start
    };
    static constexpr uint64_t kBlock = 4096;
    void read_base(uint8_t *buf, uint64_t len, uint64_t off);
    void refresh_index();
    // Adds [start, end) → piece where the map has no piece yet (older records win).
    static void fill_gaps(std::map<uint64_t, Piece> &m, uint64_t start, uint64_t end, int fd,
                          uint64_t data_off);
    static void overlay_pieces(const std::map<uint64_t, Piece> &m, uint8_t *buf, uint64_t len,
                               uint64_t off);

    Store store_;
    PointRecord point_{};
    uint64_t size_ = 0;
    int replica_fd_ = -1;
    int overlay_fd_ = -1;
    std::string overlay_path_;
    std::vector<bool> written_; // per kBlock of the overlay
    uint64_t indexed_upto_ = 0; // last_seq of the newest indexed segment
    std::vector<int> seg_fds_;
    std::map<uint64_t, Piece> index_;
};

} // namespace cbtrep::points
