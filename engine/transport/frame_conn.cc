#include "frame_conn.h"

#include <arpa/inet.h>
#include <cerrno>
#include <openssl/err.h>
#include <sys/socket.h>

#include "transport/socket.h"

namespace cbtrep::transport
{
namespace
{

std::string verify_detail(SSL *ssl)
{
    long v = SSL_get_verify_result(ssl);
    if (v == X509_V_OK)
        return "";
    return cat(" (certificate: ", X509_verify_cert_error_string(v), ")");
}

// Reads and discards until EOF or the deadline.
void drain_briefly(int fd, std::chrono::milliseconds linger)
{
    auto deadline = std::chrono::steady_clock::now() + linger;
    char sink[16384];
    while (std::chrono::steady_clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (!wait_readable(fd, left))
            break;
        ssize_t n = ::recv(fd, sink, sizeof(sink), 0);
        if (n <= 0)
            break;
    }
}

} // namespace

FrameConn::FrameConn(UniqueFd fd, tls::SslPtr ssl, std::string peer)
    : fd_(std::move(fd)), ssl_(std::move(ssl)), peer_(std::move(peer))
{
}

FrameConn::~FrameConn()
{
    if (!closed_ && ssl_) {
        // Quiet close: a destructor never throws and never waits long.
        SSL_set_quiet_shutdown(ssl_.get(), 1);
        SSL_shutdown(ssl_.get());
    }
    ERR_clear_error();
}

namespace
{

// A signal, or io_uring's task work (TIF_NOTIFY_SIGNAL), interrupts a blocking socket read
// that has SO_RCVTIMEO with EINTR instead of restarting it. The socket BIO reports that as
// "retry" (WANT_READ / WANT_WRITE): it is not the I/O timeout, and the same call may simply
// be made again.
bool interrupted(int ssl_error, int sys_errno)
{
    if (sys_errno != EINTR || (ssl_error != SSL_ERROR_WANT_READ &&
                               ssl_error != SSL_ERROR_WANT_WRITE && ssl_error != SSL_ERROR_SYSCALL))
        return false;
    ERR_clear_error();
    return true;
}

// SSL_connect / SSL_accept, made again after an interruption; err gets the errno of the
// last attempt (later calls may change errno before the caller reports it).
int handshake(SSL *ssl, int (*step)(SSL *), int &err)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = step(ssl);
        err = errno;
        if (rc == 1 || !interrupted(SSL_get_error(ssl, rc), err))
            return rc;
    }
}

} // namespace

std::unique_ptr<FrameConn> FrameConn::client(UniqueFd fd, SSL_CTX *ctx,
                                             const std::string &server_name,
                                             std::chrono::milliseconds timeout)
{
    std::string peer = peer_name(fd.get());
    transport::set_io_timeout(fd.get(), timeout);
    tls::SslPtr ssl(SSL_new(ctx));
    if (!ssl)
        tls::throw_ssl("TLS client: SSL_new");
    // The server certificate must name the host we meant to reach (SAN DNS/IP or CN).
    unsigned char ipbuf[16];
    bool is_ip = inet_pton(AF_INET, server_name.c_str(), ipbuf) == 1 ||
                 inet_pton(AF_INET6, server_name.c_str(), ipbuf) == 1;
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), server_name.c_str()) != 1)
            tls::throw_ssl(cat("TLS client: expected server address ", server_name), false);
    } else {
        if (SSL_set1_host(ssl.get(), server_name.c_str()) != 1 ||
            SSL_set_tlsext_host_name(ssl.get(), server_name.c_str()) != 1)
            tls::throw_ssl(cat("TLS client: expected server name ", server_name), false);
    }
    if (SSL_set_fd(ssl.get(), fd.get()) != 1)
        tls::throw_ssl("TLS client: SSL_set_fd");
    int err = 0;
    if (handshake(ssl.get(), SSL_connect, err) != 1) {
        std::string detail = verify_detail(ssl.get());
        bool auth = !detail.empty() || tls::queued_error_is_auth();
        std::string errs = tls::drain_errors();
        if (errs.empty())
            errs = err ? std::strerror(err) : "connection closed by peer";
        throw Error(cat("TLS handshake with ", peer, " (", server_name, ") failed: ", errs, detail),
                    !auth);
    }
    return std::unique_ptr<FrameConn>(new FrameConn(std::move(fd), std::move(ssl), peer));
}

