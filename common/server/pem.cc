#include "common/server/pem.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace admit::server::internal {

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const std::string& setting,
                                        const char* marker) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        setting, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(setting, ": error reading \"", path, "\""));
  }
  std::string text = content.str();
  if (text.find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        setting, ": \"", path, "\" is not PEM (no \"", marker, "\" line)"));
  }
  return text;
}

}  // namespace admit::server::internal
