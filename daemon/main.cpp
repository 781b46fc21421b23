// Entry point: parses argv (SPEC.md "Command line"), sets up logging, dispatches to the
// subcommands in commands.hpp. Must not hold command logic; usage errors exit 2 with one
// line on stderr; an exception escaping a command exits 1 ("Failed to run <command>: ...").
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "config/config.hpp"
#include "report/journal.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: ci-docker-prune COMMAND [OPTIONS]\n"
    "\n"
    "Keeps a CI host's Docker image cache and prunes surgically, only when every gate is open.\n"
    "\n"
    "Commands:\n"
    "  daemon [-c FILE]                          run the resident daemon (what the systemd unit runs)\n"
    "  status [--json]                           ask the running daemon for its state, gates and disk\n"
    "  status --check                            the same as a monitoring check: one line, exit 0 ok,\n"
    "                                            1 warning, 2 critical, 3 daemon unreachable\n"
    "  plan [-c FILE] [--json]                   sync once, show the gates and what a prune would remove\n"
    "  prune [-c FILE] [--json] [--ignore-disk]  prune once, only if every gate is open\n"
    "                                            (--ignore-disk waives the disk gate only)\n"
    "  check-config [-c FILE]                    validate the config, print the effective config as JSON\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   config file (default /etc/ci-docker-prune/config.json;\n"
    "                      a missing default file means all defaults)\n"
    "  --json              one JSON object on stdout\n"
    "  -h, --help          show this help\n"
    "  --version           show the version\n"
    "\n"
    "Exit status:\n"
    "  0  success (prune: pruned, or skipped with the reason printed)\n"
    "  1  unexpected internal failure\n"
    "  2  invalid config or usage\n"
    "  3  unreachable: Docker (plan, prune) or the daemon (status)\n"
    "\n"
    "Environment: DOCKER_HOST (used when docker.host is not set), DBUS_SYSTEM_BUS_ADDRESS.\n";

struct Command {
  std::string_view name;
  int (*run)(const cdp::CommandOptions&);
  bool config, json, ignore_disk;  // which options it takes
  bool check;
};

constexpr Command kCommands[] = {
    {"daemon", cdp::cmd_daemon, true, false, false, false},
    {"status", cdp::cmd_status, false, true, false, true},
    {"plan", cdp::cmd_plan, true, true, false, false},
    {"prune", cdp::cmd_prune, true, true, true, false},
    {"check-config", cdp::cmd_check_config, true, false, false, false},
};

struct UsageError {
  std::string what;
};

struct Invocation {
  const Command* command = nullptr;
  cdp::CommandOptions opts;
  bool help = false, version = false;
  bool has_config = false, has_json = false, has_ignore_disk = false, has_check = false;  // as given, to check per command
};

const Command* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

// Options may come before or after the command: `-c F plan` and `plan -c F` both work.
Invocation parse_args(const std::vector<std::string_view>& args) {
  Invocation inv;
  auto set_config = [&](std::string_view opt, std::string_view value) {
    if (value.empty()) throw UsageError{"option " + std::string(opt) + " needs a file name"};
    inv.opts.config_path = std::string(value);
    inv.has_config = true;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      inv.help = true;
    } else if (a == "--version") {
      inv.version = true;
    } else if (a == "--json") {
      inv.has_json = inv.opts.json = true;
    } else if (a == "--check") {
      inv.has_check = inv.opts.check = true;
    } else if (a == "--ignore-disk") {
      inv.has_ignore_disk = inv.opts.ignore_disk = true;
    } else if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) throw UsageError{"option " + std::string(a) + " needs a file name"};
      set_config(a, args[++i]);
    } else if (a.starts_with("--config=")) {
      set_config("--config", a.substr(9));
    } else if (a.starts_with("-c") && a.size() > 2) {
      set_config("-c", a.substr(2));
    } else if (a.starts_with("-") && a != "-") {
      throw UsageError{"unknown option '" + std::string(a) + "'"};
    } else if (inv.command) {
      throw UsageError{"unexpected argument '" + std::string(a) + "'"};
    } else if (!(inv.command = find_command(a))) {
      throw UsageError{"unknown command '" + std::string(a) + "'"};
    }
  }
  if (inv.help || inv.version) return inv;
  if (!inv.command) throw UsageError{"missing command"};
  const Command& c = *inv.command;
  auto reject = [&](bool given, bool takes, const char* opt) {
    if (given && !takes) throw UsageError{std::string("option ") + opt + " is not valid for " + std::string(c.name)};
  };
  reject(inv.has_config, c.config, "-c/--config");
  reject(inv.has_json, c.json, "--json");
  reject(inv.has_ignore_disk, c.ignore_disk, "--ignore-disk");
  reject(inv.has_check, c.check, "--check");
  if (inv.has_check && inv.has_json) throw UsageError{"--check and --json do not go together"};
  return inv;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdout (`| head`) must give a write error, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  Invocation inv;
  try {
    inv = parse_args(std::vector<std::string_view>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "ci-docker-prune: %s (see --help)\n", e.what.c_str());
    return cdp::kExitConfig;
  }
  if (inv.help) {
    std::fputs(kUsage, stdout);
    return cdp::kExitOk;
  }
  if (inv.version) {
    std::puts("ci-docker-prune " CDP_VERSION);
    return cdp::kExitOk;
  }
  const Command& command = *inv.command;
  try {
    // Until the command has read log.level: the daemon logs at info, one-shots stay
    // quiet (their results and errors are printed by the command itself).
    if (command.name == "daemon")
      cdp::journal::setup(cdp::LogLevel::info);
    else
      cdp::journal::setup_oneshot(cdp::LogLevel::info);
    return command.run(inv.opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Failed to run %s: %s\n", std::string(command.name).c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "Failed to run %s: unknown exception\n", std::string(command.name).c_str());
  }
  return cdp::kExitFailure;
}
