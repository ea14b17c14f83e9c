#include "local_peer.h"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

namespace cbtrep::resync
{

namespace
{
// Data queued for the worker beyond this makes write() wait: memory stays bounded when the
// replica disk is slower than the source.
constexpr uint64_t max_queued_write_bytes = 64ull << 20;
} // namespace

LocalPeer::LocalPeer(std::string path, LocalPeerOptions opts)
    : path_(std::move(path)), opts_(std::move(opts))
{
}

LocalPeer::~LocalPeer()
{
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable())
        worker_.join();
}

PeerInfo LocalPeer::open(const Geometry &geometry, uint64_t source_bytes)
{
    if (opts_.resize && !opts_.read_only) {
        struct stat st;
        if (::stat(path_.c_str(), &st) != 0)
            throw_errno("resync: stat replica " + path_);
        if (S_ISREG(st.st_mode) && uint64_t(st.st_size) != source_bytes &&
            ::truncate(path_.c_str(), off_t(source_bytes)) != 0)
            throw_errno(cat("resync: resize replica ", path_, " to ", source_bytes, " bytes"));
    }
    if (!opts_.read_only)
        writer_ = std::make_unique<FileWriter>(path_);
    hasher_ = std::make_unique<BlockHasher>(path_, geometry, opts_.reader, opts_.direct);
    responder_ = std::make_unique<Responder>(*hasher_, writer_.get());
    worker_ = std::thread([this] { run(); });
    return {hasher_->size(), "file:" + path_};
}

void LocalPeer::run()
{
    for (;;) {
        Op op;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !ops_.empty(); });
            if (ops_.empty())
                return;
            op = std::move(ops_.front());
            ops_.pop_front();
        }
        try {
            if (auto *req = std::get_if<HashRequest>(&op)) {
                HashReply rep = responder_->answer(*req);
                std::lock_guard lk(mu_);
                replies_.push_back(std::move(rep));
            } else if (auto *chunks = std::get_if<std::vector<codec::Chunk>>(&op)) {
                uint64_t bytes = 0;
                for (const codec::Chunk &c : *chunks) {
                    responder_->apply(c);
                    bytes += c.payload.size();
                }
                std::lock_guard lk(mu_);
                queued_write_bytes_ -= bytes;
            } else {
                responder_->flush();
                std::lock_guard lk(mu_);
                flush_done_ = std::get<Flush>(op).ticket;
            }
        } catch (...) {
            std::lock_guard lk(mu_);
            error_ = std::current_exception();
            stopping_ = true;
            ops_.clear();
        }
        cv_.notify_all();
        std::lock_guard lk(mu_);
        if (error_)
            return;
    }
}

void LocalPeer::rethrow_locked()
{
    if (error_)
        std::rethrow_exception(error_);
    if (stopping_)
        throw Error("resync: local replica worker stopped", false);
}

void LocalPeer::push(Op op, uint64_t write_bytes)
{
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] {
        return error_ || stopping_ || queued_write_bytes_ + write_bytes <= max_queued_write_bytes ||
               queued_write_bytes_ == 0;
    });
    rethrow_locked();
    queued_write_bytes_ += write_bytes;
    ops_.push_back(std::move(op));
    lk.unlock();
    cv_.notify_all();
}

void LocalPeer::request(HashRequest req)
{
    push(std::move(req), 0);
}

HashReply LocalPeer::reply()
{
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return error_ || stopping_ || !replies_.empty(); });
    if (replies_.empty())
        rethrow_locked();
    HashReply r = std::move(replies_.front());
    replies_.pop_front();
    return r;
}

void LocalPeer::write(std::vector<codec::Chunk> chunks)
{
    uint64_t bytes = 0;
    for (const codec::Chunk &c : chunks)
        bytes += c.payload.size();
    push(std::move(chunks), bytes);
}

void LocalPeer::flush()
{
    uint64_t ticket;
    {
        std::lock_guard lk(mu_);
        ticket = ++flush_issued_;
    }
    push(Flush{ticket}, 0);
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return error_ || stopping_ || flush_done_ >= ticket; });
    if (flush_done_ < ticket)
        rethrow_locked();
}

} // namespace cbtrep::resync