std::unique_ptr<FrameConn> FrameConn::server(UniqueFd fd, SSL_CTX *ctx, const std::string &peer,
                                             std::chrono::milliseconds timeout)
{
    transport::set_io_timeout(fd.get(), timeout);
    tls::SslPtr ssl(SSL_new(ctx));
    if (!ssl)
        tls::throw_ssl("TLS server: SSL_new");
    if (SSL_set_fd(ssl.get(), fd.get()) != 1)
        tls::throw_ssl("TLS server: SSL_set_fd");
    int err = 0;
    if (handshake(ssl.get(), SSL_accept, err) != 1) {
        std::string detail = verify_detail(ssl.get());
        bool auth = !detail.empty() || tls::queued_error_is_auth();
        std::string errs = tls::drain_errors();
        if (errs.empty())
            errs = err ? std::strerror(err) : "connection closed by peer";
        // In TLS 1.3 the client believes the handshake done and is already sending: read
        // what it sends for a moment so our alert reaches it instead of a TCP reset.
        ::shutdown(fd.get(), SHUT_WR);
        drain_briefly(fd.get(), std::chrono::milliseconds(1000));
        throw Error(cat("TLS handshake from ", peer, " failed: ", errs, detail), !auth);
    }
    return std::unique_ptr<FrameConn>(new FrameConn(std::move(fd), std::move(ssl), peer));
}

void FrameConn::set_io_timeout(std::chrono::milliseconds timeout)
{
    io_timeout_ = timeout;
    transport::set_io_timeout(fd_.get(), timeout);
}

bool FrameConn::read_exact(void *buf, size_t len, bool at_boundary, const char *what)
{
    auto *p = static_cast<uint8_t *>(buf);
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_read_ex(ssl_.get(), p + done, len - done, &n) == 1) {
            done += n;
            bytes_in_ += n;
            continue;
        }
        int sys = errno;
        int e = SSL_get_error(ssl_.get(), 0);
        if (interrupted(e, sys))
            continue;
        bool eof = e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && sys == 0) ||
                   (e == SSL_ERROR_SSL &&
                    ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
        if (eof) {
            ERR_clear_error();
            if (at_boundary && done == 0)
                throw PeerClosed(cat("connection closed by ", peer_));
            throw FrameError(cat("connection to ", peer_, " closed in the middle of a frame (",
                                 what, ": ", done, " of ", len, " bytes)"),
                             CBT_WIRE_E_TRUNCATED);
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
            (e == SSL_ERROR_SYSCALL && (sys == EAGAIN || sys == EWOULDBLOCK))) {
            ERR_clear_error();
            throw Error(cat("timed out after ", io_timeout_.count() / 1000.0, " s waiting for ",
                            what, " from ", peer_));
        }
        if (e == SSL_ERROR_SYSCALL)
            throw Error(cat("receiving from ", peer_, ": ", std::strerror(sys)), true, sys);
        bool auth = tls::queued_error_is_auth();
        tls::throw_ssl(cat("TLS error receiving from ", peer_), !auth);
    }
    return true;
}

