#include "source.h"

#include <cstring>
#include <stdexcept>

namespace cbtrep::source
{

Batch::Batch(std::vector<uint8_t> bytes, uint64_t device_bytes, const std::string &where)
    : bytes_(std::move(bytes))
{
    uint64_t len = 0;
    int err = cbt_batch_check(bytes_.data(), bytes_.size(), device_bytes >> CBT_SECTOR_SHIFT, &len);
    if (err == CBT_FMT_OK && len != bytes_.size())
        err = CBT_FMT_BAD_LENGTH;
    if (err != CBT_FMT_OK)
        throw std::runtime_error(where + ": invalid batch: " + cbt_fmt_err_str(err));
    std::memcpy(&hdr_, bytes_.data(), sizeof(hdr_));
    records_.reserve(hdr_.nr_records);
    uint64_t off = sizeof(cbt_batch);
    for (uint32_t i = 0; i < hdr_.nr_records; i++) {
        RecordRef r;
        // Already validated by cbt_batch_check: copy the header without checking CRCs twice.
        std::memcpy(&r.hdr, bytes_.data() + off, sizeof(r.hdr));
        r.data = std::span<const uint8_t>(bytes_.data() + off + sizeof(r.hdr), r.hdr.data_len);
        records_.push_back(r);
        off += cbt_rec_total_len(&r.hdr);
    }
}

uint64_t Bitmap::count() const
{
    uint64_t n = 0;
    for (uint8_t b : bits)
        n += static_cast<uint64_t>(__builtin_popcount(b));
    return n;
}

} // namespace cbtrep::source
