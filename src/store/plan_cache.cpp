#include "xrun/store/plan_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xrun/plan/plan_cache.hpp"
#include "xrun/util/fs.hpp"

namespace xrun::store {

namespace {

int64_t ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

plan::SourceStamp stamp_of(const struct stat& st) {
  return plan::SourceStamp{static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino), ns(st.st_mtim),
                           ns(st.st_ctim)};
}

// The cache's plan, when it was made from the plan.json that `source` stamps.
std::optional<plan::Plan> read_cache(const std::string& dir, const plan::SourceStamp& source) {
  util::Fd fd = util::open_under(dir, util::join(dir, "plan.bin"), O_RDONLY | O_NONBLOCK);
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  // plan.json changed after the cache was written has a time at least the cache's (one clock:
  // the file system's). A cache written in the same tick of that clock as plan.json's last change
  // cannot tell a change later in that tick: it is not used (and is written again).
  const int64_t written = ns(st.st_mtim);
  if (source.mtime_ns >= written || source.ctime_ns >= written) return std::nullopt;
  auto bytes = util::read_open_file(fd.get(), static_cast<size_t>(st.st_size));
  if (!bytes) return std::nullopt;
  return plan::decode_cache(*bytes, source);
}

void write_cache(const std::string& dir, const plan::Plan& p, const plan::SourceStamp& source) {
  std::string bytes;
  try {
    bytes = plan::encode_cache(p, source);
  } catch (const std::exception&) {  // too large a list, no memory: no cache
    return;
  }
  (void)util::atomic_write(util::join(dir, "plan.bin"), bytes);
}

}  // namespace

std::optional<Result<plan::Plan>> read_plan(const std::string& dir) {
  const std::string path = util::join(dir, "plan.json");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    if (auto p = read_cache(dir, stamp_of(st))) return Result<plan::Plan>(std::move(*p));
  // The stamp is that of the file read (fstat of the same descriptor): a plan.json replaced
  // meanwhile leaves a cache that matches no plan.json, never one that matches the wrong one.
  util::Fd fd = util::open_under(dir, path, O_RDONLY | O_NONBLOCK);
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || S_ISDIR(st.st_mode)) return std::nullopt;
  auto text = util::read_open_file(fd.get(), static_cast<size_t>(st.st_size));
  if (!text) return std::nullopt;
  auto p = plan::Plan::parse(*text);
  text.reset();  // before the cache is encoded: no higher peak of memory than the parse's
  if (p) write_cache(dir, *p, stamp_of(st));
  return p;
}

}  // namespace xrun::store
