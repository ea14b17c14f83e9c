// The one positional-read loop the points library uses: it retries EINTR and short reads,
// so callers only decide what a short file means to them.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <unistd.h>

namespace cbtrep::points
{

// Reads up to len bytes at off; returns how many were read (fewer only at EOF), or -1 with
// errno set.
inline ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = ::pread(fd, static_cast<uint8_t *>(buf) + done, len - done,
                            static_cast<off_t>(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

} // namespace cbtrep::points
