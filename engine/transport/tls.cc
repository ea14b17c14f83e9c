#include "tls.h"

#include <algorithm>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace cbtrep::tls
{

std::string drain_errors()
{
    std::string out;
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        const char *reason = ERR_reason_error_string(e);
        if (!out.empty())
            out += "; ";
        out += reason ? reason : buf;
    }
    return out;
}

void throw_ssl(const std::string &context, bool recoverable)
{
    std::string errs = drain_errors();
    throw Error(errs.empty() ? context : context + ": " + errs, recoverable);
}

bool queued_error_is_auth()
{
    unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return false;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return true;
    default:
        return false;
    }
}

namespace
{

SslCtxPtr make_common(const transport::TlsConfig &cfg, const SSL_METHOD *method, const char *role)
{
    SslCtxPtr ctx(SSL_CTX_new(method));
    if (!ctx)
        throw_ssl(cat("TLS ", role, ": creating context"));
    // TLS 1.3 only: no downgrade, no renegotiation, forward secrecy always.
    if (!SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION))
        throw_ssl(cat("TLS ", role, ": restricting to TLS 1.3"));
    // No session tickets: every connection authenticates both certificates in full.
    SSL_CTX_set_num_tickets(ctx.get(), 0);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_AUTO_RETRY);

    if (cfg.ca_file.empty() || cfg.cert_file.empty() || cfg.key_file.empty())
        throw Error(cat("TLS ", role, ": ca, cert and key files are all required"), false);
    if (SSL_CTX_load_verify_locations(ctx.get(), cfg.ca_file.c_str(), nullptr) != 1)
        throw_ssl(cat("TLS ", role, ": loading CA file ", cfg.ca_file), false);
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cfg.cert_file.c_str()) != 1)
        throw_ssl(cat("TLS ", role, ": loading certificate ", cfg.cert_file), false);
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw_ssl(cat("TLS ", role, ": loading private key ", cfg.key_file), false);
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
        throw_ssl(cat("TLS ", role, ": key ", cfg.key_file, " does not match ", cfg.cert_file),
                  false);
    return ctx;
}

} // namespace

SslCtxPtr make_client_ctx(const transport::TlsConfig &cfg)
{
    SslCtxPtr ctx = make_common(cfg, TLS_client_method(), "client");
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

SslCtxPtr make_server_ctx(const transport::TlsConfig &cfg)
{
    SslCtxPtr ctx = make_common(cfg, TLS_server_method(), "server");
    // A client without a certificate chaining to our CA never gets past the handshake.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg.ca_file.c_str());
    if (!names)
        throw_ssl(cat("TLS server: reading CA names from ", cfg.ca_file), false);
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    return ctx;
}

std::vector<std::string> peer_identities(SSL *ssl)
{
    std::vector<std::string> ids;
    X509Ptr cert(SSL_get1_peer_certificate(ssl));
    if (!cert)
        return ids;
    X509_NAME *subject = X509_get_subject_name(cert.get());
    int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (idx >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        unsigned char *utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, s);
        if (n > 0)
            ids.emplace_back(reinterpret_cast<char *>(utf8), static_cast<size_t>(n));
        OPENSSL_free(utf8);
    }
    auto *sans = static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type == GEN_DNS) {
                const ASN1_IA5STRING *s = gn->d.dNSName;
                ids.emplace_back(reinterpret_cast<const char *>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)));
            } else if (gn->type == GEN_IPADD) {
                const ASN1_OCTET_STRING *s = gn->d.iPAddress;
                char buf[INET6_ADDRSTRLEN];
                int len = ASN1_STRING_length(s);
                int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
                if (af && inet_ntop(af, ASN1_STRING_get0_data(s), buf, sizeof(buf)))
                    ids.emplace_back(buf);
            }
        }
        GENERAL_NAMES_free(sans);
    }
    ERR_clear_error();
    // The CN usually repeats as a SAN: list each name once, CN first.
    std::vector<std::string> unique;
    for (auto &id : ids)
        if (std::find(unique.begin(), unique.end(), id) == unique.end())
            unique.push_back(std::move(id));
    return unique;
}

} // namespace cbtrep::tls
