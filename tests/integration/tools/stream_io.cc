#include "stream_io.h"

#include <cstring>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdexcept>
#include <unistd.h>

namespace cbtrep::testtools
{

StreamReader::StreamReader(const std::string &path) : path_(path)
{
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_)
        throw std::runtime_error("cannot open stream " + path);
    uint8_t buf[sizeof(cbt_stream_hdr)];
    if (std::fread(buf, 1, sizeof(buf), f_) != sizeof(buf))
        throw std::runtime_error(path + ": truncated stream header");
    if (int err = cbt_stream_hdr_decode(buf, sizeof(buf), &hdr_))
        throw std::runtime_error(path + ": stream header: " + cbt_fmt_err_str(err));
}

StreamReader::~StreamReader()
{
    if (f_)
        std::fclose(f_);
}

bool StreamReader::next(StreamBatch &b)
{
    b.bytes.resize(sizeof(cbt_batch));
    size_t n = std::fread(b.bytes.data(), 1, sizeof(cbt_batch), f_);
    if (n == 0)
        return false;
    if (n != sizeof(cbt_batch))
        throw std::runtime_error(path_ + ": truncated batch header");
    std::memcpy(&b.hdr, b.bytes.data(), sizeof(b.hdr));
    if (int err = cbt_batch_check_hdr(&b.hdr))
        throw std::runtime_error(path_ + ": batch header: " + cbt_fmt_err_str(err));
    if (b.hdr.payload_len > (1ull << 32))
        throw std::runtime_error(path_ + ": batch payload too large for this tool");
    b.bytes.resize(sizeof(cbt_batch) + b.hdr.payload_len);
    if (std::fread(b.bytes.data() + sizeof(cbt_batch), 1, b.hdr.payload_len, f_) !=
        b.hdr.payload_len)
        throw std::runtime_error(path_ + ": truncated batch payload");
    uint64_t len = 0;
    if (int err = cbt_batch_check(b.bytes.data(), b.bytes.size(),
                                  hdr_.device_bytes >> CBT_SECTOR_SHIFT, &len))
        throw std::runtime_error(path_ + ": batch " + std::to_string(b.hdr.batch_id) + ": " +
                                 cbt_fmt_err_str(err));
    return true;
}

void apply_record(int fd, const cbt_record &r, const uint8_t *data)
{
    uint64_t off = r.sector << CBT_SECTOR_SHIFT;
    uint64_t len = static_cast<uint64_t>(r.nr_sectors) << CBT_SECTOR_SHIFT;
    switch (r.type) {
    case CBT_REC_WRITE:
        if (!(r.flags & CBT_RF_HAS_DATA))
            throw std::runtime_error("META-mode WRITE record: no data to apply");
        if (pwrite(fd, data, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
            throw std::runtime_error("writing image");
        break;
    case CBT_REC_DISCARD:
    case CBT_REC_SECURE_ERASE:
    case CBT_REC_WRITE_ZEROES:
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                      static_cast<off_t>(len)) != 0)
            throw std::runtime_error("punching image");
        break;
    default:
        break;
    }
}

} // namespace cbtrep::testtools
