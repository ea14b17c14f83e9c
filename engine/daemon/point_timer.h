// cbtrepd's timer points (docs/points.md, "Timer points"): per kernel-source device, a
// crash-consistent tag every points.crash_interval_s and an app-consistent one (filesystems
// frozen around the tag) every points.app_interval_s, cut by source::take_tag() exactly as
// `cbtrep tag` cuts them. The tags travel in the journal like any other; the target turns
// each into a recovery point.
//
// A due point is skipped, and tried again at the next tick (one a second), while the device
// cannot take a meaningful one: cbtrepd resyncing or copying it, the tracker saying
// resync-required or in BITMAP mode, or TAG answering EBUSY. Skips are logged when their
// reason changes, not every tick.
//
// PointSchedule is the pure timing; PointTimer adds the tagger, the gate and the status, all
// injectable so tests drive it with their own clock (tests/unit/engine/daemon_point_timer_test).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "daemon/status.h"
#include "source/kernel_tag.h"

namespace cbtrep::daemon
{

enum class PointKind { crash, app };
const char *kind_name(PointKind k);

class PointSchedule
{
  public:
    using Clock = std::chrono::steady_clock;
    // An interval of 0 disables that kind. The first of each is due one interval after start.
    PointSchedule(std::chrono::seconds crash, std::chrono::seconds app, Clock::time_point start);
    // The kinds due at now, app first.
    std::vector<PointKind> due(Clock::time_point now) const;
    // A point of kind k was cut at now: due again one interval later (never catching up on
    // missed ones). An app point is a consistency point too: the crash interval restarts.
    void taken(PointKind k, Clock::time_point now);
    // When kind k is next due; nullopt when disabled.
    std::optional<Clock::time_point> next(PointKind k) const;

  private:
    std::chrono::seconds crash_, app_;
    Clock::time_point next_crash_, next_app_;
};

// Why the device cannot take a point now, from cbtrepd's own view of it ("" = it can).
std::string gate_from_status(const DeviceStatus &s);

class PointTimer
{
  public:
    using Clock = PointSchedule::Clock;
    struct Deps {
        std::function<source::TagResult(const source::TagRequest &)> tag = source::take_tag;
        std::function<std::string()> gate;                     // "" = go ahead
        std::function<std::vector<std::string>()> mountpoints; // when points.freeze is empty
        std::function<Clock::time_point()> now = [] { return Clock::now(); };
        std::function<int64_t()> wall_ns; // for names and status
    };
    // Describes the timer in the board; starts nothing yet.
    PointTimer(const config::DeviceConfig &dev, StatusBoard &board, Deps deps);
    ~PointTimer();
    PointTimer(const PointTimer &) = delete;
    PointTimer &operator=(const PointTimer &) = delete;

    // One tick: cuts the due points (app first; a taken app point satisfies a due crash one).
    void tick();
    // A thread ticking once a second until stop is set or the timer is destroyed.
    void start(const std::atomic<bool> &stop);

    // The tag name of a timer point cut at wall time unix_ns: "timer-app-20261125T161900Z".
    static std::string point_name(PointKind k, int64_t unix_ns);

  private:
    bool attempt(PointKind k, Clock::time_point now);
    void skip(PointKind k, const std::string &why);
    void publish(Clock::time_point now);

    const config::DeviceConfig &dev_;
    StatusBoard &board_;
    Deps deps_;
    PointSchedule sched_;
    void publish_skipping();

    // Per kind (index: PointKind): why it is being skipped ("" = not), the reason last
    // logged, and since when.
    std::string skipping_[2];
    uint64_t skipped_since_[2] = {0, 0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool quit_ = false;
    std::thread thread_;
};

// The timer cbtrepd runs for dev: nullptr (after saying why, once) for a file source or when
// both intervals are 0.
std::unique_ptr<PointTimer> make_point_timer(const config::DeviceConfig &dev, StatusBoard &board);

} // namespace cbtrep::daemon
