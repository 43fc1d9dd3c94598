#include "xrun/plan/task_key.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <xxhash.h>

namespace xrun::plan {

namespace {
// "TAG LENGTH:BYTES\n": no field can run into the next one, whatever bytes it holds.
void field(std::string& out, char tag, const std::string& bytes) {
  out += tag;
  out += ' ';
  out += std::to_string(bytes.size());
  out += ':';
  out += bytes;
  out += '\n';
}
}  // namespace

std::string task_key(const KeyInputs& in) {
  std::string buf = "xrun task key 1\n";
  field(buf, 'S', in.stage);
  field(buf, 'C', std::to_string(in.commands.size()));
  for (const auto& c : in.commands) field(buf, 'c', c);
  auto vars = in.variables;
  std::sort(vars.begin(), vars.end());
  field(buf, 'V', std::to_string(vars.size()));
  for (const auto& [name, value] : vars) {
    field(buf, 'n', name);
    field(buf, 'v', value);
  }
  field(buf, 'W', in.workdir);
  field(buf, 'U', std::to_string(in.setup.size()));
  for (const auto& line : in.setup) field(buf, 'u', line);
  field(buf, 'I', in.image);
  const XXH128_hash_t h = XXH3_128bits(buf.data(), buf.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

}  // namespace xrun::plan
