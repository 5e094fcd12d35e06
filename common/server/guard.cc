#include "common/server/guard.h"

#include <cxxabi.h>

#include <cstdlib>
#include <string>
#include <typeinfo>

#include "common/log/log.h"

namespace admit::server {

namespace {

constexpr size_t kMaxWhatLength = 200;

std::string Demangle(const char* name) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return name;
  std::string result = demangled;
  std::free(demangled);
  return result;
}

// The first line of `what`, shortened: later lines of driver errors carry
// data values (Postgres DETAIL: Key (email)=(...)).
std::string FirstLine(const char* what) {
  std::string text = what == nullptr ? "" : what;
  text = text.substr(0, text.find('\n'));
  if (text.size() > kMaxWhatLength) {
    text.resize(kMaxWhatLength);
    text += "...";
  }
  return text;
}

}  // namespace

grpc::Status StatusFromUnhandledException(
    std::string_view method, const std::exception_ptr& exception) noexcept {
  try {
    std::string type = "unknown (not a std::exception)";
    std::string what;
    try {
      if (exception) std::rethrow_exception(exception);
    } catch (const std::exception& e) {
      type = Demangle(typeid(e).name());
      what = FirstLine(e.what());
    } catch (...) {
    }
    log::Error("unhandled exception in RPC handler",
               {{"method", method}, {"exception", type}, {"what", what}});
  } catch (...) {
    // Logging itself failed (out of memory): still answer the call.
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
}

}  // namespace admit::server
