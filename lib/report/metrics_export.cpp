// The textfile writer and the listener's lifecycle (see the header). Writes happen on the
// event loop: one small file (a few kB) at most once a second; the fsync is what makes
// the rename atomic across a crash.
#include "report/metrics_export.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace cdp {

namespace {
// SPEC "Metrics": the textfile is written at most once a second.
constexpr auto kMinWriteInterval = std::chrono::seconds(1);
}  // namespace

std::expected<void, std::string> write_textfile(const std::string& path, std::string_view text) {
  const auto fail = [&](const char* what) {
    return std::unexpected(path + ": " + what + ": " + std::strerror(errno));
  };
  // Same folder, so rename() stays on one filesystem; the pid keeps two daemons (a
  // misconfiguration the lock refuses anyway) from sharing a temp file.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail("cannot create the temp file");
  const auto fail_close = [&](const char* what) {
    auto e = fail(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_close("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) return fail_close("cannot chmod");
  if (::fsync(fd) != 0) return fail_close("cannot fsync");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail("cannot close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = fail("cannot rename the temp file over it");
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

MetricsExport::MetricsExport(asio::any_io_executor ex, std::string version)
    : ex_(ex), metrics_(std::move(version)), timer_(ex) {
  metrics_.on_change([this] { schedule_write(); });
}

MetricsExport::~MetricsExport() = default;

void MetricsExport::configure(const Config::Metrics& config) {
  if (config.listen != listen_ || (config.listen && !listener_)) {
    if (listener_) {
      listener_->close();
      listener_.reset();
    }
    listen_ = config.listen;
    if (listen_) {
      auto opened = MetricsListener::open(ex_, *listen_, [this] { return metrics_.text(); });
      if (opened) {
        listener_ = std::move(*opened);
        spdlog::info("Serving metrics on {}", listen_->text);
      } else {
        spdlog::error("{}; metrics are not served (fix metrics.listen and reload)", opened.error());
      }
    }
  }
  if (config.textfile != textfile_) {
    textfile_ = config.textfile;
    write_failed_logged_ = false;
    if (textfile_) write_now();
  }
}

void MetricsExport::close() {
  if (listener_) listener_->close();
  listener_.reset();
  timer_.cancel();
  if (textfile_) write_now();
  textfile_.reset();
}

void MetricsExport::schedule_write() {
  if (!textfile_ || write_pending_) return;
  write_pending_ = true;
  // Coalesced: a burst of changes is one write; the timer writes the state at its expiry,
  // so the last change is always in the file within a second.
  timer_.expires_at(std::max(std::chrono::steady_clock::now(), last_write_ + kMinWriteInterval));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    write_pending_ = false;
    write_now();
  });
}

void MetricsExport::write_now() {
  if (!textfile_) return;
  write_pending_ = false;
  timer_.cancel();
  last_write_ = std::chrono::steady_clock::now();
  const std::string text = metrics_.text();
  auto written = write_textfile(*textfile_, text);
  if (!written && !write_failed_logged_) {
    spdlog::warn("Failed to write the metrics textfile {}; trying again at the next change", written.error());
    write_failed_logged_ = true;
  } else if (written && write_failed_logged_) {
    spdlog::info("Wrote the metrics textfile {} again", *textfile_);
    write_failed_logged_ = false;
  }
}

}  // namespace cdp
