#include "config.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <cbtrep/abi.h>
#include <nlohmann/json.hpp>

namespace cbtrep::config
{

namespace
{

using json = nlohmann::json;

// Walks the JSON with the key path kept, so every error names its key, and rejects keys
// nobody reads (a typo must not silently fall back to a default).
class Node
{
  public:
    Node(const json &j, std::string key, const std::string &origin)
        : j_(j), key_(std::move(key)), origin_(origin)
    {
    }

    [[noreturn]] void fail(const std::string &what) const
    {
        throw ConfigError(origin_ + ": " + (key_.empty() ? "(top level)" : key_) + ": " + what);
    }
    std::string path(const std::string &k) const { return key_.empty() ? k : key_ + "." + k; }
    [[noreturn]] void missing(const std::string &k, const std::string &what = "is required") const
    {
        throw ConfigError(origin_ + ": " + path(k) + ": " + what);
    }
    Node child(const std::string &k) const
    {
        return Node(j_.at(k), key_.empty() ? k : key_ + "." + k, origin_);
    }
    bool has(const std::string &k) const { return j_.contains(k) && !j_.at(k).is_null(); }
    const json &raw() const { return j_; }
    const std::string &key() const { return key_; }
    const std::string &origin() const { return origin_; }

    void require_object(std::initializer_list<const char *> allowed) const
    {
        if (!j_.is_object())
            fail("must be an object");
        std::set<std::string> ok(allowed.begin(), allowed.end());
        for (auto it = j_.begin(); it != j_.end(); ++it)
            if (!ok.count(it.key()))
                child(it.key()).fail("unknown key");
    }
    std::string str(const std::string &k, const std::string &def, bool required = false) const
    {
        if (!has(k)) {
            if (required)
                missing(k);
            return def;
        }
        Node c = child(k);
        if (!c.j_.is_string())
            c.fail("must be a string");
        std::string s = c.j_.get<std::string>();
        if (required && s.empty())
            c.fail("must not be empty");
        return s;
    }
    uint64_t uint(const std::string &k, uint64_t def, uint64_t lo, uint64_t hi) const
    {
        if (!has(k))
            return def;
        Node c = child(k);
        if (!c.j_.is_number_integer() ||
            (c.j_.is_number_integer() && c.j_.get<int64_t>() < 0 && !c.j_.is_number_unsigned()))
            c.fail("must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
        uint64_t v = c.j_.get<uint64_t>();
        if (v < lo || v > hi)
            c.fail("must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
                   ", got " + std::to_string(v));
        return v;
    }
    double number(const std::string &k, double def, double lo, double hi) const
    {
        if (!has(k))
            return def;
        Node c = child(k);
        if (!c.j_.is_number())
            c.fail("must be a number");
        double v = c.j_.get<double>();
        if (v < lo || v > hi) {
            std::ostringstream os;
            os << "must be between " << lo << " and " << hi << ", got " << v;
            c.fail(os.str());
        }
        return v;
    }
    bool boolean(const std::string &k, bool def) const
    {
        if (!has(k))
            return def;
        Node c = child(k);
        if (!c.j_.is_boolean())
            c.fail("must be true or false");
        return c.j_.get<bool>();
    }

  private:
    const json &j_;
    std::string key_;
    const std::string &origin_;
};

std::chrono::milliseconds seconds_ms(double s)
{
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0 + 0.5));
}

bool name_ok(const std::string &n)
{
    return !n.empty() && n.size() < CBT_NAME_LEN && cbt_name_valid(n.c_str(), n.size() + 1);
}

DeviceConfig parse_device(const Node &d)
{
    d.require_object({"name", "device", "source", "target", "initial_sync", "exit_when_drained",
                      "spool", "resync", "points"});
    DeviceConfig dev;
    dev.name = d.str("name", "", true);
    if (!name_ok(dev.name))
        d.child("name").fail("must be 1-31 characters of [A-Za-z0-9._-]");
    dev.device = d.str("device", "");

    if (!d.has("source"))
        d.missing("source");
    Node s = d.child("source");
    s.require_object({"type", "path", "cursor", "bitmap_dir", "follow", "ctl"});
    dev.source.type = s.str("type", "", true);
    if (dev.source.type == "file") {
        dev.source.path = s.str("path", "", true);
        dev.source.cursor = s.str("cursor", "");
        dev.source.bitmap_dir = s.str("bitmap_dir", "");
        dev.source.follow = s.boolean("follow", false);
    } else if (dev.source.type == "kernel") {
        dev.source.ctl = s.str("ctl", "/dev/cbtrep-ctl");
        if (dev.device.empty())
            d.child("name").fail("a kernel source needs \"device\" (the tracked block device)");
    } else {
        s.child("type").fail("must be \"file\" or \"kernel\", got \"" + dev.source.type + "\"");
    }

    if (!d.has("target"))
        d.missing("target");
    Node t = d.child("target");
    t.require_object({"host", "port", "replica", "server_name"});
    dev.target.host = t.str("host", "", true);
    if (!t.has("port"))
        t.missing("port");
    dev.target.port = static_cast<uint16_t>(t.uint("port", 0, 1, 65535));
    dev.target.replica = t.str("replica", dev.name);
    if (!name_ok(dev.target.replica))
        t.child("replica").fail("must be 1-31 characters of [A-Za-z0-9._-]");
    dev.target.server_name = t.str("server_name", "");

    if (d.has("spool")) {
        Node sp = d.child("spool");
        sp.require_object({"dir", "limit_pct", "limit_bytes", "reserve_bytes", "segment_bytes"});
        dev.spool.dir = sp.str("dir", "", true);
        dev.spool.limit_pct = static_cast<uint32_t>(sp.uint("limit_pct", 50, 1, 100));
        dev.spool.limit_bytes = sp.uint("limit_bytes", 0, 0, ~0ull);
        dev.spool.reserve_bytes = sp.uint("reserve_bytes", 256ull << 20, 0, ~0ull);
        dev.spool.segment_bytes = sp.uint("segment_bytes", 64ull << 20, 1ull << 20, 1ull << 40);
    }

    if (d.has("resync")) {
        Node rs = d.child("resync");
        rs.require_object({"start", "window", "max_rate"});
        std::string start = rs.str("start", "immediately");
        if (start == "window")
            dev.resync.windowed = true;
        else if (start != "immediately")
            rs.child("start").fail("must be \"immediately\" or \"window\"");
        if (dev.resync.windowed && !rs.has("window"))
            rs.missing("window", "is required with \"start\": \"window\" (\"HH:MM-HH:MM\")");
        if (rs.has("window")) {
            std::string w = rs.str("window", "");
            unsigned h1, m1, h2, m2;
            char tail;
            if (std::sscanf(w.c_str(), "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) != 4 ||
                h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || (h2 == 24 && m2) ||
                h1 * 60 + m1 == h2 * 60 + m2)
                rs.child("window").fail(
                    "must be \"HH:MM-HH:MM\" (local time, start != end), got \"" + w + "\"");
            dev.resync.window_start_min = h1 * 60 + m1;
            dev.resync.window_end_min = h2 * 60 + m2;
        }
        dev.resync.max_rate = rs.uint("max_rate", 0, 0, ~0ull);
        if (dev.device.empty())
            d.child("resync").fail("needs \"device\" to read from");
    }

    if (d.has("points")) {
        Node pt = d.child("points");
        pt.require_object({"crash_interval_s", "app_interval_s", "freeze", "freeze_limit_ms"});
        dev.points.crash_interval_s =
            static_cast<uint32_t>(pt.uint("crash_interval_s", 300, 0, 7 * 86400));
        dev.points.app_interval_s =
            static_cast<uint32_t>(pt.uint("app_interval_s", 3600, 0, 7 * 86400));
        dev.points.freeze_limit_ms =
            static_cast<uint32_t>(pt.uint("freeze_limit_ms", 10000, 100, 600000));
        if (pt.has("freeze")) {
            Node fz = pt.child("freeze");
            if (!fz.raw().is_array())
                fz.fail("must be an array of mountpoints");
            for (size_t i = 0; i < fz.raw().size(); i++) {
                Node e(fz.raw()[i], fz.key() + "[" + std::to_string(i) + "]", d.origin());
                if (!e.raw().is_string() || e.raw().get<std::string>().empty() ||
                    e.raw().get<std::string>()[0] != '/')
                    e.fail("must be an absolute path (a mountpoint)");
                dev.points.freeze.push_back(e.raw().get<std::string>());
            }
        }
    }

    std::string is = d.str("initial_sync", "auto");
    if (is == "auto")
        dev.initial_sync = InitialSync::auto_;
    else if (is == "always")
        dev.initial_sync = InitialSync::always;
    else if (is == "never")
        dev.initial_sync = InitialSync::never;
    else
        d.child("initial_sync").fail("must be \"auto\", \"always\" or \"never\"");
    if (dev.initial_sync != InitialSync::never && dev.device.empty() && d.has("initial_sync"))
        d.child("initial_sync").fail("needs \"device\" to copy from");
    dev.exit_when_drained = d.boolean("exit_when_drained", false);
    return dev;
}

} // namespace

namespace
{
void resolve(std::string &path, const std::string &base)
{
    if (!path.empty() && path[0] != '/' && !base.empty())
        path = base + "/" + path;
}
} // namespace

Config parse(const std::string &text, const std::string &origin, const std::string &base_dir)
{
    json root;
    try {
        root = json::parse(text);
    } catch (const json::parse_error &e) {
        throw ConfigError(origin + ": not valid JSON: " + e.what());
    }
    Config c;
    c.path = origin;
    Node r(root, "", origin);
    r.require_object({"status_dir", "state_dir", "metrics", "log_level", "tls",
                      "max_inflight_bytes", "chunk_bytes", "compress", "lz4_acceleration",
                      "threads", "window", "sync_batch_bytes", "io_timeout_s", "reader", "retry",
                      "devices"});
    c.status_dir = r.str("status_dir", c.status_dir);
    c.state_dir = r.str("state_dir", c.state_dir);
    c.log_level = r.str("log_level", c.log_level);
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
        c.log_level != "error")
        r.child("log_level").fail("must be debug, info, warn or error");

