// The target side of a remote resync or verify session. cbtrep-target hands a connection
// over here when a client sends RS_BEGIN after HELLO (the replica is then owned by this
// connection, no batch is in progress); this runs the session to its end.
#pragma once

#include <cstdint>
#include <string>

namespace cbtrep::transport
{
class FrameConn;
struct Frame;
} // namespace cbtrep::transport

namespace cbtrep::resync
{

// Answers hash requests from the replica at replica_path and applies EXTENT frames (each
// validated: bounds by the frame layer, then decoded and digest-checked) until the client
// closes. Every failure is reported to the client as an ERROR frame and logged; nothing is
// thrown.
void serve_resync(transport::FrameConn &conn, const transport::Frame &begin,
                  const std::string &replica_name, const std::string &replica_path,
                  uint64_t replica_bytes);

} // namespace cbtrep::resync
