// Chunk codec of the engine: zero detection, lz4 per chunk, XXH3-128 digest.
//
// Data leaves the engine as chunks of at most chunk_bytes (>= 64 KiB so lz4 has enough
// context to be worth it; a shorter record is one shorter chunk). A chunk that is all
// zero becomes a ZERO extent and carries no bytes; otherwise it is lz4-compressed and sent
// raw when compression does not shrink it. The digest always covers the decoded bytes, so
// the target checks what it is about to write, whatever the encoding was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/digest.h"

namespace cbtrep::codec
{

enum class Encoding : uint8_t {
    raw = 0,  // payload is the bytes
    lz4 = 1,  // payload is one LZ4 block decoding to length bytes
    zero = 2, // no payload: length bytes of zeroes
};

const char *encoding_name(Encoding e);

// The wire digest (XXH3-128, engine/common/digest.h).
using Digest128 = cbtrep::Digest;
inline Digest128 digest(std::span<const uint8_t> bytes)
{
    return cbtrep::xxh3_128(bytes);
}

// True when every byte is zero (word-at-a-time; the common case of non-zero data exits early).
bool is_zero(std::span<const uint8_t> bytes);

struct Chunk {
    uint64_t offset = 0; // byte offset on the device
    uint32_t length = 0; // decoded length
    Encoding encoding = Encoding::raw;
    Digest128 digest{}; // of the decoded bytes; zero for a ZERO chunk
    std::vector<uint8_t> payload;
};

struct Options {
    uint32_t chunk_bytes = 256 * 1024; // split size; at least min_chunk_bytes
    int acceleration = 1;              // LZ4_compress_fast acceleration (1 = default)
    bool compress = true;              // false: always raw (benchmarks, incompressible data)
    bool detect_zero = true;
};

constexpr uint32_t min_chunk_bytes = 64 * 1024;
constexpr uint32_t max_chunk_bytes = 16u << 20;

// Per-thread encoder (keeps no state between calls other than its options).
class Encoder
{
  public:
    explicit Encoder(Options opts = {});

    // Splits [offset, offset + data.size()) into chunks and appends one Chunk per piece.
    void encode(uint64_t offset, std::span<const uint8_t> data, std::vector<Chunk> &out) const;

    // Encodes one piece of at most chunk_bytes as a single chunk.
    Chunk encode_one(uint64_t offset, std::span<const uint8_t> data) const;

    const Options &options() const { return opts_; }

  private:
    Options opts_;
};

// Decodes a chunk payload into out (length bytes) and checks its digest; throws
// std::runtime_error naming the offset on a corrupt block or digest mismatch.
void decode(Encoding enc, uint64_t offset, uint32_t length, std::span<const uint8_t> payload,
            const Digest128 &expect, std::span<uint8_t> out);

} // namespace cbtrep::codec
