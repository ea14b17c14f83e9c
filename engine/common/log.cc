#include "log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace cbtrep
{
namespace
{
std::mutex g_mutex;
std::string g_tag = "cbtrep";
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

const char *level_name(LogLevel l)
{
    switch (l) {
    case LogLevel::debug:
        return "debug";
    case LogLevel::info:
        return "info";
    case LogLevel::warn:
        return "warning";
    case LogLevel::error:
        return "error";
    }
    return "?";
}
} // namespace

void log_set_tag(const std::string &tag)
{
    std::lock_guard lock(g_mutex);
    g_tag = tag;
}

void log_set_level(LogLevel level)
{
    g_level = static_cast<int>(level);
}

void log_msg(LogLevel level, const std::string &msg)
{
    if (static_cast<int>(level) < g_level)
        return;
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[32];
    std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    std::lock_guard lock(g_mutex);
    std::fprintf(stderr, "%s.%03dZ %s %s: %s\n", ts, static_cast<int>(ms.count()), g_tag.c_str(),
                 level_name(level), msg.c_str());
    std::fflush(stderr);
}

} // namespace cbtrep
