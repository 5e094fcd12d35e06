#include "common/config/config.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace admit::config {
namespace {

std::string FormatDuration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return absl::StrCat(ms / 3600000, "h");
  if (ms != 0 && ms % 60000 == 0) return absl::StrCat(ms / 60000, "m");
  if (ms != 0 && ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrCat(ms, "ms");
}

}  // namespace

Lookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::Status ParseDuration(const std::string& text,
                           std::chrono::milliseconds* out) {
  const std::string form =
      "expected a duration with a unit, like 250ms, 5s, 2m, 1h or 1m30s";
  std::string s(absl::StripAsciiWhitespace(text));
  if (s.empty()) return absl::InvalidArgumentError(form);
  // Zero needs no unit (as in Postgres and Go): "0" means "off" for settings
  // such as ADMIT_PG_STATEMENT_TIMEOUT.
  if (s == "0") {
    *out = std::chrono::milliseconds(0);
    return absl::OkStatus();
  }
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    if (start == i) return absl::InvalidArgumentError(form);
    int64_t number = 0;
    if (i - start > 12 ||
        !absl::SimpleAtoi(s.substr(start, i - start), &number)) {
      return absl::InvalidArgumentError(form);
    }
    size_t unit_start = i;
    while (i < s.size() && absl::ascii_isalpha(s[i])) ++i;
    std::string unit = s.substr(unit_start, i - unit_start);
    int64_t factor;
    if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60000;
    } else if (unit == "h") {
      factor = 3600000;
    } else {
      return absl::InvalidArgumentError(form);
    }
    total_ms += number * factor;
  }
  *out = std::chrono::milliseconds(total_ms);
  return absl::OkStatus();
}

absl::Status ParseBool(const std::string& text, bool* out) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (s == "true" || s == "1" || s == "yes" || s == "on") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no" || s == "off") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(
        "expected true/false, 1/0, yes/no or on/off");
  }
  return absl::OkStatus();
}

Settings::Settings(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void Settings::Register(Entry entry) {
  for (const auto& e : entries_) {
    if (e.name == entry.name) {
      std::fprintf(stderr, "config: %s registered twice\n", e.name.c_str());
      std::abort();
    }
  }
  entries_.push_back(std::move(entry));
}

void Settings::AddString(std::string name, std::string default_value,
                         std::string description, std::string* target) {
  *target = default_value;
  Register({std::move(name), std::move(default_value), std::move(description),
            [target](const std::string& v) {
              *target = v;
              return absl::OkStatus();
            }});
}

void Settings::AddInt(std::string name, int64_t default_value,
                      std::string description, int64_t* target, int64_t min,
                      int64_t max) {
  *target = default_value;
  Register({std::move(name), absl::StrCat(default_value),
            std::move(description), [target, min, max](const std::string& v) {
              int64_t parsed;
              if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &parsed)) {
                return absl::InvalidArgumentError("expected an integer");
              }
              if (parsed < min || parsed > max) {
                return absl::InvalidArgumentError(
                    absl::StrCat("must be between ", min, " and ", max));
              }
              *target = parsed;
              return absl::OkStatus();
            }});
}

void Settings::AddBool(std::string name, bool default_value,
                       std::string description, bool* target) {
  *target = default_value;
  Register({std::move(name), default_value ? "true" : "false",
            std::move(description),
            [target](const std::string& v) { return ParseBool(v, target); }});
}

void Settings::AddDuration(std::string name,
                           std::chrono::milliseconds default_value,
                           std::string description,
                           std::chrono::milliseconds* target) {
  *target = default_value;
  Register(
      {std::move(name), FormatDuration(default_value), std::move(description),
       [target](const std::string& v) { return ParseDuration(v, target); }});
}

void Settings::AddEnum(std::string name, std::string default_value,
                       std::vector<std::string> allowed,
                       std::string description, std::string* target) {
  *target = default_value;
  std::string choices = absl::StrJoin(allowed, ", ");
  Register(
      {std::move(name), std::move(default_value),
       absl::StrCat(description, " One of: ", choices, "."),
       [target, allowed = std::move(allowed), choices](const std::string& v) {
         for (const auto& a : allowed) {
           if (a == v) {
             *target = v;
             return absl::OkStatus();
           }
         }
         return absl::InvalidArgumentError(
             absl::StrCat("expected one of: ", choices));
       }});
}

absl::Status Settings::Load(const Lookup& lookup) {
  for (const auto& entry : entries_) {
    std::optional<std::string> value = lookup(entry.name);
    if (!value.has_value()) continue;
    absl::Status status = entry.parse(*value);
    if (!status.ok()) {
      // The value itself is echoed only when short: it may be a secret.
      std::string shown =
          value->size() <= 64 && entry.name.find("KEY") == std::string::npos &&
                  entry.name.find("PASSWORD") == std::string::npos &&
                  entry.name.find("SECRET") == std::string::npos
              ? absl::StrCat(" (got \"", *value, "\")")
              : "";
      return absl::InvalidArgumentError(
          absl::StrCat("invalid ", entry.name, shown, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

std::string Settings::Help() const {
  std::string out =
      absl::StrCat(program_, ": ", summary_, "\n\nUsage: ", program_,
                   " [--help] [--help-markdown]\n\n"
                   "Configuration (environment variables):\n");
  for (const auto& e : entries_) {
    absl::StrAppend(&out, "  ", e.name, " (default: \"", e.default_text,
                    "\")\n      ", e.description, "\n");
  }
  return out;
}

std::string Settings::Markdown() const {
  std::string out = absl::StrCat("### ", program_, "\n\n", summary_,
                                 "\n\n| variable | default | meaning |\n"
                                 "| --- | --- | --- |\n");
  for (const auto& e : entries_) {
    // An empty code span (``) does not render; say "(empty)" instead.
    std::string default_cell = e.default_text.empty()
                                   ? "(empty)"
                                   : absl::StrCat("`", e.default_text, "`");
    absl::StrAppend(&out, "| `", e.name, "` | ", default_cell, " | ",
                    e.description, " |\n");
  }
  return out;
}

void LoadOrExit(Settings& settings, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << settings.Help();
      std::exit(0);
    }
    if (arg == "--help-markdown") {
      std::cout << settings.Markdown();
      std::exit(0);
    }
    std::cerr << settings.program() << ": unknown argument \"" << arg
              << "\"; configuration comes from environment variables, see "
                 "--help\n";
    std::exit(2);
  }
  absl::Status status = settings.Load();
  if (!status.ok()) {
    std::cerr << settings.program() << ": " << status.message() << "\n";
    std::exit(2);
  }
}

}  // namespace admit::config