    if (r.has("metrics")) {
        Node m = r.child("metrics");
        m.require_object({"listen", "port"});
        c.metrics_listen = m.str("listen", c.metrics_listen);
        c.metrics_port = static_cast<uint16_t>(m.uint("port", 0, 0, 65535));
    }
    if (!r.has("tls"))
        r.missing("tls", "is required (ca, cert, key)");
    Node t = r.child("tls");
    t.require_object({"ca", "cert", "key"});
    c.tls_ca = t.str("ca", "", true);
    c.tls_cert = t.str("cert", "", true);
    c.tls_key = t.str("key", "", true);

    c.max_inflight_bytes = r.uint("max_inflight_bytes", c.max_inflight_bytes, 1u << 20, 1ull << 40);
    c.chunk_bytes =
        static_cast<uint32_t>(r.uint("chunk_bytes", c.chunk_bytes, 64 * 1024, 4u << 20));
    if (c.chunk_bytes % 4096)
        r.child("chunk_bytes").fail("must be a multiple of 4096");
    c.compress = r.boolean("compress", c.compress);
    c.lz4_acceleration = static_cast<int>(r.uint("lz4_acceleration", 1, 1, 65537));
    c.threads = static_cast<unsigned>(r.uint("threads", c.threads, 1, 64));
    c.window = static_cast<uint32_t>(r.uint("window", c.window, 1, 64));
    c.sync_batch_bytes = r.uint("sync_batch_bytes", c.sync_batch_bytes, 1u << 20, 1ull << 36);
    c.io_timeout = seconds_ms(r.number("io_timeout_s", 60, 0.1, 86400));
    if (c.max_inflight_bytes < 2ull * c.chunk_bytes)
        r.child("max_inflight_bytes").fail("must be at least twice chunk_bytes");

