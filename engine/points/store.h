// The retained history of one replica, on disk under <state_dir>/<replica>.history/:
//
//   <first_seq>-<last_seq>.seg   before-images of one committed batch (a retired undo log)
//   points                       the point catalog (CatalogHeader + PointRecords)
//   hold-<point id>              a point in use (test failover); pruning stops there
//   lock                         flock()ed around anything that removes points or adds holds
//
// Formats: include/cbtrep/replica_store.h; semantics: docs/points.md. This library needs
// nothing but libc and the shared headers, so the nbdkit plugin can link it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <cbtrep/replica_store.h>

namespace cbtrep::points
{

using target::IntentRecord;
using target::PointRecord;
using target::UndoRecord;

// Any failure of the history store; the message names the file and what is wrong with it.
class StoreError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

struct Segment {
    uint64_t first_seq = 0, last_seq = 0;
    uint64_t bytes = 0;
    std::string path;
};

struct Retention {
    uint64_t max_age_s = 24 * 3600; // 0 = no age limit
    uint64_t max_bytes = 0;         // history bytes; 0 = no space limit
};

// An flock()ed file descriptor, released by the destructor.
class StoreLock
{
  public:
    StoreLock() = default;
    StoreLock(const std::string &path, bool wait);
    StoreLock(StoreLock &&o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    StoreLock &operator=(StoreLock &&o) noexcept;
    ~StoreLock();
    bool held() const noexcept { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

class Store
{
  public:
    Store(std::string state_dir, std::string replica);
    const std::string &dir() const noexcept { return dir_; }
    std::string undo_path() const { return state_dir_ + "/" + replica_ + ".undo"; }
    std::string intent_path() const { return state_dir_ + "/" + replica_ + ".rollback"; }
    std::string segment_path(uint64_t first_seq, uint64_t last_seq) const;

    // Creates the directory if needed.
    void ensure_dir() const;
    // Segments, oldest first (by first_seq). Files that are not segments are ignored.
    std::vector<Segment> segments() const;
    uint64_t bytes() const;
    // The catalog, oldest first; empty when there is none. Throws on a corrupt catalog.
    std::vector<PointRecord> load_points() const;
    void save_points(const std::vector<PointRecord> &pts) const;
    std::optional<PointRecord> find_point(uint64_t id) const;

    std::set<uint64_t> holds() const;
    void add_hold(uint64_t id, const std::string &why) const;
    void remove_hold(uint64_t id) const;
    // Exclusive lock of the store; wait=false returns an unheld lock when busy.
    StoreLock lock(bool wait) const;

    std::optional<IntentRecord> load_intent() const;
    void save_intent(IntentRecord &r) const;
    void remove_intent() const;

    // Removes the point catalog: no points (needs no free space, unlike save_points({})).
    void remove_catalog() const;
    // Removes a segment file (the caller syncs the directory).
    void remove_segment(const Segment &s) const;
    // Forgets everything (points, segments; holds stay so their owners see the point gone).
    void reset() const;

  private:
    std::string state_dir_, replica_, dir_;
};

// Fills in magic, version, length and CRC.
void seal(PointRecord &p);
bool point_valid(const PointRecord &p);

// Writes data to path atomically: temp file, fsync, rename, fsync of the directory.
void write_atomic(const std::string &path, const void *data, size_t len);
void fsync_dir(const std::string &dir);

struct PruneResult {
    size_t points = 0, segments = 0;
    uint64_t bytes = 0;
    std::optional<uint64_t> stopped_at_hold; // the held point that stopped pruning
};
// Applies retention oldest point first; never removes a held point or anything newer than
// it. Segments no retained point needs are removed too. Caller holds the store lock.
PruneResult prune(const Store &st, const Retention &r, uint64_t now_ns);

// Drops the oldest point (unless held) and the segments only it needed; with no points,
// every segment. Caller holds the store lock. bytes == 0: nothing could be freed.
PruneResult drop_oldest(const Store &st);

uint64_t wall_ns();

} // namespace cbtrep::points
