#include "xrun/run/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "xrun/run/process.hpp"
#include "xrun/util/clock.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::run {

Progress::Progress(bool quiet, int fd, double plain_every)
    : quiet_(quiet), fd_(fd), tty_(!quiet && ::isatty(fd)), plain_every_(plain_every) {}

bool Progress::due() const {
  if (quiet_) return false;
  double now = util::monotonic_seconds();
  return now - last_ >= (tty_ ? 0.2 : plain_every_);
}

void Progress::show(const std::string& text) {
  if (quiet_) return;
  last_ = util::monotonic_seconds();
  std::string line = text;
  if (tty_) {
    // Never wrap: a wrapped line cannot be redrawn in place.
    size_t width = terminal_width(fd_);
    if (line.size() >= width) line.resize(width > 1 ? width - 1 : 0);
    dprintf(fd_, "\r\033[K%s", line.c_str());
    shown_ = true;
  } else {
    dprintf(fd_, "%s\n", line.c_str());
  }
}

void Progress::clear() {
  if (tty_ && shown_) {
    dprintf(fd_, "\r\033[K");
    shown_ = false;
  }
}

void Progress::note(const std::string& line, bool always) {
  if (quiet_ && !always) return;
  std::fflush(stderr);
  clear();
  dprintf(fd_, "%s\n", line.c_str());
}

}  // namespace xrun::run