    if (r.has("reader")) {
        Node rd = r.child("reader");
        rd.require_object({"backend", "queue_depth", "direct"});
        c.reader_backend = rd.str("backend", c.reader_backend);
        if (c.reader_backend != "auto" && c.reader_backend != "io_uring" &&
            c.reader_backend != "libaio" && c.reader_backend != "pread")
            rd.child("backend").fail("must be auto, io_uring, libaio or pread");
        c.queue_depth = static_cast<unsigned>(rd.uint("queue_depth", c.queue_depth, 1, 256));
        c.direct_io = rd.boolean("direct", c.direct_io);
    }

    c.retry.steps = {std::chrono::seconds(1), std::chrono::seconds(2), std::chrono::seconds(4),
                     std::chrono::seconds(8), std::chrono::seconds(10)};
    if (r.has("retry")) {
        Node rt = r.child("retry");
        rt.require_object({"steps_s", "steady_s", "jitter"});
        if (rt.has("steps_s")) {
            Node st = rt.child("steps_s");
            if (!st.raw().is_array() || st.raw().empty())
                st.fail("must be a non-empty array of seconds");
            c.retry.steps.clear();
            for (size_t i = 0; i < st.raw().size(); i++) {
                Node e(st.raw()[i], st.key() + "[" + std::to_string(i) + "]", origin);
                if (!e.raw().is_number() || e.raw().get<double>() <= 0 ||
                    e.raw().get<double>() > 86400)
                    e.fail("must be a number of seconds in (0, 86400]");
                c.retry.steps.push_back(seconds_ms(e.raw().get<double>()));
            }
        }
        c.retry.steady = seconds_ms(rt.number("steady_s", 1800, 0.001, 7 * 86400));
        c.retry.jitter = rt.number("jitter", c.retry.jitter, 0, 0.5);
    }

    if (!r.has("devices"))
        r.missing("devices", "is required (one entry per protected device)");
    Node ds = r.child("devices");
    if (!ds.raw().is_array() || ds.raw().empty())
        ds.fail("must be a non-empty array");
    std::set<std::string> names;
    for (size_t i = 0; i < ds.raw().size(); i++) {
        Node d(ds.raw()[i], "devices[" + std::to_string(i) + "]", origin);
        DeviceConfig dev = parse_device(d);
        if (!names.insert(dev.name).second)
            d.child("name").fail("duplicate device name \"" + dev.name + "\"");
        c.devices.push_back(std::move(dev));
    }
    for (std::string *p : {&c.status_dir, &c.state_dir, &c.tls_ca, &c.tls_cert, &c.tls_key})
        resolve(*p, base_dir);
    for (DeviceConfig &d : c.devices)
        for (std::string *p :
             {&d.device, &d.source.path, &d.source.cursor, &d.source.bitmap_dir, &d.spool.dir})
            resolve(*p, base_dir);
    return c;
}

Config load(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw ConfigError(path + ": cannot open the configuration file");
    std::stringstream ss;
    ss << in.rdbuf();
    auto slash = path.rfind('/');
    std::string base = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
    return parse(ss.str(), path, base);
}

} // namespace cbtrep::config
