// --max-rate: a token bucket over the bytes a resync reads from the source and sends to
// the replica, so a resync in business hours leaves the disk and the link to the
// applications. Burst is a quarter of a second's worth (at least 1 MiB), so the pace is
// smooth at the scale a user can see.
#pragma once

#include <chrono>
#include <cstdint>

namespace cbtrep::resync
{

class RateLimiter
{
  public:
    using Clock = std::chrono::steady_clock;
    // bytes_per_second == 0: unlimited.
    explicit RateLimiter(uint64_t bytes_per_second = 0);

    // Takes bytes from the bucket, sleeping until they are there. A request larger than the
    // burst is allowed and paid for by the following wait (the debt).
    void acquire(uint64_t bytes);
    // How long acquire(bytes) would sleep now, without taking anything (tests).
    Clock::duration wait_for(uint64_t bytes) const;
    uint64_t rate() const { return rate_; }

  private:
    void refill(Clock::time_point now);

    uint64_t rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_;
};

} // namespace cbtrep::resync
