// TCP plumbing under TLS: connect with a timeout, listen, accept; addresses as text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/fd.h"

namespace cbtrep::transport
{

// Connects to host:port (name or address), giving up after timeout. Recoverable errors.
UniqueFd tcp_connect(const std::string &host, uint16_t port, std::chrono::milliseconds timeout);

// Sets SO_RCVTIMEO/SO_SNDTIMEO so a silent peer cannot block a thread forever.
void set_io_timeout(int fd, std::chrono::milliseconds timeout);

// Waits until fd is readable; false on timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout);

class TcpListener
{
  public:
    // Binds address:port ("0.0.0.0", "::", "127.0.0.1"...); port 0 picks a free port.
    TcpListener(const std::string &address, uint16_t port);
    uint16_t port() const noexcept { return port_; }
    int fd() const noexcept { return fd_.get(); }
    // Accepts one connection, or returns an empty fd when none arrives within timeout.
    UniqueFd accept(std::chrono::milliseconds timeout, std::string *peer);

  private:
    UniqueFd fd_;
    uint16_t port_ = 0;
};

std::string peer_name(int fd);

} // namespace cbtrep::transport
