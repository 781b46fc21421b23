// Asio aliases for the whole project (CppCon2018's net.hpp). Include this, not Boost
// directly: Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// Beast (HTTP) is in docker/net.hpp: only the Docker client needs it.
#pragma once
// GCC 12 flags Asio 1.74's awaitable frame (its own operator new/delete, recycled through
// thread_info_base) as mismatched once a coroutine call is inlined: a false positive.
// Silenced here, for every file that uses coroutines (a pragma in a header leaks to its
// includers on purpose).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cdp {
namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
template <typename T = void>
using awaitable = asio::awaitable<T>;
inline constexpr auto use_awaitable = asio::use_awaitable;
}  // namespace cdp
