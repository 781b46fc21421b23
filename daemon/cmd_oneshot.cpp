// One-shot `plan` and `prune` (SPEC.md "Command line"). Work in progress.
#include "commands.hpp"

namespace cdp {
int cmd_plan(const CommandOptions&) { return kExitFailure; }
int cmd_prune(const CommandOptions&) { return kExitFailure; }
}  // namespace cdp
