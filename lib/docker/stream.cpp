// Transport error mapping shared by the client and the events stream (see stream.hpp).
// Must not log: callers decide.
#include "docker/stream.hpp"

#include <fmt/format.h>

namespace cdp::docker {

Error transport_error(const boost::system::error_code& ec, const std::string& what, bool connecting) {
  Error e;
  if (ec == beast::error::timeout) {
    e.kind = Error::Kind::timeout;
    e.message = fmt::format("Failed to {}: timed out", what);
    return e;
  }
  e.message = fmt::format("Failed to {}: {}", what, ec.message());
  if (connecting)
    e.kind = Error::Kind::unreachable;
  else if (ec == asio::error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
    e.kind = Error::Kind::closed;
  else
    e.kind = Error::Kind::protocol;
  return e;
}

std::expected<local_stream::endpoint, Error> make_endpoint(const std::string& path, const std::string& what) {
  try {
    return local_stream::endpoint(path);
  } catch (const std::exception& ex) {
    Error e;
    e.kind = Error::Kind::unreachable;
    e.message = fmt::format("Failed to {}: bad socket path: {}", what, ex.what());
    return std::unexpected(std::move(e));
  }
}

}  // namespace cdp::docker
