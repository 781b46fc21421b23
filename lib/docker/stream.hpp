// Internal to lib/docker/: the socket type both the client and the events stream use,
// and the mapping of transport errors to Error. Not part of the edge's public API.
#pragma once
#include <expected>
#include <string>

#include "docker/error.hpp"
#include "docker/net.hpp"

namespace cdp::docker {

// A unix-socket stream with Beast's built-in deadline (expires_after covers connect,
// write and read alike; Boost 1.74 has no awaitable operators to race a timer with).
using HttpStream = beast::basic_stream<local_stream, asio::any_io_executor, beast::unlimited_rate_policy>;

// "Failed to <what>: <why>". A deadline -> Kind::timeout; any failure while connecting ->
// Kind::unreachable; EOF / reset / abort afterwards -> Kind::closed; the rest -> protocol.
Error transport_error(const boost::system::error_code& ec, const std::string& what, bool connecting);

// The endpoint for a socket path; Kind::unreachable when the path cannot be one (too long
// for sun_path: Asio would throw, and a bad docker.host must not crash the daemon).
std::expected<local_stream::endpoint, Error> make_endpoint(const std::string& path, const std::string& what);

}  // namespace cdp::docker
