#include "point_timer.h"

#include <ctime>

#include "common/log.h"

namespace cbtrep::daemon
{

using namespace std::chrono_literals;

const char *kind_name(PointKind k)
{
    return k == PointKind::app ? "app" : "crash";
}

PointSchedule::PointSchedule(std::chrono::seconds crash, std::chrono::seconds app,
                             Clock::time_point start)
    : crash_(crash), app_(app), next_crash_(start + crash), next_app_(start + app)
{
}

std::vector<PointKind> PointSchedule::due(Clock::time_point now) const
{
    std::vector<PointKind> d;
    if (app_.count() && now >= next_app_)
        d.push_back(PointKind::app);
    if (crash_.count() && now >= next_crash_)
        d.push_back(PointKind::crash);
    return d;
}

void PointSchedule::taken(PointKind k, Clock::time_point now)
{
    if (k == PointKind::app)
        next_app_ = now + app_;
    next_crash_ = now + crash_;
}

std::optional<PointSchedule::Clock::time_point> PointSchedule::next(PointKind k) const
{
    if (k == PointKind::app)
        return app_.count() ? std::optional(next_app_) : std::nullopt;
    return crash_.count() ? std::optional(next_crash_) : std::nullopt;
}

std::string gate_from_status(const DeviceStatus &s)
{
    // Copying or resyncing writes the replica without before-images (its points are dropped)
    // and leaves it inconsistent until done: a point cut now would name nothing usable.
    for (const char *busy :
         {"starting", "initial-sync", "resyncing", "resync-required", "error", "stopped"})
        if (s.state == busy)
            return "cbtrepd is " + s.state;
    if (s.tracker_state == "resync-required")
        return "the tracker says resync-required";
    if (s.tracker_mode == "bitmap")
        return "the tracker is in BITMAP mode (no journal to put a tag in)";
    return {};
}

std::string PointTimer::point_name(PointKind k, int64_t unix_ns)
{
    std::time_t t = unix_ns / 1'000'000'000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
    return std::string("timer-") + kind_name(k) + "-" + buf;
}

PointTimer::PointTimer(const config::DeviceConfig &dev, StatusBoard &board, Deps deps)
    : dev_(dev), board_(board), deps_(std::move(deps)),
      sched_(std::chrono::seconds(dev.points.crash_interval_s),
             std::chrono::seconds(dev.points.app_interval_s), deps_.now())
{
    if (!deps_.wall_ns)
        deps_.wall_ns = [] {
            return int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
        };
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.point_timer.enabled = true;
        s.point_timer.note.clear();
        s.point_timer.crash_interval_s = dev_.points.crash_interval_s;
        s.point_timer.app_interval_s = dev_.points.app_interval_s;
    });
    publish(deps_.now());
}

