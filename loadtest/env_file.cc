#include "loadtest/env_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace admit::loadtest {

std::map<std::string, std::string> ParseEnvText(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("export ", 0) != 0) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = line.substr(7, eq - 7);
    std::string value;
    bool quoted = false;
    for (size_t i = eq + 1; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '\'') {
        quoted = !quoted;
      } else if (c == '\\' && !quoted && i + 1 < line.size()) {
        value += line[++i];
      } else {
        value += c;
      }
    }
    out[name] = value;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ReadEnvFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseEnvText(text.str());
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace admit::loadtest
