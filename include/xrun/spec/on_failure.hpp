// What a stage's failure means for the stages after it (`on_failure:` in a `jobs:` entry).
#pragma once

namespace xrun::spec {

enum class OnFailure { Stop, Continue };
const char* to_string(OnFailure f);

}  // namespace xrun::spec
