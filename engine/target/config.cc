#include "config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <cbtrep/abi.h>
#include <cbtrep/wire.h>

#include "common/error.h"

namespace cbtrep::target
{
namespace
{

using json = nlohmann::json;

struct Ctx {
    std::string origin;
    std::string base_dir;
    [[noreturn]] void fail(const std::string &key, const std::string &msg) const
    {
        throw Error(cat(origin, ": ", key, ": ", msg), false);
    }
    std::string path(const std::string &p) const
    {
        if (p.empty() || p[0] == '/' || base_dir.empty())
            return p;
        return base_dir + "/" + p;
    }
};

void only_keys(const Ctx &c, const json &obj, const std::string &where,
               std::initializer_list<const char *> keys)
{
    std::set<std::string> allowed(keys.begin(), keys.end());
    for (auto it = obj.begin(); it != obj.end(); ++it)
        if (!allowed.count(it.key()))
            c.fail(where.empty() ? it.key() : where + "." + it.key(), "unknown key");
}

const json &object(const Ctx &c, const json &parent, const std::string &key,
                   const std::string &where)
{
    if (!parent.contains(key))
        c.fail(where, "missing");
    const json &v = parent.at(key);
    if (!v.is_object())
        c.fail(where, "must be an object");
    return v;
}

std::string string_at(const Ctx &c, const json &parent, const std::string &key,
                      const std::string &where, bool required, const std::string &def = "")
{
    if (!parent.contains(key)) {
        if (required)
            c.fail(where, "missing");
        return def;
    }
    const json &v = parent.at(key);
    if (!v.is_string() || v.get<std::string>().empty())
        c.fail(where, "must be a non-empty string");
    return v.get<std::string>();
}

uint64_t uint_at(const Ctx &c, const json &parent, const std::string &key, const std::string &where,
                 uint64_t def, uint64_t min, uint64_t max)
{
    if (!parent.contains(key))
        return def;
    const json &v = parent.at(key);
    if (!v.is_number_unsigned())
        c.fail(where, "must be a non-negative integer");
    uint64_t n = v.get<uint64_t>();
    if (n < min || n > max)
        c.fail(where, cat("must be between ", min, " and ", max));
    return n;
}

} // namespace

TargetConfig parse_config(const std::string &text, const std::string &origin,
                          const std::string &base_dir)
{
    Ctx c{origin, base_dir};
    json root;
    try {
        root = json::parse(text);
    } catch (const json::parse_error &e) {
        throw Error(cat(origin, ": not valid JSON: ", e.what()), false);
    }
    if (!root.is_object())
        c.fail("(top level)", "must be an object");
    only_keys(c, root, "",
              {"listen", "tls", "state_dir", "max_window", "io_timeout_s", "handshake_timeout_s",
               "apply_buffer_mib", "retention", "replicas"});

    TargetConfig cfg;
    const json &listen = object(c, root, "listen", "listen");
    only_keys(c, listen, "listen", {"address", "port"});
    cfg.listen_address = string_at(c, listen, "address", "listen.address", false, "0.0.0.0");
    cfg.port = static_cast<uint16_t>(uint_at(c, listen, "port", "listen.port", 7420, 0, 65535));

    const json &tls = object(c, root, "tls", "tls");
    only_keys(c, tls, "tls", {"ca", "cert", "key"});
    cfg.tls.ca_file = c.path(string_at(c, tls, "ca", "tls.ca", true));
    cfg.tls.cert_file = c.path(string_at(c, tls, "cert", "tls.cert", true));
    cfg.tls.key_file = c.path(string_at(c, tls, "key", "tls.key", true));

    cfg.state_dir = c.path(string_at(c, root, "state_dir", "state_dir", true));
    cfg.max_window = static_cast<uint32_t>(
        uint_at(c, root, "max_window", "max_window", 8, 1, CBT_WIRE_MAX_WINDOW));
    cfg.io_timeout =
        std::chrono::seconds(uint_at(c, root, "io_timeout_s", "io_timeout_s", 60, 1, 86400));
    cfg.handshake_timeout = std::chrono::seconds(
        uint_at(c, root, "handshake_timeout_s", "handshake_timeout_s", 10, 1, 3600));
    cfg.apply_buffer_bytes = uint_at(c, root, "apply_buffer_mib", "apply_buffer_mib", 16, 4, 4096)
                             << 20;

    // Recovery points (docs/points.md): one policy for every replica.
    points::Retention retention;
    if (root.contains("retention")) {
        const json &ret = object(c, root, "retention", "retention");
        only_keys(c, ret, "retention", {"max_age_s", "max_mib"});
        retention.max_age_s =
            uint_at(c, ret, "max_age_s", "retention.max_age_s", retention.max_age_s, 0, UINT32_MAX);
        retention.max_bytes = uint_at(c, ret, "max_mib", "retention.max_mib", 0, 0, 1ull << 40)
                              << 20;
    }

    const json &reps = object(c, root, "replicas", "replicas");
    if (reps.empty())
        c.fail("replicas", "at least one replica is required");
    for (auto it = reps.begin(); it != reps.end(); ++it) {
        std::string where = "replicas." + it.key();
        if (it.key().size() >= CBT_NAME_LEN || !cbt_name_valid(it.key().c_str(), CBT_NAME_LEN))
            c.fail(where,
                   cat("replica names use [A-Za-z0-9._-], 1..", CBT_NAME_LEN - 1, " characters"));
        const json &r = it.value();
        if (!r.is_object())
            c.fail(where, "must be an object");
        only_keys(c, r, where, {"path", "size", "create_from_source", "allowed_clients"});
        ReplicaSpec spec;
        spec.name = it.key();
        spec.retention = retention;
        spec.path = c.path(string_at(c, r, "path", where + ".path", true));
        spec.create_bytes = uint_at(c, r, "size", where + ".size", 0, 0, UINT64_MAX);
        if (spec.create_bytes % CBT_SECTOR_SIZE)
            c.fail(where + ".size", "must be a multiple of 512");
        if (r.contains("create_from_source")) {
            if (!r.at("create_from_source").is_boolean())
                c.fail(where + ".create_from_source", "must be true or false");
            spec.create_from_source = r.at("create_from_source").get<bool>();
        }
        if (!r.contains("allowed_clients"))
            c.fail(where + ".allowed_clients",
                   "missing (list the client certificate names allowed, or [\"*\"])");
        const json &ac = r.at("allowed_clients");
        if (!ac.is_array() || ac.empty())
            c.fail(where + ".allowed_clients", "must be a non-empty array of names");
        for (size_t i = 0; i < ac.size(); i++) {
            if (!ac[i].is_string() || ac[i].get<std::string>().empty())
                c.fail(cat(where, ".allowed_clients[", i, "]"), "must be a non-empty string");
            spec.allowed_clients.push_back(ac[i].get<std::string>());
        }
        cfg.replicas.push_back(std::move(spec));
    }
    return cfg;
}

TargetConfig load_config(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw Error(cat("cannot read configuration ", path), false);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string dir;
    auto slash = path.find_last_of('/');
    if (slash != std::string::npos)
        dir = path.substr(0, slash);
    return parse_config(ss.str(), path, dir);
}

} // namespace cbtrep::target
