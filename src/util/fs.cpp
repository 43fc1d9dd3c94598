#include "xrun/util/fs.hpp"
#include "xrun/util/text.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

namespace xrun::util {

namespace fs = std::filesystem;

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}
Fd::~Fd() { reset(); }
int Fd::release() {
  int f = fd_;
  fd_ = -1;
  return f;
}
void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

TempDir::TempDir(const std::string& prefix) {
  std::string base = fs::temp_directory_path().string() + "/" + prefix + "XXXXXX";
  std::vector<char> buf(base.begin(), base.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
}
TempDir::~TempDir() {
  if (!path_.empty()) remove_all(path_);
}

Result<std::string> read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    Error e = make_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)),
                         "check the path; it is read relative to the current directory");
    e.file = path;
    return e;
  }
  if (S_ISDIR(st.st_mode)) {
    Error e = make_error(fmt::format("'{}' is a directory, not a file", path),
                         "give the experiment file itself, e.g. " + join(path, "experiment.yml"));
    e.file = path;
    return e;
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    Error e = make_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)),
                         "check that the file is readable");
    e.file = path;
    return e;
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = make_error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
      e.file = path;
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> try_read_file(const std::string& path) { return try_read_file_at(AT_FDCWD, path); }

namespace {

int open_beneath(int dirfd, const std::string& rel, int flags = O_RDONLY, mode_t mode = 0) {
  flags |= O_CLOEXEC;
#ifdef SYS_openat2
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
#endif
  // No openat2: walk the components, none of them a link.
  int cur = dirfd;
  Fd hold;
  auto parts = split(rel, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty() || parts[i] == "..") {
      errno = EXDEV;
      return -1;
    }
    bool last = i + 1 == parts.size();
    int next = last ? ::openat(cur, parts[i].c_str(), flags | O_NOFOLLOW, mode)
                    : ::openat(cur, parts[i].c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
    if (next < 0) return -1;
    if (last) return next;
    hold.reset(next);
    cur = next;
  }
  errno = ENOENT;
  return -1;
}

std::optional<std::string> read_all(Fd fd) {
  if (!fd.valid()) return std::nullopt;
  return read_open_file(fd.get());
}

}  // namespace

std::optional<std::string> read_open_file(int fd, size_t size_hint) {
  std::string out;
  out.resize(std::max<size_t>(size_hint + 1, 8192));  // one allocation when the hint is right
  size_t len = 0;
  for (;;) {
    if (len == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd, out.data() + len, out.size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  out.resize(len);
  return out;
}

Fd open_file_beneath(int dirfd, const std::string& rel) { return Fd(open_beneath(dirfd, rel)); }

Fd open_under(const std::string& base, const std::string& path, int flags, mode_t mode) {
  const std::string b = base.size() > 1 && base.back() == '/' ? base.substr(0, base.size() - 1) : base;
  if (path.size() <= b.size() + 1 || path.compare(0, b.size(), b) != 0 || path[b.size()] != '/') {
    // Not inside `base`: its last component, at least, is not followed.
    return Fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode));
  }
  Fd dir(::open(b.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return Fd();
  return Fd(open_beneath(dir.get(), path.substr(b.size() + 1), flags, mode));
}

bool for_each_name(int dirfd, const std::function<void(std::string_view)>& f) {
  int fd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return false;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return false;
  }
  ::rewinddir(d);
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (!e) break;
    std::string_view n = e->d_name;
    if (n != "." && n != "..") f(n);
  }
  bool ok = errno == 0;
  ::closedir(d);
  return ok;
}

std::vector<std::string> list_dir_fd(int dirfd) {
  std::vector<std::string> names;
  for_each_name(dirfd, [&](std::string_view n) { names.emplace_back(n); });
  return names;
}

Result<std::string> read_regular_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st {};
  auto fail = [&](const std::string& what, int err) {
    Error e = runtime_error(fmt::format("'{}' {}", path, what));
    e.os_errno = err;
    return e;
  };
  if (!fd.valid()) {
    int err = errno;
    if (err == ELOOP) return fail("is a symbolic link, which is not followed", err);
    return fail(fmt::format("cannot be read: {}", std::strerror(err)), err);
  }
  if (::fstat(fd.get(), &st) != 0) return fail(fmt::format("cannot be read: {}", std::strerror(errno)), errno);
  if (S_ISDIR(st.st_mode)) return fail("is a folder, not a file", EISDIR);
  if (!S_ISREG(st.st_mode)) return fail("is not a regular file", EINVAL);
  auto text = read_open_file(fd.get(), static_cast<size_t>(st.st_size));
  if (!text) return fail(fmt::format("cannot be read: {}", std::strerror(errno)), errno);
  return std::move(*text);
}

std::optional<std::string> try_read_file_beneath(int dirfd, const std::string& rel) {
  return read_all(Fd(open_beneath(dirfd, rel)));
}

bool for_each_entry(int fd, const std::function<bool(std::string_view name, unsigned char type)>& f) {
  alignas(8) char buf[8192];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    for (long off = 0; off < n;) {
      struct Entry {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[1];
      };
      const auto* e = reinterpret_cast<const Entry*>(buf + off);
      std::string_view name(e->name);
      if (name != "." && name != ".." && !f(name, e->type)) return true;
      off += e->reclen;
    }
  }
}

std::optional<std::string> try_read_record_beneath(int dirfd, const std::string& rel) {
  Fd fd(open_beneath(dirfd, rel));
  if (!fd.valid()) return std::nullopt;
  std::string out(4096, '\0');
  ssize_t n;
  while ((n = ::read(fd.get(), out.data(), out.size())) < 0 && errno == EINTR) {
  }
  if (n < 0) return std::nullopt;
  if (static_cast<size_t>(n) < out.size()) {
    out.resize(static_cast<size_t>(n));
    return out;
  }
  auto rest = read_open_file(fd.get());  // a larger one: read on to its end
  if (!rest) return std::nullopt;
  return out + *rest;
}

