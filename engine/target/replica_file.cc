#include "replica_file.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <cbtrep/abi.h>

#include "common/error.h"

namespace cbtrep::target
{

ReplicaFile::ReplicaFile(const std::string &path, uint64_t create_bytes) : path_(path)
{
    fd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd_ && errno == ENOENT && create_bytes) {
        if (create_bytes % CBT_SECTOR_SIZE)
            throw Error(cat("replica ", path, ": size ", create_bytes, " not a multiple of 512"),
                        false);
        fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd_)
            throw_errno(cat("creating replica ", path));
        // Sparse: no blocks until data arrives; zero ranges stay holes.
        if (::ftruncate(fd_.get(), static_cast<off_t>(create_bytes)) != 0)
            throw_errno(cat("sizing replica ", path, " to ", create_bytes, " bytes"));
        if (::fsync(fd_.get()) != 0)
            throw_errno(cat("syncing new replica ", path));
    }
    if (!fd_)
        throw_errno(cat("opening replica ", path));
    struct stat st {
    };
    if (::fstat(fd_.get(), &st) != 0)
        throw_errno(cat("stat ", path));
    if (S_ISBLK(st.st_mode)) {
        blockdev_ = true;
        uint64_t bytes = 0;
        if (::ioctl(fd_.get(), BLKGETSIZE64, &bytes) != 0)
            throw_errno(cat("BLKGETSIZE64 ", path));
        size_ = bytes;
        unsigned int dz = 0;
        discard_zeroes_ = ::ioctl(fd_.get(), BLKDISCARDZEROES, &dz) == 0 && dz;
    } else if (S_ISREG(st.st_mode)) {
        size_ = static_cast<uint64_t>(st.st_size);
    } else {
        throw Error(cat("replica ", path, " is neither a block device nor a regular file"), false);
    }
    if (size_ == 0 || size_ % CBT_SECTOR_SIZE)
        throw Error(cat("replica ", path, ": size ", size_, " is zero or not a multiple of 512"),
                    false);
}

void ReplicaFile::check_range(uint64_t offset, uint64_t length, const char *op) const
{
    if (offset > size_ || length > size_ - offset)
        throw Error(cat("replica ", path_, ": ", op, " of ", length, " bytes at ", offset,
                        " is outside the replica (", size_, " bytes) - refused"),
                    false);
}

void ReplicaFile::read(uint64_t offset, std::span<uint8_t> buf) const
{
    check_range(offset, buf.size(), "read");
    size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::pread(fd_.get(), buf.data() + done, buf.size() - done,
                            static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(cat("reading replica ", path_, " at ", offset + done));
        if (n == 0)
            throw Error(cat("reading replica ", path_, " at ", offset + done, ": end of file"));
        done += static_cast<size_t>(n);
    }
}

void ReplicaFile::write(uint64_t offset, std::span<const uint8_t> buf)
{
    check_range(offset, buf.size(), "write");
    size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::pwrite(fd_.get(), buf.data() + done, buf.size() - done,
                             static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(cat("writing replica ", path_, " at ", offset + done));
        done += static_cast<size_t>(n);
    }
}

void ReplicaFile::write_zeroes(uint64_t offset, uint64_t length)
{
    static const std::vector<uint8_t> zeroes(1u << 20, 0);
    while (length) {
        uint64_t n = std::min<uint64_t>(length, zeroes.size());
        write(offset, std::span(zeroes.data(), n));
        offset += n;
        length -= n;
    }
}

void ReplicaFile::zero(uint64_t offset, uint64_t length, bool discard)
{
    check_range(offset, length, discard ? "discard" : "zero");
    if (!length)
        return;
    if (blockdev_) {
        uint64_t range[2] = {offset, length};
        if (discard && discard_zeroes_ && ::ioctl(fd_.get(), BLKDISCARD, range) == 0)
            return;
        if (::ioctl(fd_.get(), BLKZEROOUT, range) == 0)
            return;
        write_zeroes(offset, length);
        return;
    }
    if (punch_ok_) {
        if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(offset), static_cast<off_t>(length)) == 0)
            return;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            throw_errno(cat("punching a hole in replica ", path_, " at ", offset));
        punch_ok_ = false; // filesystem cannot: fall back for good
    }
    write_zeroes(offset, length);
}

uint64_t ReplicaFile::next_data(uint64_t offset) const
{
    if (blockdev_ || offset >= size_)
        return std::min(offset, size_);
    off_t r = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
    if (r < 0)
        return errno == ENXIO ? size_ : offset;
    return std::min<uint64_t>(static_cast<uint64_t>(r), size_);
}

void ReplicaFile::sync()
{
    if (::fdatasync(fd_.get()) != 0)
        throw_errno(cat("syncing replica ", path_));
}

} // namespace cbtrep::target
