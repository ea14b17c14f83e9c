#include "socket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/error.h"

namespace cbtrep::transport
{
namespace
{

std::string addr_str(const sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        auto *in = reinterpret_cast<const sockaddr_in *>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        return cat(host, ":", port);
    }
    if (sa->sa_family == AF_INET6) {
        auto *in6 = reinterpret_cast<const sockaddr_in6 *>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        return cat("[", host, "]:", port);
    }
    return "?";
}

void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

} // namespace

std::string peer_name(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) != 0)
        return "?";
    return addr_str(reinterpret_cast<sockaddr *>(&ss));
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout)
{
    timeval tv{};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        throw_errno("setting socket timeouts");
}

bool wait_readable(int fd, std::chrono::milliseconds timeout)
{
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("poll");
        return n > 0;
    }
}

UniqueFd tcp_connect(const std::string &host, uint16_t port, std::chrono::milliseconds timeout)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0)
        throw Error(cat("resolving ", host, ": ", gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);

    std::string last = "no address";
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                             ai->ai_protocol));
        if (!fd) {
            last = std::strerror(errno);
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last = std::strerror(errno);
                continue;
            }
            pollfd p{fd.get(), POLLOUT, 0};
            int n;
            do {
                n = ::poll(&p, 1, static_cast<int>(timeout.count()));
            } while (n < 0 && errno == EINTR);
            if (n == 0) {
                last = "timed out";
                continue;
            }
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                last = std::strerror(err);
                continue;
            }
        }
        int flags = fcntl(fd.get(), F_GETFL);
        fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
        set_nodelay(fd.get());
        return fd;
    }
    throw Error(cat("connecting to ", host, ":", port, ": ", last));
}

TcpListener::TcpListener(const std::string &address, uint16_t port)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    addrinfo *res = nullptr;
    std::string service = std::to_string(port);
    int rc =
        getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &res);
    if (rc != 0)
        throw Error(cat("listen address ", address, ": ", gai_strerror(rc)), false);
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);

    fd_.reset(::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol));
    if (!fd_)
        throw_errno("socket");
    int one = 1;
    setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_.get(), res->ai_addr, res->ai_addrlen) != 0)
        throw_errno(cat("binding ", address, ":", port));
    if (::listen(fd_.get(), 64) != 0)
        throw_errno("listen");
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&ss), &len);
    port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
}

UniqueFd TcpListener::accept(std::chrono::milliseconds timeout, std::string *peer)
{
    if (!wait_readable(fd_.get(), timeout))
        return {};
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    UniqueFd fd(::accept4(fd_.get(), reinterpret_cast<sockaddr *>(&ss), &len, SOCK_CLOEXEC));
    if (!fd) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
            return {};
        throw_errno("accept");
    }
    set_nodelay(fd.get());
    if (peer)
        *peer = addr_str(reinterpret_cast<sockaddr *>(&ss));
    return fd;
}

} // namespace cbtrep::transport
