// A tiny HTTP responder for Prometheus: every request on the listening socket gets the
// board's metrics as text/plain (version 0.0.4). Bound to localhost by default; one
// request at a time is plenty for a scraper.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "common/fd.h"
#include "daemon/status.h"

namespace cbtrep::daemon
{

class MetricsServer
{
  public:
    // Binds listen:port (port 0 picks a free port, see port()); throws on failure.
    MetricsServer(const StatusBoard &board, const std::string &listen, uint16_t port);
    ~MetricsServer();
    uint16_t port() const { return port_; }

  private:
    void serve();
    const StatusBoard &board_;
    UniqueFd fd_;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace cbtrep::daemon
