// Errors with context: every failure the engine reports says what it was doing (operation,
// path, peer, offset) and whether retrying can help. Recoverable errors (network, disk full,
// busy target) are retried with backoff by the caller; fatal ones (authentication, identity
// mismatch) stop replication with the message shown to the operator.
#pragma once

#include <cerrno>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cbtrep
{

class Error : public std::runtime_error
{
  public:
    explicit Error(const std::string &what, bool recoverable = true, int err = 0)
        : std::runtime_error(what), recoverable_(recoverable), errno_(err)
    {
    }
    // True when the same operation may succeed later (network, busy, disk full).
    bool recoverable() const noexcept { return recoverable_; }
    // The errno behind the error, 0 when there is none.
    int errno_value() const noexcept { return errno_; }

  private:
    bool recoverable_;
    int errno_;
};

// Builds a message from any streamable parts: cat("open ", path, ": ", strerror(e)).
template <typename... Parts> std::string cat(const Parts &...parts)
{
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
}

// Throws Error("<context>: <strerror(err)>"), recoverable, with err kept.
[[noreturn]] void throw_errno(const std::string &context, int err = errno);

} // namespace cbtrep
