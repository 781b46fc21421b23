// The one TU that compiles Asio's and Beast's non-template code (their "separate
// compilation" mode: BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION,
// defined for every TU in CMakeLists.txt). Without it every TU that includes Asio
// compiles the scheduler, reactor and error categories inline again (issue 9, build time).
// Built into cdp_asio (util/net.hpp's target), not into the util room.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
