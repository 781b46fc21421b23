// Holds the one compiled-in absolute path of the unit tests (see fixtures_dir.hpp).
#include "fixtures_dir.hpp"

namespace cdp::testfx {
std::string fixtures_dir() { return CDP_FIXTURES_DIR; }
}  // namespace cdp::testfx
