// `cbtrep tag --wait`: after the tag is cut, wait until cbtrepd reports it durable on every
// device's replica (its status files). With the applications stopped this is the source side
// of a planned failover, "drain to a final point" (docs/points.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace cbtrep::cli
{

struct TagWait {
    std::string status_dir = "/run/cbtrep"; // cbtrepd's status files (`status_dir`)
    std::chrono::seconds timeout{600};
    uint64_t tag_id = 0;
    std::string tag_name;
    std::vector<std::string> devices; // tracker names = cbtrepd's device names
    std::vector<uint64_t> seqs;       // the tag record's sequence number on each device
};

// 0 when every replica holds the tag as its last consistency point; 1 otherwise, after a
// message on stderr that says which device and why (cbtrepd in error, the tag applied but
// not at a consistent point, a status that stopped being refreshed, the timeout).
int wait_tag_replicated(const TagWait &w);

} // namespace cbtrep::cli
