// Configuration from environment variables.
//
// Every binary declares its settings in one admit::config::Settings: name
// (ADMIT_*), default, one-line description. Load() reads them all and fails
// on the first invalid value with a message naming the variable; `--help`
// lists them (LoadOrExit). Not thread-safe while loading; the targets are
// plain values afterwards.
#ifndef ADMIT_COMMON_CONFIG_CONFIG_H_
#define ADMIT_COMMON_CONFIG_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace admit::config {

// Looks a variable up; nullopt when unset. The default reads the process
// environment; tests pass a map.
using Lookup = std::function<std::optional<std::string>(const std::string&)>;
Lookup ProcessEnvironment();

class Settings {
 public:
  // `program` is the binary's name ("admit-quota"); `summary` one sentence on
  // what it is, printed at the top of --help.
  Settings(std::string program, std::string summary);

  // Each Add* registers one variable and the variable that receives its value
  // (the default when the environment does not set it). `target` must outlive
  // Load(). Names must be unique; registering one twice aborts (a bug).
  void AddString(std::string name, std::string default_value,
                 std::string description, std::string* target);
  // An integer in [min, max].
  void AddInt(std::string name, int64_t default_value, std::string description,
              int64_t* target, int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  // true/false, 1/0, yes/no, on/off (case-insensitive).
  void AddBool(std::string name, bool default_value, std::string description,
               bool* target);
  // A duration with a unit: "250ms", "5s", "2m", "1h" (sums like "1m30s"
  // allowed). Must be >= 0.
  void AddDuration(std::string name, std::chrono::milliseconds default_value,
                   std::string description, std::chrono::milliseconds* target);
  // One of `allowed` (case-sensitive).
  void AddEnum(std::string name, std::string default_value,
               std::vector<std::string> allowed, std::string description,
               std::string* target);

  // Reads every registered variable. Returns INVALID_ARGUMENT naming the
  // variable and the expected form on the first bad value; targets of
  // variables read before it keep their parsed values.
  absl::Status Load(const Lookup& lookup = ProcessEnvironment());

  // Human-readable list of every variable, its default and description.
  std::string Help() const;
  // The same as a Markdown table (used to generate docs/configuration.md).
  std::string Markdown() const;

  const std::string& program() const { return program_; }

 private:
  struct Entry {
    std::string name;
    std::string default_text;
    std::string description;
    std::function<absl::Status(const std::string&)> parse;
  };
  void Register(Entry entry);

  std::string program_;
  std::string summary_;
  std::vector<Entry> entries_;
};

// Parsers, exposed for tests and for values that arrive by other means.
absl::Status ParseDuration(const std::string& text,
                           std::chrono::milliseconds* out);
absl::Status ParseBool(const std::string& text, bool* out);

// For main(): handles `--help` (prints Help() and exits 0) and
// `--help-markdown` (prints Markdown(), exits 0); any other argument is an
// error. Then Load()s; on error prints "<program>: <message>" to stderr and
// exits with status 2.
void LoadOrExit(Settings& settings, int argc, char** argv);

}  // namespace admit::config

#endif  // ADMIT_COMMON_CONFIG_CONFIG_H_
