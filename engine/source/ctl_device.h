// The tracker's control device (/dev/cbtrep-ctl, include/cbtrep/ioctl.h) for every user-space
// caller: KernelSource's drain, `cbtrep tag` and cbtrepd's timer points. One place fills
// the ioctl headers and turns errno into an exception that names the call.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include <cbtrep/ioctl.h>

#include "common/fd.h"

namespace cbtrep::source
{

// An ioctl struct with its header filled in and, for structs that name one device, the name.
template <typename T> T ioc_init(std::string_view name = {})
{
    T t;
    std::memset(&t, 0, sizeof(t));
    t.hdr.version = CBT_IOCTL_VERSION;
    t.hdr.size = sizeof(T);
    if constexpr (requires { t.name; })
        name.copy(t.name, sizeof(t.name) - 1);
    return t;
}

// Opens the control device; throws std::system_error saying the module may not be loaded.
UniqueFd open_ctl(const std::string &path);

// ioctl(fd, req, arg), retried on EINTR; throws std::system_error(errno) whose message is
// "<ctl_path>: <what>".
void ctl_call(int fd, unsigned long req, void *arg, const std::string &ctl_path,
              const std::string &what);

} // namespace cbtrep::source
