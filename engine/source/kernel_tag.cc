#include "kernel_tag.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <cbtrep/ioctl.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_device.h"

namespace cbtrep::source
{

namespace
{

using Clock = std::chrono::steady_clock;

std::system_error sys_error(int err, const std::string &what)
{
    return std::system_error(err, std::generic_category(), what);
}

int64_t mono_ms()
{
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The watchdog: a child process that thaws `fds` unless told in time that we did. It only
// makes async-signal-safe calls (the parent may be a multi-threaded daemon). Protocol on
// the socket: 'F' = the first filesystem is frozen (the limit starts), 'D' = all thawed,
// exit. EOF (we died) or the limit passing = thaw everything and exit.
[[noreturn]] void watchdog_main(int sock, const int *fds, size_t n, int64_t limit_ms)
{
    struct sigaction ign {
    };
    ign.sa_handler = SIG_IGN;
    // Ctrl-C reaches the whole process group: the watchdog must outlive its parent.
    ::sigaction(SIGINT, &ign, nullptr);
    ::sigaction(SIGTERM, &ign, nullptr);
    ::sigaction(SIGHUP, &ign, nullptr);
    int64_t deadline = -1;
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - mono_ms();
            timeout = left > 0 ? int(std::min<int64_t>(left, 1 << 30)) : 0;
        }
        struct pollfd p = {sock, POLLIN, 0};
        int r = ::poll(&p, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            break; // the limit passed
        char c = 0;
        ssize_t got = r > 0 ? ::read(sock, &c, 1) : -1;
        if (got < 0 && errno == EINTR)
            continue;
        if (got == 1 && c == 'D')
            ::_exit(0);
        if (got == 1 && c == 'F') {
            deadline = mono_ms() + limit_ms;
            continue;
        }
        break; // EOF or error: the parent is gone
    }
    for (size_t i = n; i-- > 0;)
        ::ioctl(fds[i], FITHAW, 0);
    ::_exit(deadline >= 0 && mono_ms() >= deadline ? 2 : 1);
}

// Filesystems frozen for one tag; thawed by thaw() or, on any error path, the destructor.
class Freezer
{
  public:
    Freezer(const std::vector<std::string> &mountpoints, std::chrono::milliseconds limit)
    {
        for (const auto &m : mountpoints) {
            UniqueFd fd(::open(m.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!fd)
                throw sys_error(errno, m + ": open (mountpoint to freeze)");
            struct stat st;
            if (::fstat(fd.get(), &st) != 0)
                throw sys_error(errno, m + ": stat");
            // Two paths of one filesystem: freezing it twice would fail with EBUSY.
            if (std::find(devs_.begin(), devs_.end(), st.st_dev) != devs_.end())
                continue;
            devs_.push_back(st.st_dev);
            paths_.push_back(m);
            raw_.push_back(fd.get());
            fds_.push_back(std::move(fd));
        }
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            throw sys_error(errno, "socketpair (freeze watchdog)");
        pid_t pid = ::fork();
        if (pid < 0) {
            int e = errno;
            ::close(sv[0]);
            ::close(sv[1]);
            throw sys_error(e, "fork (freeze watchdog)");
        }
        if (pid == 0) {
            ::close(sv[0]);
            watchdog_main(sv[1], raw_.data(), raw_.size(), limit.count());
        }
        ::close(sv[1]);
        sock_.reset(sv[0]);
        child_ = pid;
        for (size_t i = 0; i < fds_.size(); i++) {
            if (::ioctl(fds_[i].get(), FIFREEZE, 0) != 0) {
                int e = errno;
                thaw_quietly();
                throw sys_error(e, paths_[i] + ": FIFREEZE" +
                                       (e == EBUSY ? " (already frozen by someone else?)" : ""));
            }
            if (i == 0) {
                first_frozen_ = Clock::now();
                tell('F');
            }
            frozen_ = i + 1;
        }
    }
    Freezer(const Freezer &) = delete;
    Freezer &operator=(const Freezer &) = delete;
    ~Freezer() { thaw_quietly(); }

    // Thaws (newest first); throws naming the first filesystem that could not be thawed.
    // Returns how long the first one was frozen.
    std::chrono::microseconds thaw()
    {
        std::string failed;
        int err = 0;
        for (size_t i = frozen_; i-- > 0;)
            if (::ioctl(fds_[i].get(), FITHAW, 0) != 0 && failed.empty()) {
                err = errno;
                failed = paths_[i];
            }
        auto took =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - first_frozen_);
        frozen_ = 0;
        int wd = finish_watchdog();
        if (!failed.empty())
            throw sys_error(err,
                            failed + ": FITHAW" +
                                (wd == 2 ? " (the watchdog had thawed it: freeze limit)" : ""));
        return took;
    }

    Clock::time_point first_frozen() const { return first_frozen_; }
    const std::vector<std::string> &paths() const { return paths_; }

