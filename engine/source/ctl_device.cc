#include "ctl_device.h"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/ioctl.h>

namespace cbtrep::source
{

UniqueFd open_ctl(const std::string &path)
{
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd)
        throw std::system_error(errno, std::generic_category(),
                                path + ": open (is cbtrep.ko loaded?)");
    return fd;
}

void ctl_call(int fd, unsigned long req, void *arg, const std::string &ctl_path,
              const std::string &what)
{
    while (::ioctl(fd, req, arg) != 0) {
        if (errno == EINTR)
            continue;
        throw std::system_error(errno, std::generic_category(), ctl_path + ": " + what);
    }
}

} // namespace cbtrep::source
