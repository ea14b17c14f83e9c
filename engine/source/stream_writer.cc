#include "stream_writer.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace cbtrep::source
{

StreamWriter::StreamWriter(const std::string &path, Options opts)
    : opts_(std::move(opts)), path_(path), seq_(opts_.first_seq), batch_id_(opts_.first_batch_id),
      now_ns_(opts_.start_ns)
{
    if (!opts_.granularity)
        opts_.granularity = cbt_granularity_for_size(opts_.device_bytes);
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
        throw std::system_error(errno, std::generic_category(), "stream writer: open " + path);
    cbt_stream_hdr h;
    cbt_stream_hdr_init(&h, opts_.name.c_str(), opts_.device_bytes, opts_.granularity, now_ns_);
    std::memcpy(h.device_id, opts_.device_id.data(), sizeof(h.device_id));
    h.hdr_crc = cbt_hdr_crc(&h, sizeof(h));
    put(&h, sizeof(h));
}

StreamWriter::~StreamWriter()
{
    if (fd_ >= 0) {
        try {
            end_batch();
        } catch (...) {
        }
        ::close(fd_);
    }
}

void StreamWriter::put(const void *p, size_t n)
{
    const auto *b = static_cast<const uint8_t *>(p);
    while (n) {
        ssize_t w = ::write(fd_, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            throw std::system_error(errno, std::generic_category(),
                                    "stream writer: write " + path_);
        }
        b += w;
        n -= size_t(w);
        file_bytes_ += uint64_t(w);
    }
}

void StreamWriter::add(cbt_record rec, std::span<const uint8_t> payload, bool has_data)
{
    // A batch is all data-carrying writes or none (what GET hands out); tags, gaps and
    // range records may join either kind.
    bool is_write = rec.type == CBT_REC_WRITE;
    if (is_write && kind_ >= 0 && kind_ != int(has_data))
        end_batch();
    if (nr_ == 0)
        first_seq_ = seq_;
    if (is_write)
        kind_ = int(has_data);
    rec.seq = seq_++;
    rec.timestamp_ns = now_ns_ += 1000;
    rec.data_len = uint32_t(payload.size());
    cbt_rec_seal(&rec, payload.data());
    const auto *h = reinterpret_cast<const uint8_t *>(&rec);
    payload_.insert(payload_.end(), h, h + sizeof(rec));
    payload_.insert(payload_.end(), payload.begin(), payload.end());
    if (rec.type == CBT_REC_TAG)
        flags_ |= CBT_BF_HAS_TAG;
    if (rec.type == CBT_REC_GAP)
        flags_ |= CBT_BF_HAS_GAP;
    ++nr_;
    if (payload_.size() >= opts_.max_batch_bytes || nr_ >= opts_.max_batch_records)
        end_batch();
}

void StreamWriter::end_batch()
{
    if (!nr_)
        return;
    cbt_batch b;
    std::memset(&b, 0, sizeof(b));
    b.magic = CBT_MAGIC_BATCH;
    b.version = CBT_BATCH_VERSION;
    b.mode = kind_ == 0 ? CBT_MODE_META : CBT_MODE_DATA;
    b.batch_id = batch_id_++;
    b.first_seq = first_seq_;
    b.last_seq = first_seq_ + nr_ - 1;
    b.nr_records = nr_;
    b.flags = flags_;
    b.payload_len = payload_.size();
    cbt_batch_seal(&b);
    put(&b, sizeof(b));
    put(payload_.data(), payload_.size());
    payload_.clear();
    nr_ = 0;
    flags_ = 0;
    kind_ = -1;
}

void StreamWriter::close()
{
    end_batch();
    if (fd_ >= 0) {
        if (::fsync(fd_) != 0)
            throw std::system_error(errno, std::generic_category(),
                                    "stream writer: fsync " + path_);
        ::close(fd_);
        fd_ = -1;
    }
}

void StreamWriter::write(uint64_t sector, std::span<const uint8_t> bytes, uint32_t flags)
{
    if (bytes.empty() || bytes.size() % CBT_SECTOR_SIZE || bytes.size() > CBT_REC_MAX_DATA)
        throw std::invalid_argument("stream writer: data write of " + std::to_string(bytes.size()) +
                                    " bytes");
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_WRITE, 0, sector, uint32_t(bytes.size() / CBT_SECTOR_SIZE),
                 flags | CBT_RF_HAS_DATA, 0);
    add(r, bytes, true);
}

void StreamWriter::write_meta(uint64_t sector, uint32_t nr_sectors)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_WRITE, 0, sector, nr_sectors, 0, 0);
    add(r, {}, false);
}

void StreamWriter::discard(uint64_t sector, uint32_t nr_sectors)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_DISCARD, 0, sector, nr_sectors, 0, 0);
    add(r, {}, false);
}

void StreamWriter::write_zeroes(uint64_t sector, uint32_t nr_sectors)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_WRITE_ZEROES, 0, sector, nr_sectors, 0, 0);
    add(r, {}, false);
}

void StreamWriter::dirty(uint64_t sector, uint32_t nr_sectors, uint32_t reason)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_DIRTY, 0, sector, nr_sectors, 0, 0);
    r.reason = reason;
    add(r, {}, false);
}

void StreamWriter::gap(uint64_t generation, uint32_t reason)
{
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_GAP, 0, 0, 0, 0, 0);
    r.aux = generation;
    r.reason = reason;
    add(r, {}, false);
}

uint64_t StreamWriter::tag(const std::string &name, bool app_consistent)
{
    cbt_tag t;
    std::memset(&t, 0, sizeof(t));
    t.tag_id = ++tag_id_;
    t.timestamp_ns = now_ns_;
    t.flags = app_consistent ? CBT_TAG_APP_CONSISTENT : 0;
    t.nr_devices = 1;
    std::strncpy(t.name, name.c_str(), sizeof(t.name) - 1);
    cbt_record r;
    cbt_rec_init(&r, CBT_REC_TAG, 0, 0, 0, app_consistent ? CBT_RF_APP_CONSISTENT : 0, 0);
    r.aux = t.tag_id;
    add(r, std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(&t), sizeof(t)), false);
    return t.tag_id;
}

} // namespace cbtrep::source
