// Asio aliases (util/net.hpp) plus Beast's, for the Docker client: the HTTP layer is
// this room's business. Other rooms include util/net.hpp.
#pragma once
#include "util/net.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace cdp {
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace cdp
