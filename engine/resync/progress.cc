#include "progress.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace cbtrep::resync
{

std::string human_bytes(double b)
{
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (b >= 1024 && u < 5) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%.0f %s", b, units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
    return buf;
}

double compare_rate(const Stats &s)
{
    return s.seconds > 0 ? s.compared_bytes / s.seconds : 0;
}

double eta_seconds(const Stats &s)
{
    double rate = compare_rate(s);
    if (rate <= 0)
        return -1;
    return double(s.device_bytes - std::min(s.done_bytes, s.device_bytes)) / rate;
}

namespace
{

std::string clock_text(double seconds)
{
    if (seconds < 0)
        return "--:--";
    long t = std::lround(seconds);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

double fraction(const Stats &s)
{
    return s.device_bytes ? double(s.done_bytes) / double(s.device_bytes) : 1.0;
}

nlohmann::json stats_json(const Stats &s)
{
    return {
        {"device_bytes", s.device_bytes},
        {"start_bytes", s.start_bytes},
        {"done_bytes", s.done_bytes},
        {"compared_bytes", s.compared_bytes},
        {"differing_bytes", s.differing_bytes},
        {"sent_bytes", s.sent_bytes},
        {"payload_bytes", s.payload_bytes},
        {"zero_bytes", s.zero_bytes},
        {"wire_bytes", s.wire_bytes},
        {"regions", s.regions},
        {"regions_differing", s.regions_differing},
        {"leaves_differing", s.leaves_differing},
        {"rechecked_equal", s.rechecked_equal},
        {"seconds", std::round(s.seconds * 1000) / 1000},
        {"rate_bytes_per_second", std::llround(compare_rate(s))},
        {"eta_seconds", std::round(eta_seconds(s) * 10) / 10},
    };
}

} // namespace

std::string progress_line(const Stats &s, size_t width)
{
    double f = fraction(s);
    size_t fill = size_t(f * double(width));
    std::string bar = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
    return cat(bar, " ", int(f * 100), "%  ", human_bytes(double(s.done_bytes)), "/",
               human_bytes(double(s.device_bytes)), " compared  ",
               human_bytes(double(s.sent_bytes)), " sent  ", human_bytes(compare_rate(s)),
               "/s  ETA ", clock_text(eta_seconds(s)));
}

std::string progress_json(const Stats &s, const char *event)
{
    nlohmann::json j = {{"event", event}};
    j.update(stats_json(s));
    return j.dump();
}

std::string summary_text(const Stats &s, bool verify)
{
    std::string out =
        cat("compared   ", human_bytes(double(s.compared_bytes)), " (", s.compared_bytes, " bytes",
            s.start_bytes ? cat(", resumed at byte ", s.start_bytes) : std::string(), ")\n",
            "differing  ", human_bytes(double(s.differing_bytes)), " in ", s.leaves_differing,
            " leaves of ", s.regions_differing, " regions\n");
    if (verify && s.rechecked_equal)
        out +=
            cat("re-checked ", s.rechecked_equal, " leaves matched when read again (live data)\n");
    if (!verify)
        out += cat("sent       ", human_bytes(double(s.sent_bytes)), " (",
                   human_bytes(double(s.payload_bytes)), " encoded, ",
                   human_bytes(double(s.zero_bytes)), " as zero extents)\n");
    if (s.wire_bytes)
        out += cat("wire       ", human_bytes(double(s.wire_bytes)), " both ways\n");
    char t[64];
    std::snprintf(t, sizeof t, "%.2f s, %s/s", s.seconds, human_bytes(compare_rate(s)).c_str());
    out += cat("time       ", t, "\n");
    return out;
}

std::string summary_json(const Result &r, bool verify)
{
    nlohmann::json j = {
        {"event", "summary"}, {"mode", verify ? "verify" : "resync"}, {"complete", r.complete}};
    j.update(stats_json(r.stats));
    if (verify) {
        nlohmann::json ranges = nlohmann::json::array();
        for (const Range &x : r.differing)
            ranges.push_back({x.offset, x.length});
        j["differing_ranges"] = ranges;
    }
    return j.dump();
}

std::string error_json(const std::string &message)
{
    return nlohmann::json{{"event", "error"}, {"message", message}}.dump();
}

} // namespace cbtrep::resync
