#include "common/log/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace admit::log {
namespace {

struct State {
  std::mutex mu;
  std::string service = "admit";
  Level level = Level::kInfo;
  std::string* sink = nullptr;
};

State& GetState() {
  static State* state = new State();  // never destroyed: logging at exit works
  return *state;
}

thread_local std::string current_request_id;

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

absl::Status ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == LevelName(l)) {
      *out = l;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      "expected one of: debug, info, warn, error");
}

void Init(std::string service, Level level) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.service = std::move(service);
  s.level = level;
}

bool Enabled(Level level) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  return level >= s.level;
}

void Write(Level level, std::string_view message,
           std::initializer_list<Field> fields) {
  State& s = GetState();
  if (!Enabled(level)) return;
  nlohmann::ordered_json line;
  line["ts"] = Timestamp();
  line["level"] = LevelName(level);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    line["service"] = s.service;
  }
  line["msg"] = std::string(message);
  if (!current_request_id.empty()) line["request_id"] = current_request_id;
  for (const Field& f : fields) {
    std::string key(f.key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            line[key] = std::string(v);
          } else {
            line[key] = v;
          }
        },
        f.value);
  }
  // Invalid UTF-8 is replaced rather than throwing: a log line never takes a
  // request down.
  std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.sink != nullptr) {
    s.sink->append(text);
  } else {
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
}

RequestScope::RequestScope(std::string request_id)
    : previous_(std::move(current_request_id)) {
  current_request_id = std::move(request_id);
}

RequestScope::~RequestScope() { current_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return current_request_id; }

void SetSinkForTesting(std::string* sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = sink;
}

}  // namespace admit::log
