// gen-history: generates a write history for the engine's integration tests and benchmark.
//
// Output directory:
//   journal.cbts        the history as a journal stream file (include/cbtrep/record.h)
//   journal.cbts.bitmaps/<gen>.cbtm   bitmap dumps named by GAP records (--gaps)
//   image.bin           the device at the end (= at the last tag; sparse where zero); the
//                       "device" cbtrepd reads META/GAP ranges from
//   expected.sha256     sha256 of image.bin
//   tags.txt            one line per tag: "<tag name> <seq> <sha256 of the device at it>"
//                       (per-tag digests only with --tag-digests; "-" otherwise)
//   summary.json        counts and sizes
//
// The history: random writes (4 KiB .. 1 MiB, overlapping), a share of them all-zero,
// compressible or random, discards and write-zeroes, META-mode writes (ranges only:
// cbtrepd reads them from image.bin), optional GAPs (writes applied with no record, a
// bitmap dump and a GAP record), and tags; it always ends with a tag, so the expected image
// at the last tag is the final image.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cbtrep/bitmap.h>

#include "source/stream_writer.h"

namespace fs = std::filesystem;
using cbtrep::source::StreamWriter;

namespace
{

struct Args {
    std::string out;
    uint64_t device_mib = 64;
    uint64_t total_mib = 32; // bytes written (data + meta), not counting discards/zeroes
    uint64_t seed = 1;
    uint32_t max_write_kib = 1024;
    double zero_share = 0.1;
    double random_share = 0.3; // rest is compressible
    double meta_share = 0.0;
    double discard_share = 0.05;
    unsigned tags = 8;
    unsigned gaps = 0;
    uint64_t batch_mib = 4;
    bool tag_digests = false;
    std::string name = "disk0";
    std::string device_id; // 32 hex digits, "" = unknown (zero)
};

[[noreturn]] void usage(int code)
{
    std::cerr
        << "usage: gen-history --out DIR [--device-mib N] [--total-mib N] [--seed N]\n"
           "       [--max-write-kib N] [--zero-share F] [--random-share F] [--meta-share F]\n"
           "       [--discard-share F] [--tags N] [--gaps N] [--batch-mib N] [--tag-digests]\n"
           "       [--name NAME] [--device-id HEX32]\n";
    std::exit(code);
}

Args parse(int argc, char **argv)
{
    Args a;
    for (int i = 1; i < argc; i++) {
        std::string k = argv[i];
        auto v = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(2);
            return argv[++i];
        };
        if (k == "--out")
            a.out = v();
        else if (k == "--device-mib")
            a.device_mib = std::stoull(v());
        else if (k == "--total-mib")
            a.total_mib = std::stoull(v());
        else if (k == "--seed")
            a.seed = std::stoull(v());
        else if (k == "--max-write-kib")
            a.max_write_kib = uint32_t(std::stoul(v()));
        else if (k == "--zero-share")
            a.zero_share = std::stod(v());
        else if (k == "--random-share")
            a.random_share = std::stod(v());
        else if (k == "--meta-share")
            a.meta_share = std::stod(v());
        else if (k == "--discard-share")
            a.discard_share = std::stod(v());
        else if (k == "--tags")
            a.tags = unsigned(std::stoul(v()));
        else if (k == "--gaps")
            a.gaps = unsigned(std::stoul(v()));
        else if (k == "--batch-mib")
            a.batch_mib = std::stoull(v());
        else if (k == "--tag-digests")
            a.tag_digests = true;
        else if (k == "--name")
            a.name = v();
        else if (k == "--device-id")
            a.device_id = v();
        else if (k == "--help" || k == "-h")
            usage(0);
        else {
            std::cerr << "gen-history: unknown argument " << k << "\n";
            usage(2);
        }
    }
    if (a.out.empty() || !a.device_mib || a.max_write_kib < 4 || a.max_write_kib > 32 * 1024)
        usage(2);
    return a;
}

std::string sha256_hex(const uint8_t *p, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), nullptr);
    static const char *hex = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; i++) {
        s += hex[md[i] >> 4];
        s += hex[md[i] & 15];
    }
    return s;
}