void FrameConn::write_all(const void *buf, size_t len)
{
    auto *p = static_cast<const uint8_t *>(buf);
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        if (SSL_write_ex(ssl_.get(), p + done, len - done, &n) == 1) {
            done += n;
            bytes_out_ += n;
            continue;
        }
        int sys = errno;
        int e = SSL_get_error(ssl_.get(), 0);
        if (interrupted(e, sys))
            continue;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
            (e == SSL_ERROR_SYSCALL && (sys == EAGAIN || sys == EWOULDBLOCK))) {
            ERR_clear_error();
            throw Error(
                cat("timed out after ", io_timeout_.count() / 1000.0, " s sending to ", peer_));
        }
        if (e == SSL_ERROR_SYSCALL)
            throw Error(
                cat("sending to ", peer_, ": ", sys ? std::strerror(sys) : "connection closed"),
                true, sys);
        bool auth = tls::queued_error_is_auth();
        tls::throw_ssl(cat("TLS error sending to ", peer_), !auth);
    }
}

void FrameConn::send(uint16_t type, const void *body, uint32_t body_len,
                     std::span<const uint8_t> payload)
{
    // Handshake frames keep the version-1 layout and header version forever (wire.h).
    uint16_t v =
        (type == CBT_WT_HELLO || type == CBT_WT_HELLO_OK || type == CBT_WT_ERROR || version_ == 0)
            ? CBT_WIRE_VERSION_MIN
            : version_;
    uint8_t buf[sizeof(cbt_wire_hdr) + CBT_WIRE_MAX_BODY];
    if (body_len > CBT_WIRE_MAX_BODY)
        throw Error("frame body too large (bug)", false);
    cbt_wire_hdr h;
    cbt_wire_hdr_init(&h, v, type, body, body_len, static_cast<uint32_t>(payload.size()));
    std::memcpy(buf, &h, sizeof(h));
    std::memcpy(buf + sizeof(h), body, body_len);
    write_all(buf, sizeof(h) + body_len);
    if (!payload.empty())
        write_all(payload.data(), payload.size());
}

void FrameConn::send_raw(const void *data, size_t len)
{
    write_all(data, len);
}

void FrameConn::recv(Frame &f, uint64_t replica_bytes)
{
    read_exact(&f.hdr, sizeof(f.hdr), true, "frame header");
    // Nothing in the header is trusted before its own CRC and limits are checked.
    int err = cbt_wire_hdr_check(&f.hdr, 0);
    if (!err && version_ && f.hdr.version != version_ && f.hdr.type != CBT_WT_ERROR &&
        f.hdr.type != CBT_WT_HELLO && f.hdr.type != CBT_WT_HELLO_OK)
        err = CBT_WIRE_E_VERSION;
    if (!err && !version_ && f.hdr.type != CBT_WT_HELLO && f.hdr.type != CBT_WT_HELLO_OK &&
        f.hdr.type != CBT_WT_ERROR)
        err = CBT_WIRE_E_UNEXPECTED;
    if (err)
        throw FrameError(
            cat("bad frame from ", peer_, ": ", cbt_wire_err_str(err), " (type ", f.hdr.type, ")"),
            err);
    read_exact(f.body, f.hdr.body_len, false, cbt_wire_type_str(f.hdr.type));
    err = cbt_wire_body_crc_check(&f.hdr, f.body);
    if (!err)
        err = cbt_wire_body_check(&f.hdr, f.body, replica_bytes);
    if (err)
        throw FrameError(cat("bad ", cbt_wire_type_str(f.hdr.type), " frame from ", peer_, ": ",
                             cbt_wire_err_str(err)),
                         err);
    f.payload.resize(f.hdr.payload_len);
    if (f.hdr.payload_len)
        read_exact(f.payload.data(), f.hdr.payload_len, false, "extent payload");
}

bool FrameConn::readable(std::chrono::milliseconds timeout)
{
    if (SSL_pending(ssl_.get()) > 0)
        return true;
    return wait_readable(fd_.get(), timeout);
}

void FrameConn::close(std::chrono::milliseconds linger)
{
    if (closed_)
        return;
    closed_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ::shutdown(fd_.get(), SHUT_WR);
    // Drain what the peer is still sending so the kernel does not answer it with a reset
    // that would destroy our last frame before the peer reads it.
    drain_briefly(fd_.get(), linger);
    ERR_clear_error();
}

} // namespace cbtrep::transport
