// cbtrep-stream-gen (test-only): writes a journal stream file (record.h) holding a random
// but reproducible write history — overlapping DATA-mode writes, write-zeroes, discards and
// tags — and the image a replica must equal after applying it.
//
//   cbtrep-stream-gen gen --out STREAM --expected IMAGE [--device-mib N] [--batches N]
//                     [--max-records N] [--max-write-kib N] [--seed N] [--tag-every N]
//                     [--first-seq N] [--compressible PCT]
//   cbtrep-stream-gen apply --stream STREAM --out IMAGE [--upto-seq N] [--onto 1]
//
// "apply" rebuilds the expected image from a stream, optionally only up to the batch that
// ends at seq N (what a replica holds when it says applied_seq == N); --onto applies it on
// top of an existing image instead of a new zero one.
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include "stream_io.h"

using namespace cbtrep::testtools;

namespace
{

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

std::map<std::string, std::string> parse(int argc, char **argv, int from)
{
    std::map<std::string, std::string> m;
    for (int i = from; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--", 0) != 0 || i + 1 >= argc)
            throw std::runtime_error("bad argument " + a);
        m[a.substr(2)] = argv[++i];
    }
    return m;
}

uint64_t num(const std::map<std::string, std::string> &m, const std::string &k, uint64_t def)
{
    auto it = m.find(k);
    return it == m.end() ? def : std::stoull(it->second);
}

int open_image(const std::string &path, uint64_t bytes)
{
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0)
        throw std::runtime_error("cannot create " + path);
    return fd;
}

