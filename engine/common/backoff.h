// Retry delays for recoverable errors: 1, 2, 4, 8, 10 (steps), then every 30 minutes
// (steady), each jittered by +-jitter so many engines do not reconnect in lockstep.
// Units are seconds by default; tests shrink them. A success resets the schedule, so a
// flapping link never hot-loops and a healthy one recovers at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace cbtrep
{

struct BackoffPolicy {
    std::vector<std::chrono::milliseconds> steps{std::chrono::seconds(1), std::chrono::seconds(2),
                                                 std::chrono::seconds(4), std::chrono::seconds(8),
                                                 std::chrono::seconds(10)};
    std::chrono::milliseconds steady = std::chrono::minutes(30);
    double jitter = 0.1; // fraction of the delay, 0 = none
};

class Backoff
{
  public:
    explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = std::random_device{}())
        : policy_(std::move(policy)), rng_(seed)
    {
    }
    // The delay before the next attempt; advances the schedule.
    std::chrono::milliseconds next();
    // Call after a success: the next failure starts again at the first step.
    void reset() noexcept { attempt_ = 0; }
    unsigned attempts() const noexcept { return attempt_; }

  private:
    BackoffPolicy policy_;
    std::mt19937_64 rng_;
    unsigned attempt_ = 0;
};

} // namespace cbtrep
