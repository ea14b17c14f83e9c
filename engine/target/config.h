// cbtrep-target configuration: one JSON file. Every error names the key at fault
// ("replicas.vm1.path: missing"), and unknown keys are errors, so a typo never silently
// falls back to a default.
//
// {
//   "listen": {"address": "0.0.0.0", "port": 7420},
//   "tls": {"ca": "ca.pem", "cert": "target.pem", "key": "target.key"},
//   "state_dir": "/var/lib/cbtrep-target",
//   "max_window": 8, "io_timeout_s": 60, "handshake_timeout_s": 10, "apply_buffer_mib": 16,
//   "retention": {"max_age_s": 86400, "max_mib": 0},   (recovery points; 0 = no bound)
//   "replicas": {
//     "vm1-disk0": {"path": "/srv/vm1.img", "size": 10737418240,
//                   "allowed_clients": ["engine1.example.com"]}
//   }
// }
//
// Relative paths are relative to the configuration file's directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "target/applier.h"
#include "transport/tls_config.h"

namespace cbtrep::target
{

struct TargetConfig {
    std::string listen_address = "0.0.0.0";
    uint16_t port = 7420;
    transport::TlsConfig tls;
    std::string state_dir;
    uint32_t max_window = 8;
    std::chrono::milliseconds io_timeout{60000};
    std::chrono::milliseconds handshake_timeout{10000};
    size_t apply_buffer_bytes = 16u << 20;
    std::vector<ReplicaSpec> replicas;
};

// Throws cbtrep::Error (not recoverable) naming the file and the key.
TargetConfig load_config(const std::string &path);
TargetConfig parse_config(const std::string &json_text, const std::string &origin,
                          const std::string &base_dir);

} // namespace cbtrep::target
