#include "backoff.h"

namespace cbtrep
{

std::chrono::milliseconds Backoff::next()
{
    auto base = attempt_ < policy_.steps.size() ? policy_.steps[attempt_] : policy_.steady;
    ++attempt_;
    if (policy_.jitter <= 0 || base.count() == 0)
        return base;
    std::uniform_real_distribution<double> dist(1.0 - policy_.jitter, 1.0 + policy_.jitter);
    return std::chrono::milliseconds(static_cast<int64_t>(base.count() * dist(rng_)));
}

} // namespace cbtrep
