#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "common/error.h"
#include "common/log.h"

namespace cbtrep::daemon
{

MetricsServer::MetricsServer(const StatusBoard &board, const std::string &listen, uint16_t port)
    : board_(board)
{
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_)
        throw_errno("metrics: socket");
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, listen.c_str(), &a.sin_addr) != 1)
        throw Error(cat("metrics: listen address '", listen, "' is not an IPv4 address"), false);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0)
        throw_errno(cat("metrics: bind ", listen, ":", port));
    if (::listen(fd_.get(), 8) != 0)
        throw_errno("metrics: listen");
    socklen_t len = sizeof(a);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer()
{
    stop_ = true;
    if (thread_.joinable())
        thread_.join();
}

void MetricsServer::serve()
{
    while (!stop_) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0)
            continue;
        UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c)
            continue;
        // Read the request head (bounded, with a short timeout); its content does not matter.
        timeval tv{1, 0};
        ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        char buf[2048];
        std::string req;
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
            ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            req.append(buf, size_t(n));
        }
        std::string body = board_.prometheus();
        std::string resp = cat("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                               "Content-Length: ",
                               body.size(), "\r\nConnection: close\r\n\r\n", body);
        size_t off = 0;
        while (off < resp.size()) {
            ssize_t n = ::send(c.get(), resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += size_t(n);
        }
    }
}

} // namespace cbtrep::daemon
