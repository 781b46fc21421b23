// The one error type of the Docker edge. Library code returns it; the daemon/commands log it.
#pragma once
#include <string>

namespace cdp::docker {
struct Error {
  enum class Kind {
    unreachable,  // connect failed (no socket, refused, permission)
    timeout,      // the request's deadline passed
    http,         // the engine answered with a non-2xx status (status, message from its JSON)
    protocol,     // a reply we could not read or parse
    closed,       // the peer closed (events stream EOF, partial message)
    bad_input,    // events: a line over 1 MiB was dropped; the stream goes on (re-list)
  };
  Kind kind = Kind::protocol;
  unsigned status = 0;   // HTTP status for Kind::http
  std::string message;   // "Failed to <verb> <object>: <why>"
};
}  // namespace cdp::docker