PointTimer::~PointTimer()
{
    {
        std::lock_guard lk(mu_);
        quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void PointTimer::start(const std::atomic<bool> &stop)
{
    thread_ = std::thread([this, &stop] {
        std::unique_lock lk(mu_);
        while (!quit_ && !stop) {
            lk.unlock();
            try {
                tick();
            } catch (const std::exception &e) {
                log_error(dev_.name, ": timer points: ", e.what());
            }
            lk.lock();
            cv_.wait_for(lk, 1s, [&] { return quit_; });
        }
    });
}

void PointTimer::tick()
{
    auto now = deps_.now();
    auto due = sched_.due(now);
    if (due.empty()) {
        publish(now);
        return;
    }
    std::string why = deps_.gate ? deps_.gate() : std::string();
    if (!why.empty()) {
        skip(due.front(), why);
    } else {
        for (PointKind k : due)
            if (attempt(k, now))
                break; // an app point also satisfies a due crash point
    }
    publish(now);
}

bool PointTimer::attempt(PointKind k, Clock::time_point now)
{
    source::TagRequest req;
    int64_t wall = deps_.wall_ns();
    req.name = point_name(k, wall);
    req.devices = {dev_.name};
    req.ctl = dev_.source.ctl;
    req.freeze_limit = std::chrono::milliseconds(dev_.points.freeze_limit_ms);
    if (k == PointKind::app) {
        req.freeze = dev_.points.freeze;
        if (req.freeze.empty() && deps_.mountpoints)
            req.freeze = deps_.mountpoints();
        if (req.freeze.empty()) {
            skip(k, "no mounted filesystem of " + dev_.device +
                        " to freeze (set points.freeze, or app_interval_s 0)");
            return false;
        }
    }
    source::TagResult res;
    try {
        res = deps_.tag(req);
    } catch (const source::TagBusy &e) {
        skip(k, std::string("TAG busy (BITMAP mode or saving the tracker's header): ") + e.what());
        return false;
    } catch (const std::exception &e) {
        skip(k, e.what());
        return false;
    }
    sched_.taken(k, now);
    size_t ki = size_t(k);
    if (!skipping_[ki].empty())
        log_info(dev_.name, ": timer points (", kind_name(k), ") resumed after ",
                 skipped_since_[ki], " skipped tick(s) (", skipping_[ki], ")");
    skipping_[ki].clear();
    skipped_since_[ki] = 0;
    if (k == PointKind::app) { // it stood for the due crash point too
        skipping_[size_t(PointKind::crash)].clear();
        skipped_since_[size_t(PointKind::crash)] = 0;
    }
    std::string frozen;
    for (const auto &m : res.frozen)
        frozen += (frozen.empty() ? "" : ", ") + m;
    if (k == PointKind::app)
        log_info(dev_.name, ": timer point '", req.name, "' (tag ", res.tag_id,
                 ", app-consistent, ", frozen, " frozen for ", res.frozen_for.count() / 1000.0,
                 " ms)");
    else
        log_info(dev_.name, ": timer point '", req.name, "' (tag ", res.tag_id, ", crash)");
    board_.update(dev_.name, [&](DeviceStatus &s) {
        auto &t = s.point_timer;
        t.last_kind = kind_name(k);
        t.last_point_name = req.name;
        t.last_tag_id = res.tag_id;
        t.last_unix_ns = wall;
        t.taken++;
    });
    publish_skipping();
    return true;
}

void PointTimer::skip(PointKind k, const std::string &why)
{
    size_t ki = size_t(k);
    skipped_since_[ki]++;
    if (why != skipping_[ki])
        log_warn(dev_.name, ": timer point (", kind_name(k), ") skipped: ", why,
                 "; trying again every second");
    skipping_[ki] = why;
    board_.update(dev_.name, [&](DeviceStatus &s) { s.point_timer.skipped++; });
    publish_skipping();
}

void PointTimer::publish_skipping()
{
    std::string why;
    for (PointKind k : {PointKind::app, PointKind::crash})
        if (!skipping_[size_t(k)].empty())
            why +=
                (why.empty() ? "" : "; ") + std::string(kind_name(k)) + ": " + skipping_[size_t(k)];
    board_.update(dev_.name, [&](DeviceStatus &s) { s.point_timer.skipping = why; });
}

void PointTimer::publish(Clock::time_point now)
{
    int64_t wall = deps_.wall_ns();
    auto at = [&](PointKind k) -> int64_t {
        auto n = sched_.next(k);
        if (!n)
            return 0;
        return wall + std::chrono::duration_cast<std::chrono::nanoseconds>(*n - now).count();
    };
    board_.update(dev_.name, [&](DeviceStatus &s) {
        s.point_timer.next_crash_unix_ns = at(PointKind::crash);
        s.point_timer.next_app_unix_ns = at(PointKind::app);
    });
}

std::unique_ptr<PointTimer> make_point_timer(const config::DeviceConfig &dev, StatusBoard &board)
{
    const auto &p = dev.points;
    if (dev.source.type != "kernel") {
        // A file source replays tags someone else cut; there is no tracker to tag.
        log_info(dev.name, ": timer points are not available for a ", dev.source.type,
                 " source (its points are the tags in its stream)");
        board.update(dev.name, [&](DeviceStatus &s) {
            s.point_timer.note = "not available for a " + dev.source.type + " source";
        });
        return nullptr;
    }
    if (!p.crash_interval_s && !p.app_interval_s) {
        board.update(dev.name,
                     [&](DeviceStatus &s) { s.point_timer.note = "disabled by configuration"; });
        return nullptr;
    }
    PointTimer::Deps d;
    d.gate = [&board, name = dev.name] {
        std::string why;
        board.update(name, [&](DeviceStatus &s) { why = gate_from_status(s); });
        return why;
    };
    d.mountpoints = [device = dev.device] { return source::mountpoints_of(device); };
    log_info(dev.name, ": timer points every ", p.crash_interval_s, " s (crash), ",
             p.app_interval_s, " s (app-consistent",
             p.freeze.empty() ? ", freezing the filesystem on " + dev.device : std::string(), ")");
    return std::make_unique<PointTimer>(dev, board, std::move(d));
}

} // namespace cbtrep::daemon