// Fast deterministic content: random words, or text-like data lz4 compresses ~3-4x.
class Content
{
  public:
    explicit Content(uint64_t seed) : rng_(seed)
    {
        static const char *words[] = {"block ", "device ", "journal ", "replica ", "sector ",
                                      "write ", "tag ",    "batch ",   "extent ",  "commit ",
                                      "the ",   "of ",     "and ",     "data ",    "\n"};
        std::mt19937_64 r(seed ^ 0x9e3779b97f4a7c15ull);
        while (text_.size() < (1u << 20)) {
            const char *w = words[r() % 15];
            text_.insert(text_.end(), w, w + std::strlen(w));
            if (r() % 7 == 0) {
                std::string n = std::to_string(r() % 100000) + " ";
                text_.insert(text_.end(), n.begin(), n.end());
            }
        }
    }
    void random(uint8_t *p, size_t n)
    {
        uint64_t x = rng_();
        for (size_t i = 0; i + 8 <= n; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            std::memcpy(p + i, &x, 8);
        }
    }
    void text(uint8_t *p, size_t n)
    {
        size_t pos = rng_() % (text_.size() - n % text_.size() + 1);
        for (size_t i = 0; i < n;) {
            size_t k = std::min(n - i, text_.size() - pos);
            std::memcpy(p + i, text_.data() + pos, k);
            i += k;
            pos = 0;
        }
        // A unique stamp per 4 KiB so no two writes are byte-identical.
        uint64_t stamp = rng_();
        for (size_t i = 0; i + 8 <= n; i += 4096)
            std::memcpy(p + i, &stamp, 8);
    }
    std::mt19937_64 &rng() { return rng_; }

  private:
    std::mt19937_64 rng_;
    std::vector<uint8_t> text_;
};

void write_bitmap(const std::string &path, uint64_t gen, uint64_t device_bytes, uint32_t gran,
                  const std::vector<uint8_t> &bits)
{
    cbt_bitmap_hdr h;
    cbt_bitmap_hdr_init(&h, gen, device_bytes, gran);
    std::vector<uint8_t> b(bits);
    b.resize(h.bits_len, 0);
    cbt_bitmap_hdr_seal(&h, b.data());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char *>(&h), sizeof(h));
    f.write(reinterpret_cast<const char *>(b.data()), long(b.size()));
    if (!f)
        throw std::runtime_error("cannot write " + path);
}

void write_image(const std::string &path, const std::vector<uint8_t> &img)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::ftruncate(fd, off_t(img.size())) != 0)
        throw std::runtime_error("cannot create " + path);
    const size_t blk = 64 * 1024;
    for (size_t off = 0; off < img.size(); off += blk) {
        size_t n = std::min(blk, img.size() - off);
        bool zero = true;
        for (size_t i = 0; i < n && zero; i += 8) {
            uint64_t w;
            std::memcpy(&w, img.data() + off + i, 8);
            zero = w == 0;
        }
        if (zero)
            continue; // leave a hole
        if (::pwrite(fd, img.data() + off, n, off_t(off)) != ssize_t(n))
            throw std::runtime_error("cannot write " + path);
    }
    ::fsync(fd);
    ::close(fd);
}

} // namespace

