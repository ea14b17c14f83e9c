#include "hash.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include <openssl/evp.h>
#include <xxhash.h>

#include "common/error.h"

namespace cbtrep::resync
{

const char *hash_kind_name(HashKind k)
{
    switch (k) {
    case HashKind::xxh3_128:
        return "xxh3-128";
    case HashKind::sha256:
        return "sha256";
    }
    return "unknown";
}

HashKind parse_hash_kind(const std::string &name)
{
    if (name == "xxh3-128" || name == "xxh3")
        return HashKind::xxh3_128;
    if (name == "sha256" || name == "sha-256")
        return HashKind::sha256;
    throw std::invalid_argument("unknown hash \"" + name + "\" (expected xxh3-128 or sha256)");
}

size_t hash_len(HashKind k)
{
    return k == HashKind::sha256 ? 32 : 16;
}

struct Hasher::Ctx {
    EVP_MD_CTX *md = nullptr;
    std::vector<uint8_t> scratch; // concatenated child hashes for of_hashes()
    ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(HashKind kind) : kind_(kind), ctx_(std::make_unique<Ctx>())
{
    if (kind_ != HashKind::xxh3_128 && kind_ != HashKind::sha256)
        throw std::invalid_argument(cat("unknown hash kind ", int(kind_)));
    if (kind_ == HashKind::sha256) {
        ctx_->md = EVP_MD_CTX_new();
        if (!ctx_->md)
            throw Error("resync: EVP_MD_CTX_new failed", false);
    }
}

Hasher::~Hasher() = default;

Hash Hasher::operator()(std::span<const uint8_t> bytes)
{
    Hash h;
    if (kind_ == HashKind::xxh3_128) {
        XXH128_hash_t x = XXH3_128bits(bytes.data(), bytes.size());
        std::memcpy(h.bytes.data(), &x.low64, 8); // little-endian host (abi.h refuses others)
        std::memcpy(h.bytes.data() + 8, &x.high64, 8);
        return h;
    }
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(ctx_->md, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx_->md, bytes.data(), bytes.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_->md, h.bytes.data(), &n) != 1 || n != 32)
        throw Error("resync: SHA-256 failed (OpenSSL EVP)", false);
    return h;
}

Hash Hasher::of_hashes(std::span<const Hash> hashes)
{
    size_t n = len();
    ctx_->scratch.resize(hashes.size() * n);
    for (size_t i = 0; i < hashes.size(); ++i)
        std::memcpy(ctx_->scratch.data() + i * n, hashes[i].bytes.data(), n);
    return (*this)(ctx_->scratch);
}

} // namespace cbtrep::resync
