// Filesystem helpers: RAII file descriptors and temp dirs, atomic writes, tolerant reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xrun/util/result.hpp"

namespace xrun::util {

// A move-only owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A directory removed (recursively) when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "xrun-");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Whole file, or an error naming the path. Refuses directories.
Result<std::string> read_file(const std::string& path);
// Whole file, or nullopt when it does not exist or cannot be read (for tolerant readers).
std::optional<std::string> try_read_file(const std::string& path);
// Same, relative to an open directory (short lookups for bulk reads).
std::optional<std::string> try_read_file_at(int dirfd, const std::string& rel);
// The same, following no symbolic link and never leaving `dirfd` (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS; where the kernel lacks openat2, O_NOFOLLOW on every component).
std::optional<std::string> try_read_file_beneath(int dirfd, const std::string& rel);
// The same for a small file the store's own writers write whole (a record): a read that returns
// less than was asked is its end (true of regular files), so a small one costs a single read.
std::optional<std::string> try_read_record_beneath(int dirfd, const std::string& rel);
// The file or folder itself, opened read-only the same way (invalid when it cannot be).
Fd open_file_beneath(int dirfd, const std::string& rel);
// The one way the xrun binary opens a file inside the run store: `path`, inside the folder
// `base` (an experiment's), opened with `flags` (O_CLOEXEC added) following no symbolic link
// from `base` down (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, else O_NOFOLLOW on every
// component): a link planted at any store path is refused (ELOOP, EXDEV), never written or read
// through. A `path` outside `base` is opened with O_NOFOLLOW. Invalid (errno set) on failure.
Fd open_under(const std::string& base, const std::string& path, int flags, mode_t mode = 0644);
// The rest of an open file, read to its end (`size_hint`: its expected size, so that it is read
// into one buffer); nullopt on a read error.
std::optional<std::string> read_open_file(int fd, size_t size_hint = 0);
// Names in an open folder (no "." and "..").
std::vector<std::string> list_dir_fd(int dirfd);
// Each name in an open folder (no "." and "..") handed to `f`; false when the folder could not
// be read to its end (some names may have been handed already).
bool for_each_name(int dirfd, const std::function<void(std::string_view)>& f);
// The entries of a directory freshly opened as `fd` (read from its start with getdents64, no
// DIR stream: no stat, no fcntl), with their d_type (DT_UNKNOWN where the file system does not
// say); `f` returns false to stop. False when the directory cannot be read.
bool for_each_entry(int fd, const std::function<bool(std::string_view name, unsigned char type)>& f);
// The last `max_bytes` of such a file (all of it when smaller).
std::optional<std::string> try_read_tail_beneath(int dirfd, const std::string& rel, size_t max_bytes);
// A store file read whole, refusing what is not a regular file: a symbolic link is not
// followed, a folder, FIFO or device is not read (never blocks). The error says which; its
// os_errno is ENOENT when there is no such file.
Result<std::string> read_regular_file(const std::string& path);
// True when `path` itself is a symbolic link.
bool is_symlink(const std::string& path);
// Write to a temp file in the same directory, then rename over `path`: readers see the old file
// or the new one, never a mix. `durable`: the file is synced before the rename and its folder
// after it, so that a crash of the machine, too, leaves the old file or the new one.
Result<void> atomic_write(const std::string& path, const std::string& content, bool durable = false);
// fsync of a folder (its entries: a rename or a new file in it survives a crash of the machine).
Result<void> sync_dir(const std::string& dir);
// A second name for an existing file (link(2)), or, where the file system has no hard links, a
// durable copy. Fails when `to` exists.
Result<void> keep_copy(const std::string& from, const std::string& to);
// Fault injection for tests: when XRUN_CRASH_AT names `point`, the process kills itself
// (SIGKILL) here, as a crash, a power cut or kill -9 would, so that what a crash at each step of
// a write leaves can be tested. Does nothing otherwise (one getenv).
void crash_point(const char* point);
// Write `content` over the start of an existing file without truncating it or allocating new
// room (for a record whose room was reserved earlier, when the disk is full). Fails when the
// file is missing or smaller than `content`.
Result<void> overwrite_in_place(const std::string& path, const std::string& content);
// A file written directly, created or written over and cut to its length (for a file in a folder
// just made or reused, that no reader looks at before its writer says so).
Result<void> write_new_file(const std::string& path, const std::string& content);
// Writes all of `data` to `fd` (again after a short write or EINTR); 0, else the errno of the
// write that failed (ENOSPC for one that wrote nothing).
int write_fully(int fd, std::string_view data);
// mkdir -p
Result<void> make_dirs(const std::string& path);
// mkdir -p of `rel` inside `base`, which must already exist: `base` itself and its parents are
// never made (a writer whose folder was removed, e.g. a runner of an experiment `xrun rm` took
// away, fails instead of bringing a stray copy of it back).
Result<void> make_dirs_under(const std::string& base, const std::string& rel);
bool exists(const std::string& path);
bool is_dir(const std::string& path);
// Names in a directory (no "." and ".."); empty when it does not exist.
std::vector<std::string> list_dir(const std::string& path);
// rm -rf; errors are ignored.
void remove_all(const std::string& path);
// Rename; error with both paths.
Result<void> rename_path(const std::string& from, const std::string& to);
std::string dirname(const std::string& path);
std::string basename(const std::string& path);
std::string absolute(const std::string& path);
// `path` with the symbolic links of its existing part resolved and no trailing '/' (as given
// when that fails).
std::string canonical(const std::string& path);
std::string join(const std::string& a, const std::string& b);
double now_seconds();  // wall clock, seconds since the epoch
std::string hostname();

}  // namespace xrun::util
