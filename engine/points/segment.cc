#include "points/segment.h"

#include "points/pread_full.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <cbtrep/crc32c.h>

namespace cbtrep::points
{
SegmentScan scan_undo(int fd, const std::string &path, uint64_t replica_bytes, bool strict,
                      bool check_data)
{
    SegmentScan out;
    uint64_t off = 0;
    std::vector<uint8_t> buf;
    auto defect = [&](const std::string &what) {
        if (strict)
            throw StoreError("history segment " + path + ": record at byte " + std::to_string(off) +
                             ": " + what);
    };
    for (;;) {
        UndoRecord r{};
        ssize_t n = pread_full(fd, &r, sizeof(r), off);
        if (n < 0)
            throw StoreError("reading " + path + ": " + std::strerror(errno));
        if (n == 0)
            break;
        if (static_cast<size_t>(n) < sizeof(r)) {
            defect("truncated header");
            break;
        }
        if (r.magic != target::kUndoMagic || r.version != target::kUndoVersion ||
            r.hdr_crc != cbt_crc32c(0, &r, offsetof(UndoRecord, hdr_crc))) {
            defect("bad magic, version or header CRC");
            break;
        }
        if (off == 0) {
            if (r.type != target::kUndoBegin) {
                defect("does not start with a BEGIN record");
                break;
            }
            out.begin = r;
            off += sizeof(r);
            out.valid_bytes = off;
            continue;
        }
        if (r.type == target::kUndoBegin || r.batch_id != out.begin.batch_id) {
            defect("belongs to another batch");
            break;
        }
        if ((r.type != target::kUndoData && r.type != target::kUndoZero) ||
            (r.type == target::kUndoData && r.data_len != r.length) ||
            (r.type == target::kUndoZero && r.data_len)) {
            defect("unknown type or inconsistent lengths");
            break;
        }
        // Nothing may ever be written outside the replica: a record reaching past its end
        // is refused, whatever its CRC says.
        if (r.offset > replica_bytes || r.length > replica_bytes - r.offset) {
            defect("range " + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                   " outside the replica (" + std::to_string(replica_bytes) + " bytes)");
            break;
        }
        SegEntry e{r, off + sizeof(r)};
        if (r.data_len && (check_data || !strict)) {
            buf.resize(r.data_len);
            ssize_t m = pread_full(fd, buf.data(), r.data_len, e.data_off);
            if (m != static_cast<ssize_t>(r.data_len)) {
                defect("data truncated");
                break;
            }
            if (cbt_crc32c(0, buf.data(), r.data_len) != r.data_crc) {
                defect("data CRC mismatch");
                break;
            }
        }
        out.entries.push_back(e);
        off += sizeof(r) + r.data_len;
        out.valid_bytes = off;
    }
    return out;
}

void read_undo_data(int fd, const std::string &path, const SegEntry &e, std::vector<uint8_t> &out)
{
    out.resize(e.rec.data_len);
    ssize_t n = pread_full(fd, out.data(), out.size(), e.data_off);
    if (n != static_cast<ssize_t>(out.size()))
        throw StoreError("reading " + path + " at byte " + std::to_string(e.data_off) + ": " +
                         (n < 0 ? std::strerror(errno) : "truncated"));
    if (cbt_crc32c(0, out.data(), out.size()) != e.rec.data_crc)
        throw StoreError("history segment " + path + ": record at byte " +
                         std::to_string(e.data_off - sizeof(UndoRecord)) + ": data CRC mismatch");
}

} // namespace cbtrep::points
