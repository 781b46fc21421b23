// Forwarding header: the one-shot fresh sync reads Docker, so it moved to lib/docker/sync.hpp
// (model must not include docker, issue 8). Kept so older includes still compile.
#pragma once
#include "docker/sync.hpp"  // layering: forwarding