int main(int argc, char **argv)
{
    Args a = parse(argc, argv);
    try {
        fs::create_directories(a.out);
        const uint64_t dev = a.device_mib << 20;
        const uint32_t gran = cbt_granularity_for_size(dev);
        std::vector<uint8_t> img(dev, 0);
        std::string journal = a.out + "/journal.cbts";
        fs::remove(journal + ".cursor");
        fs::remove_all(journal + ".bitmaps");
        StreamWriter::Options wo;
        wo.name = a.name;
        wo.device_bytes = dev;
        wo.granularity = gran;
        wo.max_batch_bytes = a.batch_mib << 20;
        wo.start_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
        if (!a.device_id.empty()) {
            if (a.device_id.size() != 32)
                throw std::runtime_error("--device-id needs 32 hex digits");
            for (size_t i = 0; i < 16; i++)
                wo.device_id[i] = uint8_t(std::stoul(a.device_id.substr(2 * i, 2), nullptr, 16));
        }
        StreamWriter w(journal, wo);
        Content content(a.seed);
        auto &rng = content.rng();
        std::uniform_real_distribution<double> u(0, 1);

        const uint64_t total = a.total_mib << 20;
        const unsigned nr_tags = std::max(1u, a.tags);
        uint64_t written = 0, records = 0, zero_writes = 0, meta_writes = 0, discards = 0;
        uint64_t next_tag = total / nr_tags, next_gap = a.gaps ? total / (a.gaps + 1) : ~0ull;
        unsigned tag_no = 0, gap_no = 0;
        std::ofstream tags(a.out + "/tags.txt", std::ios::trunc);
        std::vector<uint8_t> buf;
        auto emit_tag = [&](const std::string &name) {
            // A tag is a batch of its own. A META write in the tag's batch would make it no
            // consistency point (its data is read from the device, newer than the journal),
            // and tests waiting for a tag failed for ~1 seed in 10.
            w.end_batch();
            uint64_t seq = w.next_seq();
            w.tag(name);
            w.end_batch();
            tags << name << " " << seq << " "
                 << (a.tag_digests ? sha256_hex(img.data(), img.size()) : "-") << "\n";
        };

        while (written < total) {
            uint64_t max_len = std::min<uint64_t>(uint64_t(a.max_write_kib) << 10, dev);
            uint64_t len = (1 + rng() % (max_len / 4096)) * 4096;
            uint64_t off = (rng() % ((dev - len) / 4096 + 1)) * 4096;
            double r = u(rng);
            if (r < a.discard_share) {
                // Discards and write-zeroes: the replica zeroes the range either way.
                std::memset(img.data() + off, 0, len);
                if (rng() % 2)
                    w.discard(off / 512, uint32_t(len / 512));
                else
                    w.write_zeroes(off / 512, uint32_t(len / 512));
                ++discards;
                ++records;
                continue;
            }
            buf.resize(len);
            double kind = u(rng);
            if (kind < a.zero_share) {
                std::memset(buf.data(), 0, len);
                ++zero_writes;
            } else if (kind < a.zero_share + a.random_share) {
                content.random(buf.data(), len);
            } else {
                content.text(buf.data(), len);
            }
            std::memcpy(img.data() + off, buf.data(), len);
            if (u(rng) < a.meta_share) {
                w.write_meta(off / 512, uint32_t(len / 512));
                ++meta_writes;
            } else {
                w.write(off / 512, buf);
            }
            ++records;
            written += len;

            if (written >= next_gap && gap_no < a.gaps) {
                // Writes the tracker could not journal: only the bitmap knows them.
                ++gap_no;
                std::vector<uint8_t> bits(cbt_bitmap_bits_len(cbt_bitmap_bits(dev, gran)), 0);
                for (int k = 0; k < 16; k++) {
                    uint64_t glen = (1 + rng() % 64) * 4096;
                    uint64_t goff = (rng() % ((dev - glen) / 4096 + 1)) * 4096;
                    content.random(img.data() + goff, glen);
                    for (uint64_t b = goff / gran; b <= (goff + glen - 1) / gran; b++)
                        cbt_bitmap_set(bits.data(), b);
                }
                fs::create_directories(journal + ".bitmaps");
                write_bitmap(journal + ".bitmaps/" + std::to_string(gap_no) + ".cbtm", gap_no, dev,
                             gran, bits);
                w.gap(gap_no, CBT_REASON_JOURNAL_RECORD_CAP);
                next_gap += total / (a.gaps + 1);
            }
            if (written >= next_tag && tag_no + 1 < nr_tags) {
                emit_tag("t" + std::to_string(++tag_no));
                next_tag += total / nr_tags;
            }
        }
        emit_tag("final");
        uint64_t last_seq = w.next_seq() - 1;
        uint64_t batches = w.batches();
        w.close();

        write_image(a.out + "/image.bin", img);
        std::string digest = sha256_hex(img.data(), img.size());
        std::ofstream(a.out + "/expected.sha256") << digest << "\n";
        std::ofstream(a.out + "/summary.json")
            << "{\"device_bytes\": " << dev << ", \"granularity\": " << gran
            << ", \"written_bytes\": " << written << ", \"records\": " << records
            << ", \"zero_writes\": " << zero_writes << ", \"meta_writes\": " << meta_writes
            << ", \"discards\": " << discards << ", \"gaps\": " << gap_no
            << ", \"tags\": " << tag_no + 1 << ", \"last_seq\": " << last_seq
            << ", \"batches\": " << batches << ", \"journal_bytes\": " << fs::file_size(journal)
            << ", \"sha256\": \"" << digest << "\"}\n";
        std::cout << "gen-history: " << records << " records, " << batches << " batches, "
                  << written / (1 << 20) << " MiB written over a " << a.device_mib
                  << " MiB device; sha256 " << digest << "\n";
    } catch (const std::exception &e) {
        std::cerr << "gen-history: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
