// A consistency point of the Linux tracker: CBT_IOC_TAG on a group of devices, optionally
// with their filesystems frozen (FIFREEZE) around it so that the point is app-consistent.
// `cbtrep tag` and cbtrepd's timer points (engine/daemon/point_timer.h) both call
// take_tag(), so a manual point and a timer point are cut the same way.
//
// Freezing is bounded: a watchdog child process thaws every filesystem this call froze when
// the freeze lasts longer than freeze_limit, or when this process dies while they are frozen
// (kill -9 of cbtrepd or Ctrl-C of `cbtrep tag` must never leave a filesystem frozen).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace cbtrep::source
{

struct TagRequest {
    std::string name;                 // tag name, 1..63 bytes
    std::vector<std::string> devices; // tracker names (as attached), 1..CBT_TAG_MAX_DEVICES
    std::vector<std::string> freeze;  // mountpoints to freeze; non-empty = app-consistent
    std::chrono::milliseconds freeze_limit{10000};
    std::string ctl = "/dev/cbtrep-ctl";
};

struct TagResult {
    uint64_t tag_id = 0;
    std::vector<uint64_t> seqs; // the tag record's sequence number on each device
    bool app = false;
    std::vector<std::string> frozen; // the mountpoints actually frozen (one per filesystem)
    std::chrono::microseconds frozen_for{0};
};

// TAG answered EBUSY: a member is in BITMAP mode (no journal to put the tag in) or out of
// sequence numbers until its header is saved. Nothing was cut; try again later.
class TagBusy : public std::system_error
{
  public:
    using std::system_error::system_error;
};

// Freeze (if asked) -> TAG -> thaw. The filesystems are thawed on every path, errors
// included. Throws TagBusy, std::system_error (open/ioctl/freeze/thaw, naming the call) or
// std::invalid_argument (bad names). A freeze that outlived freeze_limit throws after the
// tag was cut, saying the tag may not be app-consistent.
TagResult take_tag(const TagRequest &req);

// Mountpoints of the filesystems on block device `device` (/proc/self/mountinfo), one per
// filesystem; empty when it is not mounted.
std::vector<std::string> mountpoints_of(const std::string &device);

} // namespace cbtrep::source
