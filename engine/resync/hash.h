// The block hashes of resync: XXH3-128 by default (fast enough that the disks, not the CPU,
// set the pace), SHA-256 with --strong for operators who want a cryptographic guarantee.
// Never anything narrower than 128 bits: a 32-bit hash over a 4 TiB disk of 4 KiB leaves
// would collide for certain, and a collision here means silently wrong data on the replica.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace cbtrep::resync
{

enum class HashKind : uint8_t {
    xxh3_128 = 1, // libxxhash XXH3_128bits, stored low64 then high64, little-endian
    sha256 = 2,   // OpenSSL EVP SHA-256
};

const char *hash_kind_name(HashKind k);
// "xxh3-128" or "sha256"; throws std::invalid_argument naming the accepted values.
HashKind parse_hash_kind(const std::string &name);
// Bytes of one hash of that kind: 16 or 32.
size_t hash_len(HashKind k);

// One hash; bytes past hash_len(kind) are zero so == compares correctly for either kind.
struct Hash {
    std::array<uint8_t, 32> bytes{};
    bool operator==(const Hash &) const = default;
};

// Hashes buffers of one kind. Keeps its OpenSSL context between calls (creating one per
// 4 KiB leaf would cost more than hashing the leaf). One per thread.
class Hasher
{
  public:
    explicit Hasher(HashKind kind);
    ~Hasher();
    Hasher(const Hasher &) = delete;
    Hasher &operator=(const Hasher &) = delete;

    HashKind kind() const noexcept { return kind_; }
    size_t len() const noexcept { return hash_len(kind_); }
    Hash operator()(std::span<const uint8_t> bytes);
    // The hash of a list of hashes (each len() bytes, concatenated): how a block's hash is
    // made from its leaves' and a region's from its blocks'.
    Hash of_hashes(std::span<const Hash> hashes);

  private:
    struct Ctx;
    HashKind kind_;
    std::unique_ptr<Ctx> ctx_;
};

} // namespace cbtrep::resync
