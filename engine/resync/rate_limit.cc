#include "rate_limit.h"

#include <algorithm>
#include <thread>

namespace cbtrep::resync
{

RateLimiter::RateLimiter(uint64_t bytes_per_second)
    : rate_(bytes_per_second), burst_(std::max(double(bytes_per_second) / 4, double(1u << 20))),
      tokens_(burst_), last_(Clock::now())
{
}

void RateLimiter::refill(Clock::time_point now)
{
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * double(rate_));
}

RateLimiter::Clock::duration RateLimiter::wait_for(uint64_t bytes) const
{
    if (!rate_)
        return {};
    double elapsed = std::chrono::duration<double>(Clock::now() - last_).count();
    double have = std::min(burst_, tokens_ + elapsed * double(rate_));
    double missing = double(std::min<uint64_t>(bytes, uint64_t(burst_))) - have;
    if (missing <= 0)
        return {};
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(missing / double(rate_)));
}

void RateLimiter::acquire(uint64_t bytes)
{
    if (!rate_)
        return;
    refill(Clock::now());
    // Wait until the bucket holds what is asked for (or is full, for requests beyond the
    // burst), then take it all; going negative records the debt of an oversized request.
    double need = std::min(double(bytes), burst_);
    if (tokens_ < need) {
        std::this_thread::sleep_for(
            std::chrono::duration<double>((need - tokens_) / double(rate_)));
        refill(Clock::now());
    }
    tokens_ -= double(bytes);
}

} // namespace cbtrep::resync
