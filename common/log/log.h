// Structured logging: one JSON object per line on stderr.
//
//   {"ts":"2026-11-28T04:07:48.123Z","level":"info","service":"quota",
//    "msg":"hold expired","request_id":"...","hold_id":"..."}
//
// The level comes from ADMIT_LOG_LEVEL (debug, info, warn, error). A request
// id set with RequestScope is added to every line the thread writes while the
// scope lives. Contract for callers: never pass an email address, a person's
// name or a token as a field or in the message; log ids instead.
// Thread-safe: lines from concurrent threads never interleave.
#ifndef ADMIT_COMMON_LOG_LOG_H_
#define ADMIT_COMMON_LOG_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"

namespace admit::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug" | "info" | "warn" | "error" -> Level; INVALID_ARGUMENT otherwise.
absl::Status ParseLevel(std::string_view text, Level* out);

// Sets the service name written on every line and the minimum level.
// Call once from main() before starting threads.
void Init(std::string service, Level level);
bool Enabled(Level level);

struct Field {
  std::string_view key;
  std::variant<std::string_view, int64_t, double, bool> value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  Field(std::string_view k, int64_t v) : key(k), value(v) {}
  Field(std::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
};

void Write(Level level, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

// Attaches `request_id` to every line this thread writes until destroyed.
// Scopes nest; the innermost wins. Work handed to another thread must open
// its own scope there.
class RequestScope {
 public:
  explicit RequestScope(std::string request_id);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  std::string previous_;
};

// The request id of the innermost live scope on this thread, or "".
const std::string& CurrentRequestId();

// Redirects output (tests). nullptr restores stderr. Not thread-safe with
// concurrent Write().
void SetSinkForTesting(std::string* sink);

}  // namespace admit::log

#endif  // ADMIT_COMMON_LOG_LOG_H_
