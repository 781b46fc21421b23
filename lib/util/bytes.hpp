// Forwarding header: format_bytes lives in util/format.hpp (one definition).
#pragma once
#include "util/format.hpp"  // layering: forwarding
