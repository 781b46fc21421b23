// The real Reporter: sd_notify, the journal sink and the D-Bus object. Adapts the
// timeline's plain records to spdlog levels; no decisions.
#include "report/reporter.hpp"

#include "report/journal.hpp"
#include "report/notify.hpp"

namespace cdp {

namespace {

spdlog::level::level_enum level_of(timeline::Severity s) {
  switch (s) {
    case timeline::Severity::debug: return spdlog::level::debug;
    case timeline::Severity::info: return spdlog::level::info;
    case timeline::Severity::warn: return spdlog::level::warn;
  }
  return spdlog::level::info;
}

class SystemReporter final : public Reporter {
 public:
  explicit SystemReporter(const std::unique_ptr<Bus>& bus) : bus_(bus) {}
  void status(const std::string& line) override {
    notify::status(line);
    spdlog::debug("Status: {}", line);
  }
  void journal(const timeline::Journal& r) override { journal::event(level_of(r.severity), r.event, r.fields, r.message); }
  void bus_state(const BusState& state) override {
    if (bus_) bus_->publish(state);
  }
  void prune_finished(std::uint64_t reclaimed, const std::string& summary) override {
    if (bus_) bus_->emit_prune_finished(reclaimed, summary);
  }

 private:
  const std::unique_ptr<Bus>& bus_;
};

}  // namespace

std::unique_ptr<Reporter> make_system_reporter(const std::unique_ptr<Bus>& bus) {
  return std::make_unique<SystemReporter>(bus);
}

}  // namespace cdp
