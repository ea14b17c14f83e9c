// TLS settings shared by the client (ReplicaSession) and the server (cbtrep-target).
#pragma once

#include <string>

namespace cbtrep::transport
{

// Certificates and keys are PEM files; ca_file is the CA that must have signed the peer.
// server_name (client only) is the name the target's certificate must carry (SAN DNS or IP,
// or CN); empty means "the host passed to connect()".
struct TlsConfig {
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string server_name;
};

} // namespace cbtrep::transport
