// FileSource: drains a journal stream file (include/cbtrep/record.h: a cbt_stream_hdr
// followed by batches) as if it were the tracker.
//
// Every header and batch is validated (cbt_stream_hdr_decode, cbt_batch_check, plus
// increasing batch ids and continuous sequence numbers across batches); a problem is
// reported with the file offset where it starts. commit() persists a cursor (file offset,
// batch id, last sequence) in a small state file, replaced atomically, so a restarted
// daemon resumes after the last committed batch: the batches after it are redelivered.
//
// GAP records name a bitmap generation; its dump (include/cbtrep/bitmap.h) is read from
// <bitmap_dir>/<generation>.cbtm.
//
// The tracker's state (what STATUS and CBT_IOC_RESYNC would say) lives in a one-line text
// file, <stream>.tracker by default, so a test or an import can say "resync required" the
// way the kernel would, and watch the engine clear it:
//   cbtrep-tracker 1 <dirty|resync-required> <reason code> [<required gen> [<cut gen>]]
// Absent = dirty. require_resync() and resync_done() rewrite it atomically with the kernel's
// rule: DONE(G) clears resync-required only when it was set while generation <= G was
// active. A cut while resync-required and no new GAP names a fresh generation (no dump).
#pragma once

#include <deque>
#include <string>

#include "source.h"

namespace cbtrep::source
{

struct FileSourceOptions {
    std::string stream_path;
    std::string cursor_path;  // "" = stream_path + ".cursor"
    std::string bitmap_dir;   // "" = stream_path + ".bitmaps"
    bool follow = false;      // a short tail is a batch still being written, not corruption
    std::string tracker_path; // "" = stream_path + ".tracker"
};

// The tracker state file's content.
struct TrackerFile {
    uint32_t state = CBT_STATE_DIRTY;
    uint32_t reason = CBT_REASON_NONE;
    uint64_t required_gen = 0; // active generation when resync-required was set
    uint64_t cut_gen = 0;      // last generation cut for a resync
};

TrackerFile load_tracker_file(const std::string &path); // default when absent
void store_tracker_file(const std::string &path, const TrackerFile &t);

// The committed position, as stored in the cursor file.
struct Cursor {
    uint64_t offset = sizeof(cbt_stream_hdr); // first byte after the last committed batch
    uint64_t batch_id = 0;                    // last committed batch (0 = none)
    uint64_t last_seq = 0;                    // its last sequence number
};

Cursor load_cursor(const std::string &path); // default Cursor when the file is absent
void store_cursor(const std::string &path, const Cursor &c); // tmp + fsync + rename + fsync dir

class FileSource final : public Source
{
  public:
    explicit FileSource(FileSourceOptions opts);
    ~FileSource() override;
    FileSource(const FileSource &) = delete;
    FileSource &operator=(const FileSource &) = delete;

    const DeviceInfo &info() const override { return info_; }
    std::optional<Batch> next_batch() override;
    void commit(uint64_t batch_id) override;
    void rewind() override;
    bool wait(std::chrono::milliseconds timeout) override;
    Status status() override;
    size_t max_outstanding() const override { return 64; }
    uint64_t bitmap_cut(uint64_t done_generation) override;
    Bitmap bitmap_read(uint64_t generation) override;
    ResyncReply require_resync(uint32_t reason) override;
    ResyncReply resync_done(uint64_t generation) override;
    std::string describe() const override { return "file " + opts_.stream_path; }

    const Cursor &cursor() const { return committed_; }

  private:
    struct HandedOut {
        uint64_t batch_id;
        uint64_t end_offset;
        uint64_t last_seq;
    };

    uint64_t file_size() const;
    void read_exact(uint64_t offset, void *buf, size_t len) const;
    [[noreturn]] void fail(uint64_t offset, const std::string &what) const;

    FileSourceOptions opts_;
    int fd_ = -1;
    DeviceInfo info_;
    Cursor committed_;
    uint64_t read_pos_ = 0; // next batch to hand out
    uint64_t last_id_ = 0;  // batch id / seq of the last batch handed out (or committed)
    uint64_t last_seq_ = 0;
    uint32_t last_mode_ = CBT_MODE_DATA;
    uint64_t last_gap_generation_ = 0;
    uint64_t last_cut_generation_ = 0; // last generation a cut returned
    std::deque<HandedOut> outstanding_;
};

} // namespace cbtrep::source
