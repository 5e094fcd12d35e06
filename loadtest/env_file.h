// Reads the `export NAME=VALUE` files the local stack writes (stack.env,
// endpoints.env, secrets.env; VALUE quoted by bash's printf %q).
#ifndef ADMIT_LOADTEST_ENV_FILE_H_
#define ADMIT_LOADTEST_ENV_FILE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace admit::loadtest {

// NAME -> VALUE of every `export NAME=VALUE` line (other lines ignored).
// Undoes %q's quoting for what admit writes: backslash escapes and '...'.
absl::StatusOr<std::map<std::string, std::string>> ReadEnvFile(
    const std::string& path);
std::map<std::string, std::string> ParseEnvText(const std::string& text);

// Space-separated words.
std::vector<std::string> SplitWords(const std::string& s);

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_ENV_FILE_H_
