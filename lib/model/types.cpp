// The one definition of the live container states (model/types.hpp). Pure.
#include "model/types.hpp"

#include <algorithm>

namespace cdp {

bool is_live_container_state(std::string_view state) {
  return std::find(kLiveContainerStates.begin(), kLiveContainerStates.end(), state) != kLiveContainerStates.end();
}

}  // namespace cdp
