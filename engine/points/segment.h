// Reading history segments and the live undo log: both are UndoRecord streams
// (include/cbtrep/replica_store.h). A history segment was complete and synced before it was
// renamed into place, so any defect in it is corruption and an error; the live undo log may
// end in a torn record, which simply ends it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "points/store.h"

namespace cbtrep::points
{

struct SegEntry {
    UndoRecord rec;
    uint64_t data_off; // file offset of the record's data (kUndoData)
};

struct SegmentScan {
    UndoRecord begin{};            // the BEGIN record (zero when the file is empty)
    std::vector<SegEntry> entries; // DATA and ZERO records, in file order
    uint64_t valid_bytes = 0;      // length of the well-formed prefix
};

// strict: a history segment (every defect throws, naming the file and offset);
// otherwise the live undo log (stops at the first defect). Every record is checked to lie
// inside [0, replica_bytes); check_data also verifies each record's data CRC.
SegmentScan scan_undo(int fd, const std::string &path, uint64_t replica_bytes, bool strict,
                      bool check_data);

// Reads the data of a DATA record, verifying its CRC.
void read_undo_data(int fd, const std::string &path, const SegEntry &e, std::vector<uint8_t> &out);

} // namespace cbtrep::points
