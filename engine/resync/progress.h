// How a resync shows itself: a one-line progress bar for a terminal, one JSON object per
// line for machines (`--json`, and the daemon's status), and the final summary. Kept here,
// next to Stats, so `cbtrep resync`, `cbtrep verify` and cbtrepd say the same things.
#pragma once

#include <string>
#include <vector>

#include "resync/resync.h"

namespace cbtrep::resync
{

// "1.5 GiB", "512 KiB", "17 bytes"
std::string human_bytes(double bytes);

// Bytes per second of comparison so far, and the seconds left at that rate (-1: unknown).
double compare_rate(const Stats &s);
double eta_seconds(const Stats &s);

// "[########........] 42%  1.7/4.0 GiB compared  12.3 MiB sent  850 MiB/s  ETA 0:03"
std::string progress_line(const Stats &s, size_t bar_width = 24);

// {"event":"progress","device_bytes":...,"done_bytes":...,...} on one line.
std::string progress_json(const Stats &s, const char *event = "progress");

// The summary as text lines (compared, differing, sent, wire, time), for the terminal.
std::string summary_text(const Stats &s, bool verify);

// {"event":"summary","complete":true,...,"differing_ranges":[[offset,length],...]} (ranges
// only for verify).
std::string summary_json(const Result &r, bool verify);

// {"event":"error","message":"..."}
std::string error_json(const std::string &message);

} // namespace cbtrep::resync
