// The terminal side of a run: the live progress line (redrawn in place on a terminal, never
// wrapped; plain lines at most every few seconds elsewhere) and notes. Backends hand it text;
// they never write escape codes or decide how often a line is shown.
#pragma once

#include <string>

namespace xrun::run {

class Progress {
 public:
  // `quiet`: nothing is shown. `fd`: where (stderr).
  explicit Progress(bool quiet, int fd = 2, double plain_every = 5);
  bool quiet() const { return quiet_; }
  bool tty() const { return tty_; }
  // Whether a new line would be shown now (a caller may skip computing it otherwise).
  bool due() const;
  void show(const std::string& line);
  // Clear the live line (before other output).
  void clear();
  // A line of its own ("xrun: ..."), shown even when quiet if `always`.
  void note(const std::string& line, bool always = false);

 private:
  bool quiet_;
  int fd_;
  bool tty_;
  double plain_every_;
  double last_ = 0;
  bool shown_ = false;
};

}  // namespace xrun::run
