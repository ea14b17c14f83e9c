// Minimal leveled logging to stderr, one line per event with a UTC timestamp and the
// program's tag, so the target's and the engine's logs read the same in tests and journald.
#pragma once

#include <string>

#include "error.h"

namespace cbtrep
{

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void log_set_tag(const std::string &tag);
void log_set_level(LogLevel level);
void log_msg(LogLevel level, const std::string &msg);

template <typename... Parts> void log_debug(const Parts &...p)
{
    log_msg(LogLevel::debug, cat(p...));
}
template <typename... Parts> void log_info(const Parts &...p)
{
    log_msg(LogLevel::info, cat(p...));
}
template <typename... Parts> void log_warn(const Parts &...p)
{
    log_msg(LogLevel::warn, cat(p...));
}
template <typename... Parts> void log_error(const Parts &...p)
{
    log_msg(LogLevel::error, cat(p...));
}

} // namespace cbtrep
