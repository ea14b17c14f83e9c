// cbtrep-target's network side: accepts TLS connections, authenticates the client for the
// replica it names, and feeds validated frames to that replica's Applier, one connection
// per replica at a time (a new authenticated connection for a busy replica takes it over,
// so a half-dead connection after a network cut cannot lock the engine out).
#pragma once

#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "target/applier.h"
#include "target/config.h"
#include "transport/tls.h"

namespace cbtrep::transport
{
class FrameConn;
class TcpListener;
} // namespace cbtrep::transport

namespace cbtrep::target
{

class Server
{
  public:
    explicit Server(TargetConfig cfg);
    ~Server();
    // Opens every replica that exists (running undo recovery) and binds the listener.
    void start();
    uint16_t port() const;
    // Accepts until stop becomes true, then ends every connection and returns.
    void run(const std::atomic<bool> &stop);

  private:
    struct Slot {
        std::unique_ptr<Applier> applier;
        std::mutex m;
        std::condition_variable cv;
        bool owned = false;
        int owner_fd = -1;
        std::string owner;
    };
    struct Worker {
        std::thread thread;
        std::atomic<bool> done{false};
        std::atomic<int> fd{-1};
    };
    void serve(UniqueFd fd, std::string peer, Worker *self);
    void session(transport::FrameConn &conn, Worker *self);

    TargetConfig cfg_;
    UniqueFd lock_fd_;
    tls::SslCtxPtr ctx_;
    std::unique_ptr<transport::TcpListener> listener_;
    std::map<std::string, std::unique_ptr<Slot>> slots_;
    std::list<Worker> workers_;
    const std::atomic<bool> *stop_ = nullptr;
};

} // namespace cbtrep::target