  private:
    void tell(char c)
    {
        while (::send(sock_.get(), &c, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
        }
    }
    // Returns the watchdog's exit code (2: it thawed at the limit), -1 if unknown.
    int finish_watchdog()
    {
        if (child_ <= 0)
            return -1;
        tell('D');
        sock_.reset();
        int status = 0;
        while (::waitpid(child_, &status, 0) < 0 && errno == EINTR) {
        }
        child_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    void thaw_quietly() noexcept
    {
        for (size_t i = frozen_; i-- > 0;)
            ::ioctl(fds_[i].get(), FITHAW, 0);
        frozen_ = 0;
        finish_watchdog();
    }

    std::vector<UniqueFd> fds_;
    std::vector<int> raw_;
    std::vector<dev_t> devs_;
    std::vector<std::string> paths_;
    size_t frozen_ = 0;
    UniqueFd sock_;
    pid_t child_ = -1;
    Clock::time_point first_frozen_{};
};

std::string unescape_mountinfo(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 3 < s.size() && std::isdigit((unsigned char)s[i + 1])) {
            out += char(std::stoi(s.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

} // namespace

std::vector<std::string> mountpoints_of(const std::string &device)
{
    struct stat st;
    if (::stat(device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode))
        return {};
    std::string want = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mountpoint ...
        std::istringstream ls(line);
        std::string id, parent, mm, root, mnt;
        if (ls >> id >> parent >> mm >> root >> mnt && mm == want)
            return {unescape_mountinfo(mnt)}; // one per filesystem: freezing it freezes all
    }
    return {};
}

TagResult take_tag(const TagRequest &req)
{
    auto t = ioc_init<cbt_ioc_tag>();
    if (req.name.empty() || req.name.size() >= sizeof(t.tag_name))
        throw std::invalid_argument("tag name must be 1.." +
                                    std::to_string(sizeof(t.tag_name) - 1) + " bytes");
    if (req.devices.empty() || req.devices.size() > CBT_TAG_MAX_DEVICES)
        throw std::invalid_argument("a tag needs 1.." + std::to_string(CBT_TAG_MAX_DEVICES) +
                                    " devices");
    req.name.copy(t.tag_name, sizeof(t.tag_name) - 1);
    for (size_t i = 0; i < req.devices.size(); i++) {
        const std::string &d = req.devices[i];
        if (!cbt_name_valid(d.c_str(), std::min<size_t>(d.size() + 1, CBT_NAME_LEN)))
            throw std::invalid_argument("bad device name \"" + d + "\"");
        d.copy(t.devices[i], CBT_NAME_LEN - 1);
    }
    t.nr_devices = uint32_t(req.devices.size());
    if (!req.freeze.empty())
        t.flags = CBT_TAG_APP_CONSISTENT;

    // Everything that can fail without side effects comes before the freeze.
    UniqueFd ctl = open_ctl(req.ctl);
    TagResult res;
    res.app = !req.freeze.empty();
    std::string what = "TAG '" + req.name + "'";
    if (!res.app) {
        int e = 0;
        while (::ioctl(ctl.get(), CBT_IOC_TAG, &t) != 0 && (e = errno) == EINTR)
            e = 0;
        if (e == EBUSY)
            throw TagBusy(e, std::generic_category(), req.ctl + ": " + what);
        if (e)
            throw sys_error(e, req.ctl + ": " + what);
    } else {
        Freezer fz(req.freeze, req.freeze_limit);
        // Tests only: a frozen window long enough to kill us in, or to outlast the limit.
        if (const char *pause = std::getenv("CBTREP_TEST_FREEZE_PAUSE_MS"))
            ::usleep(useconds_t(std::strtoul(pause, nullptr, 10) * 1000));
        int e = 0;
        while (::ioctl(ctl.get(), CBT_IOC_TAG, &t) != 0 && (e = errno) == EINTR)
            e = 0;
        auto tagged = Clock::now();
        // Thaw before reporting anything: the applications wait on us.
        res.frozen_for = fz.thaw();
        res.frozen = fz.paths();
        if (e == EBUSY)
            throw TagBusy(e, std::generic_category(), req.ctl + ": " + what);
        if (e)
            throw sys_error(e, req.ctl + ": " + what);
        if (tagged - fz.first_frozen() > req.freeze_limit)
            throw std::runtime_error(
                what + " (tag id " + std::to_string(t.tag_id) + ") was cut " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   tagged - fz.first_frozen())
                                   .count()) +
                " ms after the freeze, past the " + std::to_string(req.freeze_limit.count()) +
                " ms limit: the watchdog may have thawed first, do not rely on it as "
                "app-consistent");
    }
    res.tag_id = t.tag_id;
    res.seqs.assign(t.seqs, t.seqs + req.devices.size());
    return res;
}

} // namespace cbtrep::source
