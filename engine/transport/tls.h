// OpenSSL 3 behind RAII: every object has one owner, and every failure drains the OpenSSL
// error queue into one cbtrep::Error that also says what we were doing. Only TLS 1.3 is
// enabled, in both directions, and both peers must present a certificate chaining to the
// configured CA.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "transport/tls_config.h"

namespace cbtrep::tls
{

template <auto Fn> struct FnDeleter {
    template <typename T> void operator()(T *p) const noexcept { Fn(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, FnDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, FnDeleter<SSL_free>>;
using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, FnDeleter<X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, FnDeleter<EVP_PKEY_free>>;

// Empties the OpenSSL error queue of this thread into "reason; reason; ..." ("" if empty).
std::string drain_errors();

// Throws Error("<context>: <queued OpenSSL errors>"). Fatal when recoverable is false.
[[noreturn]] void throw_ssl(const std::string &context, bool recoverable = true);

// True when the queued error (peeked, not drained) is a certificate or authentication
// failure: retrying with the same certificates cannot succeed.
bool queued_error_is_auth();

SslCtxPtr make_client_ctx(const transport::TlsConfig &cfg);
SslCtxPtr make_server_ctx(const transport::TlsConfig &cfg);

// Names of the peer certificate: the subject CN first, then SAN DNS names and IP addresses.
std::vector<std::string> peer_identities(SSL *ssl);

} // namespace cbtrep::tls
