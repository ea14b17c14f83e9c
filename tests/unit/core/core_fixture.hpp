// Helpers for the core's unit tests: a tracker with a fake block device and a drain loop.
#pragma once

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

extern "C" {
#include "cbt_tracker.h"
#include "test_os.h"
}

struct Rec {
    cbt_record hdr;
    std::vector<uint8_t> data;
};

struct Batch {
    cbt_batch hdr{};
    std::vector<uint8_t> buf;
    std::vector<Rec> recs;
    uint64_t bytes_needed = 0;
};

// A destination that grows on demand up to a limit (the "user buffer" size).
struct Sink {
    std::vector<uint8_t> *v;
    uint64_t limit;
};

inline int emit_sink(void *ctx, uint64_t off, const void *src, uint64_t len)
{
    auto *s = static_cast<Sink *>(ctx);
    if (off + len > s->limit)
        return CBT_EFAULT;
    if (s->v->size() < off + len)
        s->v->resize(off + len);
    std::memcpy(s->v->data() + off, src, len);
    return 0;
}

inline int emit_vec(void *ctx, uint64_t off, const void *src, uint64_t len)
{
    auto *v = static_cast<std::vector<uint8_t> *>(ctx);
    if (off + len > v->size())
        return CBT_EFAULT;
    std::memcpy(v->data() + off, src, len);
    return 0;
}

struct Tracker {
    cbt_tracker *t = nullptr;
    std::vector<uint8_t> dev; // the fake device's content

    explicit Tracker(uint64_t bytes = 16ull << 20, uint64_t cap = 0, uint32_t gran = 4096,
                     uint32_t flags = 0, const char *name = "disk0", uint64_t seq_reserve = 0)
        : dev(bytes)
    {
        cbt_tracker_params p{};
        p.seq_reserve = seq_reserve;
        p.name = name;
        p.device_bytes = bytes;
        p.granularity = gran;
        p.mem_cap = cap;
        p.flags = flags;
        REQUIRE(cbt_tracker_create(&p, &t) == 0);
    }
    ~Tracker() { cbt_tracker_destroy(t); }
    Tracker(const Tracker &) = delete;
    Tracker &operator=(const Tracker &) = delete;

    uint64_t sectors() const { return dev.size() / 512; }

    // Submits a write whose data is `fill` (or a pattern from the seed); returns the io.
    cbt_io *begin(uint64_t sector, uint64_t nr, uint32_t type = CBT_REC_WRITE,
                  const uint8_t *data = nullptr, uint32_t rflags = 0)
    {
        cbt_io *io = nullptr;
        cbt_io_begin(t, type, rflags, sector, nr, &io);
        if (io && cbt_io_wants_data(io)) {
            // Copy in two uneven pieces, as a bio's segments would arrive.
            uint64_t len = nr * 512, half = len / 3;
            cbt_io_copy(io, 0, data, half);
            cbt_io_copy(io, half, data + half, len - half);
        }
        return io;
    }
    // Completes a write: on success the fake device takes the data.
    void end(cbt_io *io, uint64_t sector, uint64_t nr, const uint8_t *data, int err = 0,
             uint32_t type = CBT_REC_WRITE)
    {
        if (!err) {
            if (type == CBT_REC_WRITE)
                std::memcpy(dev.data() + sector * 512, data, nr * 512);
            else
                std::memset(dev.data() + sector * 512, 0, nr * 512);
        }
        cbt_io_end(t, io, err);
    }
    void write(uint64_t sector, uint64_t nr, uint8_t fill, int err = 0)
    {
        std::vector<uint8_t> d(nr * 512, fill);
        cbt_io *io = begin(sector, nr, CBT_REC_WRITE, d.data());
        end(io, sector, nr, d.data(), err);
    }

    int get(Batch &b, uint32_t max_records = 0, uint64_t buf_len = 4ull << 20)
    {
        b.buf.clear();
        b.recs.clear();
        Sink sink{&b.buf, buf_len};
        int err =
            cbt_tracker_get(t, max_records, buf_len, emit_sink, &sink, &b.hdr, &b.bytes_needed);
        if (err)
            return err;
        uint64_t len = 0;
        int fe = cbt_batch_check(b.buf.data(), b.buf.size(), sectors(), &len);
        INFO("batch check: " << cbt_fmt_err_str(fe));
        REQUIRE(fe == CBT_FMT_OK);
        REQUIRE(len == b.bytes_needed);
        uint64_t off = sizeof(cbt_batch);
        for (uint32_t i = 0; i < b.hdr.nr_records; i++) {
            Rec r;
            const uint8_t *data = nullptr;
            REQUIRE(cbt_rec_decode(b.buf.data() + off, len - off, sectors(), &r.hdr, &data) ==
                    CBT_FMT_OK);
            r.data.assign(data, data + r.hdr.data_len);
            off += sizeof(cbt_record) + r.hdr.data_len;
            b.recs.push_back(std::move(r));
        }
        return 0;
    }
    cbt_ioc_status status()
    {
        cbt_ioc_status st{};
        cbt_tracker_status(t, &st);
        return st;
    }
    // Drains everything (GET + COMMIT until EAGAIN) and returns the records.
    std::vector<Rec> drain()
    {
        std::vector<Rec> all;
        Batch b;
        while (get(b) == 0) {
            for (auto &r : b.recs)
                all.push_back(r);
            REQUIRE(cbt_tracker_commit(t, b.hdr.batch_id) == 0);
        }
        return all;
    }
};
