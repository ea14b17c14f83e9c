// <state_dir>/<replica>.reverse: see lifecycle.h and docs/points.md.
#include "points/lifecycle.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "points/store.h"
#include <cbtrep/replica_store.h>

namespace cbtrep::points
{
namespace
{

constexpr Reverse kAll[] = {Reverse::reprotecting, Reverse::reverse_protected,
                            Reverse::failback_pending, Reverse::failed_back};

uint64_t to_u64(const std::string &path, const std::string &key, const std::string &v)
{
    char *end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end || errno)
        throw StoreError(path + ": " + key + "=" + v + " is not a number");
    return n;
}

} // namespace

const char *reverse_name(Reverse r)
{
    switch (r) {
    case Reverse::reprotecting:
        return "reprotecting";
    case Reverse::reverse_protected:
        return "reverse-protected";
    case Reverse::failback_pending:
        return "failback-pending";
    case Reverse::failed_back:
        return "failed-back";
    }
    return "?";
}

std::string reverse_path(const std::string &state_dir, const std::string &replica)
{
    return state_dir + "/" + replica + ".reverse";
}

std::optional<ReverseRecord> load_reverse(const std::string &state_dir, const std::string &replica)
{
    std::string path = reverse_path(state_dir, replica);
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT)
            return std::nullopt;
        throw StoreError("reading " + path + ": " + std::strerror(errno));
    }
    std::map<std::string, std::string> kv;
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos)
            kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    ReverseRecord r;
    bool known = false;
    for (Reverse s : kAll)
        if (kv["state"] == reverse_name(s)) {
            r.state = s;
            known = true;
        }
    if (!known)
        throw StoreError(path + ": unknown state '" + kv["state"] + "'");
    r.to = kv["to"];
    if (r.to.empty())
        throw StoreError(path + ": no 'to' (the original site's replica)");
    r.since_ns = to_u64(path, "since_unix_ns", kv["since_unix_ns"]);
    r.failover_point = to_u64(path, "failover_point", kv["failover_point"]);
    return r;
}

void save_reverse(const std::string &state_dir, const std::string &replica, const ReverseRecord &r)
{
    std::ostringstream os;
    os << "state=" << reverse_name(r.state) << "\n"
       << "to=" << r.to << "\n"
       << "since_unix_ns=" << r.since_ns << "\n"
       << "failover_point=" << r.failover_point << "\n";
    std::string s = os.str();
    write_atomic(reverse_path(state_dir, replica), s.data(), s.size());
}

void remove_reverse(const std::string &state_dir, const std::string &replica)
{
    std::string path = reverse_path(state_dir, replica);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw StoreError("removing " + path + ": " + std::strerror(errno));
    fsync_dir(state_dir);
}

std::optional<Reverse> active_reverse(const std::string &state_dir, const std::string &replica,
                                      uint32_t state_flags)
{
    std::optional<ReverseRecord> r = load_reverse(state_dir, replica);
    if (!r)
        return std::nullopt;
    if (r->state == Reverse::failed_back && !(state_flags & target::kStateRolledBack))
        return std::nullopt;
    return r->state;
}

} // namespace cbtrep::points