std::optional<std::string> try_read_tail_beneath(int dirfd, const std::string& rel, size_t max_bytes) {
  Fd fd(open_beneath(dirfd, rel));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - static_cast<off_t>(max_bytes) : 0;
  std::string out(static_cast<size_t>(st.st_size - start), '\0');
  ssize_t n = ::pread(fd.get(), out.data(), out.size(), start);
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n));
  return out;
}

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::optional<std::string> try_read_file_at(int dirfd, const std::string& rel) {
  Fd fd(::openat(dirfd, rel.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

static std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<uint64_t>(::getpid()) << 20};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

Result<void> overwrite_in_place(const std::string& path, const std::string& content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || static_cast<size_t>(st.st_size) < content.size())
    return runtime_error(fmt::format("cannot write '{}' in place: {}", path, fd.valid() ? "no room reserved" : std::strerror(errno)),
                      "check that the run store is writable and the disk is not full");
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::pwrite(fd.get(), content.data() + off, content.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)),
                        "check that the run store is writable and the disk is not full");
    off += static_cast<size_t>(n);
  }
  return {};
}

int write_fully(int fd, std::string_view data) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : ENOSPC;
    off += static_cast<size_t>(n);
  }
  return 0;
}

namespace {
// Writes all of `content` to `fd` (open at `file`, which is removed on failure); `path` names it.
Result<void> write_all_or_remove(Fd& fd, const std::string& file, const std::string& path, const std::string& content) {
  if (int err = write_fully(fd.get(), content)) {
    fd.reset();
    ::unlink(file.c_str());
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)),
                         "check that the run store is writable and the disk is not full");
  }
  return {};
}
}  // namespace

Result<void> write_new_file(const std::string& path, const std::string& content) {
  // Written over from the start, then cut to its length: a reused file's blocks are rewritten
  // rather than freed and allocated again.
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid())
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)),
                         "check that the run store is writable and the disk is not full");
  XRUN_TRY(write_all_or_remove(fd, path, path, content));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || (st.st_size > static_cast<off_t>(content.size()) &&
                                      ::ftruncate(fd.get(), static_cast<off_t>(content.size())) != 0)) {
    int err = errno;
    fd.reset();
    ::unlink(path.c_str());
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)), "check that the disk is not full");
  }
  if (::close(fd.release()) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)), "check that the disk is not full");
  }
  return {};
}

Result<void> atomic_write(const std::string& path, const std::string& content, bool durable) {
  std::string tmp = fmt::format("{}/.{}.tmp.{}", dirname(path), basename(path), random_suffix());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid())
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)),
                      "check that the run store is writable and the disk is not full");
  XRUN_TRY(write_all_or_remove(fd, tmp, path, content));
  if (durable && ::fsync(fd.get()) != 0) {
    int err = errno;
    fd.reset();
    ::unlink(tmp.c_str());
    return runtime_error(fmt::format("cannot sync '{}': {}", path, std::strerror(err)));
  }
  if (::close(fd.release()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)),
                      "check that the disk is not full");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return runtime_error(fmt::format("cannot rename into '{}': {}", path, std::strerror(err)));
  }
  if (durable) return sync_dir(dirname(path));
  return {};
}

Result<void> sync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0)
    return runtime_error(fmt::format("cannot sync the folder '{}': {}", dir, std::strerror(errno)),
                         "check that the run store is writable");
  return {};
}

Result<void> keep_copy(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return {};
  if (errno != EPERM && errno != ENOTSUP && errno != EXDEV && errno != EMLINK)
    return runtime_error(fmt::format("cannot keep '{}' as '{}': {}", from, to, std::strerror(errno)),
                         "check that the run store is writable and the disk is not full");
  auto text = try_read_file(from);
  if (!text) return runtime_error(fmt::format("cannot read '{}' to keep a copy of it", from));
  if (exists(to)) return runtime_error(fmt::format("cannot keep '{}' as '{}': it exists", from, to));
  return atomic_write(to, *text, true);
}

void crash_point(const char* point) {
  static const char* at = std::getenv("XRUN_CRASH_AT");
  if (at && std::strcmp(at, point) == 0) ::kill(::getpid(), SIGKILL);
}

Result<void> make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec && !is_dir(path))
    return runtime_error(fmt::format("cannot create directory '{}': {}", path, ec.message()),
                      "check permissions, or choose another store with --store or XRUN_HOME");
  return {};
}

Result<void> make_dirs_under(const std::string& base, const std::string& rel) {
  auto fail = [&](const std::string& where) -> Result<void> {
    return runtime_error(fmt::format("cannot create directory '{}/{}': {}: {}", base, rel, where, std::strerror(errno)),
                         "check that the run store is writable and was not removed meanwhile");
  };
  Fd dir(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return fail(base);
  for (const auto& part : split(rel, '/')) {
    if (part.empty() || part == ".") continue;
    if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST) return fail(part);
    Fd next(::openat(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return fail(part);
    dir = std::move(next);
  }
  return {};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
    out.push_back(it->path().filename().string());
  return out;
}

void remove_all(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

Result<void> rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return runtime_error(fmt::format("cannot move '{}' to '{}': {}", from, to, std::strerror(errno)));
  return {};
}

std::string dirname(const std::string& path) {
  auto p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}
std::string basename(const std::string& path) { return fs::path(path).filename().string(); }
std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}
std::string canonical(const std::string& path) {
  std::error_code ec;
  auto p = fs::weakly_canonical(path, ec);
  std::string out = ec ? path : p.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

}  // namespace xrun::util
