#include "codec.h"

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include <lz4.h>

namespace cbtrep::codec
{

const char *encoding_name(Encoding e)
{
    switch (e) {
    case Encoding::raw:
        return "raw";
    case Encoding::lz4:
        return "lz4";
    case Encoding::zero:
        return "zero";
    }
    return "unknown";
}

bool is_zero(std::span<const uint8_t> bytes)
{
    const uint8_t *p = bytes.data();
    size_t n = bytes.size();
    // Bytes up to 8-byte alignment, then 64 bytes per step OR-ed together so the
    // compiler vectorises it; the first non-zero block ends the scan.
    while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
        if (*p)
            return false;
        ++p;
        --n;
    }
    while (n >= 64) {
        uint64_t w[8];
        std::memcpy(w, p, 64);
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
            return false;
        p += 64;
        n -= 64;
    }
    while (n) {
        if (*p)
            return false;
        ++p;
        --n;
    }
    return true;
}

Encoder::Encoder(Options opts) : opts_(opts)
{
    if (opts_.chunk_bytes < min_chunk_bytes || opts_.chunk_bytes > max_chunk_bytes)
        throw std::invalid_argument("codec: chunk_bytes must be between 64 KiB and 16 MiB, got " +
                                    std::to_string(opts_.chunk_bytes));
    if (opts_.acceleration < 1)
        opts_.acceleration = 1;
}

Chunk Encoder::encode_one(uint64_t offset, std::span<const uint8_t> data) const
{
    Chunk c;
    c.offset = offset;
    c.length = static_cast<uint32_t>(data.size());
    if (opts_.detect_zero && is_zero(data)) {
        c.encoding = Encoding::zero;
        return c;
    }
    c.digest = digest(data);
    if (opts_.compress && data.size() > 1) {
        // Only an output smaller than the input is worth keeping, so lz4 gets exactly that
        // much room and gives up (returns 0) as soon as the data proves incompressible. The
        // scratch buffer is per thread and never zero-filled; the payload gets only n bytes.
        // The scratch is uint8_t like the payload: assign() from another element type (char)
        // copies byte by byte instead of memmove, which cost ~9 % of the engine's CPU.
        thread_local std::unique_ptr<uint8_t[]> scratch;
        thread_local size_t scratch_size = 0;
        if (scratch_size < data.size()) {
            scratch.reset(new uint8_t[data.size()]);
            scratch_size = data.size();
        }
        int n = LZ4_compress_fast(
            reinterpret_cast<const char *>(data.data()), reinterpret_cast<char *>(scratch.get()),
            static_cast<int>(data.size()), static_cast<int>(data.size() - 1), opts_.acceleration);
        if (n > 0) {
            c.payload.assign(scratch.get(), scratch.get() + n);
            c.encoding = Encoding::lz4;
            return c;
        }
    }
    c.encoding = Encoding::raw;
    c.payload.assign(data.begin(), data.end());
    return c;
}

void Encoder::encode(uint64_t offset, std::span<const uint8_t> data, std::vector<Chunk> &out) const
{
    size_t pos = 0;
    while (pos < data.size()) {
        size_t n = std::min<size_t>(opts_.chunk_bytes, data.size() - pos);
        out.push_back(encode_one(offset + pos, data.subspan(pos, n)));
        pos += n;
    }
}

void decode(Encoding enc, uint64_t offset, uint32_t length, std::span<const uint8_t> payload,
            const Digest128 &expect, std::span<uint8_t> out)
{
    auto fail = [&](const std::string &what) {
        throw std::runtime_error("codec: chunk at offset " + std::to_string(offset) + " (" +
                                 std::to_string(length) + " bytes, " + encoding_name(enc) +
                                 "): " + what);
    };
    if (out.size() != length)
        fail("output buffer has " + std::to_string(out.size()) + " bytes");
    switch (enc) {
    case Encoding::zero:
        if (!payload.empty())
            fail("zero chunk carries a payload");
        std::memset(out.data(), 0, length);
        return;
    case Encoding::raw:
        if (payload.size() != length)
            fail("raw payload has " + std::to_string(payload.size()) + " bytes");
        std::memcpy(out.data(), payload.data(), length);
        break;
    case Encoding::lz4: {
        int n = LZ4_decompress_safe(reinterpret_cast<const char *>(payload.data()),
                                    reinterpret_cast<char *>(out.data()),
                                    static_cast<int>(payload.size()), static_cast<int>(length));
        if (n < 0 || static_cast<uint32_t>(n) != length)
            fail("corrupt lz4 block");
        break;
    }
    default:
        fail("unknown encoding");
    }
    if (digest(out) != expect)
        fail("digest mismatch after decoding");
}

} // namespace cbtrep::codec
