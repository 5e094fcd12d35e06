#include "common/redis/reply.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace admit::redis {
namespace {

constexpr size_t kDebugStringMax = 64;

std::string TypeName(Reply::Type type) {
  switch (type) {
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kInteger:
      return "integer";
    case Reply::Type::kString:
      return "string";
    case Reply::Type::kStatus:
      return "status";
    case Reply::Type::kError:
      return "error";
    case Reply::Type::kArray:
      return "array";
  }
  return "unknown";
}

std::string Cut(const std::string& s) {
  if (s.size() <= kDebugStringMax) return s;
  return absl::StrCat(s.substr(0, kDebugStringMax), "...(", s.size(),
                      " bytes)");
}

absl::Status WrongType(const char* expected, const Reply& got) {
  return absl::InternalError(absl::StrCat("redis: expected ", expected,
                                          " reply, got ", TypeName(got.type()),
                                          " ", got.DebugString()));
}

}  // namespace

Reply Reply::Integer(int64_t value) {
  Reply r;
  r.type_ = Type::kInteger;
  r.integer_ = value;
  return r;
}

Reply Reply::String(std::string value) {
  Reply r;
  r.type_ = Type::kString;
  r.str_ = std::move(value);
  return r;
}

Reply Reply::Status(std::string value) {
  Reply r;
  r.type_ = Type::kStatus;
  r.str_ = std::move(value);
  return r;
}

Reply Reply::Error(std::string message) {
  Reply r;
  r.type_ = Type::kError;
  r.str_ = std::move(message);
  return r;
}

Reply Reply::Array(std::vector<Reply> elements) {
  Reply r;
  r.type_ = Type::kArray;
  r.elements_ = std::move(elements);
  return r;
}

std::string_view Reply::error_code() const {
  if (type_ != Type::kError) return {};
  std::string_view s(str_);
  size_t space = s.find(' ');
  return space == std::string_view::npos ? s : s.substr(0, space);
}

std::string Reply::DebugString() const {
  switch (type_) {
    case Type::kNil:
      return "(nil)";
    case Type::kInteger:
      return absl::StrCat("(integer) ", integer_);
    case Type::kString:
      return absl::StrCat("\"", Cut(str_), "\"");
    case Type::kStatus:
      return Cut(str_);
    case Type::kError:
      return absl::StrCat("(error) ", Cut(str_));
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements_.size(); ++i) {
        if (i > 0) out += ", ";
        absl::StrAppend(&out, i + 1, ") ", elements_[i].DebugString());
      }
      out += "]";
      return out;
    }
  }
  return "(unknown)";
}

absl::Status ErrorReplyToStatus(const Reply& reply) {
  if (!reply.is_error()) return absl::OkStatus();
  std::string message = absl::StrCat("redis: ", reply.str());
  std::string_view code = reply.error_code();
  if (code == "LOADING" || code == "BUSY" || code == "MASTERDOWN" ||
      code == "TRYAGAIN" || code == "CLUSTERDOWN" || code == "READONLY") {
    return absl::UnavailableError(message);
  }
  if (code == "OOM") return absl::ResourceExhaustedError(message);
  if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") {
    return absl::PermissionDeniedError(message);
  }
  return absl::InternalError(message);
}

absl::StatusOr<int64_t> AsInteger(const absl::StatusOr<Reply>& reply) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReplyToStatus(*reply);
  if (!reply->is_integer()) return WrongType("integer", *reply);
  return reply->integer();
}

absl::StatusOr<std::optional<std::string>> AsString(
    const absl::StatusOr<Reply>& reply) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReplyToStatus(*reply);
  if (reply->is_nil()) return std::optional<std::string>();
  if (!reply->is_string() && !reply->is_status()) {
    return WrongType("string", *reply);
  }
  return std::optional<std::string>(reply->str());
}

absl::StatusOr<std::vector<Reply>> AsArray(const absl::StatusOr<Reply>& reply) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReplyToStatus(*reply);
  if (reply->is_nil()) return std::vector<Reply>();
  if (!reply->is_array()) return WrongType("array", *reply);
  return reply->elements();
}

}  // namespace admit::redis
