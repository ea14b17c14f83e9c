// Benchmark data for bench/resync/run.sh (compiled by it; not part of the build).
//   gen_image create PATH MIB SEED        text-like data; lz4 shrinks a 4 KiB block to ~0.6
//   gen_image mutate PATH PERCENT SEED    rewrites PERCENT % of the 4 KiB blocks, chosen at
//                                         random, with fresh data; prints one JSON line with
//                                         the count and the "ideal" wire size: the sum of the
//                                         lz4-compressed sizes of the changed blocks.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <lz4.h>
#include <unistd.h>

namespace
{

constexpr size_t block = 4096;

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

// A vocabulary of random words; blocks are words picked at random (skewed towards the first
// ones, like text), so a 4 KiB block repeats itself enough for lz4 but never another block.
struct Words {
    std::vector<std::string> w;
    explicit Words(uint64_t seed)
    {
        Rng r{seed * 7 + 1};
        for (int i = 0; i < 256; ++i) {
            std::string s;
            size_t n = 3 + r.next() % 9;
            for (size_t k = 0; k < n; ++k)
                s += char('a' + r.next() % 26);
            s += ' ';
            w.push_back(s);
        }
    }
    void fill(uint8_t *p, size_t n, Rng &r) const
    {
        size_t pos = 0;
        while (pos < n) {
            uint64_t x = r.next();
            // two draws folded: squared index skews towards the start of the vocabulary
            size_t i = size_t(((x & 0xffff) * ((x >> 16) & 0xffff)) >> 21) % w.size();
            const std::string &s = w[i];
            size_t k = std::min(s.size(), n - pos);
            std::memcpy(p + pos, s.data(), k);
            pos += k;
            if ((x >> 40) % 97 == 0 && pos + 8 <= n) { // a few digits, like numbers in logs
                for (int d = 0; d < 8; ++d)
                    p[pos++] = uint8_t('0' + (x >> (d * 4)) % 10);
            }
        }
    }
};

void die(const char *what)
{
    std::perror(what);
    std::exit(1);
}

int create(const char *path, uint64_t mib, uint64_t seed)
{
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die(path);
    Words words(seed);
    Rng r{seed};
    std::vector<uint8_t> buf(1u << 20);
    for (uint64_t i = 0; i < mib; ++i) {
        words.fill(buf.data(), buf.size(), r);
        if (::write(fd, buf.data(), buf.size()) != ssize_t(buf.size()))
            die("write");
    }
    ::close(fd);
    return 0;
}

int mutate(const char *path, double percent, uint64_t seed)
{
    int fd = ::open(path, O_RDWR);
    if (fd < 0)
        die(path);
    off_t size = ::lseek(fd, 0, SEEK_END);
    uint64_t nblocks = uint64_t(size) / block;
    uint64_t want = uint64_t(double(nblocks) * percent / 100.0 + 0.5);
    std::vector<bool> picked(nblocks);
    Words words(seed + 1000);
    Rng r{seed ^ 0x5555};
    std::vector<uint8_t> buf(block);
    std::vector<char> out(static_cast<size_t>(LZ4_compressBound(int(block))));
    uint64_t changed = 0, ideal = 0;
    while (changed < want) {
        uint64_t b = r.next() % nblocks;
        if (picked[b])
            continue;
        picked[b] = true;
        words.fill(buf.data(), block, r);
        if (::pwrite(fd, buf.data(), block, off_t(b * block)) != ssize_t(block))
            die("pwrite");
        int n = LZ4_compress_default(reinterpret_cast<const char *>(buf.data()), out.data(),
                                     int(block), int(out.size()));
        ideal += n > 0 && size_t(n) < block ? size_t(n) : block;
        ++changed;
    }
    ::fsync(fd);
    ::close(fd);
    std::printf("{\"blocks\":%llu,\"changed_blocks\":%llu,\"changed_bytes\":%llu,"
                "\"ideal_bytes\":%llu}\n",
                (unsigned long long)nblocks, (unsigned long long)changed,
                (unsigned long long)(changed * block), (unsigned long long)ideal);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 5 && !std::strcmp(argv[1], "create"))
        return create(argv[2], std::strtoull(argv[3], nullptr, 10),
                      std::strtoull(argv[4], nullptr, 10));
    if (argc == 5 && !std::strcmp(argv[1], "mutate"))
        return mutate(argv[2], std::strtod(argv[3], nullptr), std::strtoull(argv[4], nullptr, 10));
    std::fprintf(stderr, "usage: gen_image create PATH MIB SEED | mutate PATH PERCENT SEED\n");
    return 2;
}