int gen(const std::map<std::string, std::string> &a)
{
    uint64_t dev = num(a, "device-mib", 64) << 20;
    uint64_t batches = num(a, "batches", 200);
    uint64_t max_records = num(a, "max-records", 16);
    uint64_t max_write = num(a, "max-write-kib", 256) << 10;
    uint64_t tag_every = num(a, "tag-every", 25);
    uint64_t pct_comp = num(a, "compressible", 50);
    Rng rng{num(a, "seed", 1)};
    uint64_t seq = num(a, "first-seq", 1);
    uint64_t tag_id = 0;

    FILE *out = std::fopen(a.at("out").c_str(), "wb");
    if (!out)
        throw std::runtime_error("cannot create " + a.at("out"));
    int img = open_image(a.at("expected"), dev);
    cbt_stream_hdr sh;
    cbt_stream_hdr_init(&sh, "gen0", dev, 4096, 1);
    std::fwrite(&sh, 1, sizeof(sh), out);

    std::vector<uint8_t> payload, data;
    for (uint64_t b = 1; b <= batches; b++) {
        payload.clear();
        uint32_t nr = static_cast<uint32_t>(1 + rng.below(max_records));
        uint32_t flags = 0;
        uint64_t first = seq;
        for (uint32_t i = 0; i < nr; i++) {
            cbt_record r;
            uint64_t kind = rng.below(100);
            bool is_tag = tag_every && i == nr - 1 && b % tag_every == 0;
            data.clear();
            if (is_tag) {
                cbt_tag t{};
                t.tag_id = ++tag_id;
                t.timestamp_ns = 1000 + seq;
                t.flags = tag_id % 2 ? CBT_TAG_APP_CONSISTENT : 0;
                t.nr_devices = 1;
                std::snprintf(t.name, sizeof(t.name), "tag-%llu",
                              static_cast<unsigned long long>(tag_id));
                cbt_rec_init(&r, CBT_REC_TAG, seq, 0, 0, t.flags ? CBT_RF_APP_CONSISTENT : 0,
                             1000 + seq);
                r.aux = t.tag_id;
                r.data_len = sizeof(t);
                data.resize(sizeof(t));
                std::memcpy(data.data(), &t, sizeof(t));
                flags |= CBT_BF_HAS_TAG;
            } else {
                uint64_t len = (1 + rng.below(max_write >> 9)) << 9;
                // Overlaps are frequent: offsets cluster in a few hot regions.
                uint64_t hot = rng.below(4) * (dev / 4);
                uint64_t span = rng.below(2) ? dev / 16 : dev;
                uint64_t off = ((hot + rng.below(span)) % dev) & ~511ull;
                if (off + len > dev)
                    off = dev - len;
                uint32_t type = kind < 80   ? CBT_REC_WRITE
                                : kind < 90 ? CBT_REC_WRITE_ZEROES
                                            : CBT_REC_DISCARD;
                cbt_rec_init(&r, type, seq, off >> 9, static_cast<uint32_t>(len >> 9), 0,
                             1000 + seq);
                if (type == CBT_REC_WRITE) {
                    r.flags = CBT_RF_HAS_DATA;
                    r.data_len = static_cast<uint32_t>(len);
                    data.resize(len);
                    bool comp = rng.below(100) < pct_comp;
                    uint64_t pattern = rng.next();
                    for (uint64_t k = 0; k < len; k += 8) {
                        uint64_t w = comp ? pattern + (k / 4096) : rng.next();
                        std::memcpy(data.data() + k, &w, 8);
                    }
                }
            }
            cbt_rec_seal(&r, data.empty() ? nullptr : data.data());
            apply_record(img, r, data.data());
            size_t at = payload.size();
            payload.resize(at + sizeof(r) + data.size());
            std::memcpy(payload.data() + at, &r, sizeof(r));
            if (!data.empty())
                std::memcpy(payload.data() + at + sizeof(r), data.data(), data.size());
            seq++;
        }
        cbt_batch bh{};
        bh.magic = CBT_MAGIC_BATCH;
        bh.version = CBT_BATCH_VERSION;
        bh.mode = CBT_MODE_DATA;
        bh.batch_id = b;
        bh.first_seq = first;
        bh.last_seq = seq - 1;
        bh.nr_records = nr;
        bh.flags = flags;
        bh.payload_len = payload.size();
        cbt_batch_seal(&bh);
        std::fwrite(&bh, 1, sizeof(bh), out);
        std::fwrite(payload.data(), 1, payload.size(), out);
    }
    if (std::fclose(out) != 0 || fsync(img) != 0 || close(img) != 0)
        throw std::runtime_error("writing output");
    std::cout << "stream: " << batches << " batches, seq " << num(a, "first-seq", 1) << ".."
              << seq - 1 << ", " << tag_id << " tags, device " << dev << " bytes\n";
    return 0;
}

int apply(const std::map<std::string, std::string> &a)
{
    StreamReader rd(a.at("stream"));
    uint64_t upto = num(a, "upto-seq", UINT64_MAX);
    int img = a.count("onto") ? open(a.at("out").c_str(), O_RDWR)
                              : open_image(a.at("out"), rd.header().device_bytes);
    if (img < 0)
        throw std::runtime_error("cannot open " + a.at("out"));
    StreamBatch b;
    uint64_t last = 0;
    while (rd.next(b) && b.hdr.last_seq <= upto) {
        for_each_record(b, [&](const cbt_record &r, const uint8_t *d) { apply_record(img, r, d); });
        last = b.hdr.last_seq;
    }
    if (upto != UINT64_MAX && last != upto && upto != 0)
        throw std::runtime_error("no batch ends at seq " + std::to_string(upto));
    close(img);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    try {
        if (argc < 2)
            throw std::runtime_error("usage: cbtrep-stream-gen gen|apply --key value...");
        std::string cmd = argv[1];
        auto args = parse(argc, argv, 2);
        if (cmd == "gen")
            return gen(args);
        if (cmd == "apply")
            return apply(args);
        throw std::runtime_error("unknown command " + cmd);
    } catch (const std::exception &e) {
        std::cerr << "cbtrep-stream-gen: " << e.what() << "\n";
        return 1;
    }
}
