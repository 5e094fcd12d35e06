// A Redis reply as a plain value, independent of hiredis' redisReply, and the
// conversions callers use to turn one into the value they expect.
//
// RESP2 has five kinds of reply; Reply keeps them apart because callers care:
// a nil GET is not an empty string, and an error reply (NOSCRIPT, WRONGTYPE)
// is a reply, not a transport failure. Transport failures never appear as a
// Reply: the client reports them as an absl::Status (UNAVAILABLE,
// DEADLINE_EXCEEDED).
//
// Reply is a value type: copyable, movable, comparable; safe to use from any
// thread like any other value.
#ifndef ADMIT_COMMON_REDIS_REPLY_H_
#define ADMIT_COMMON_REDIS_REPLY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace admit::redis {

class Reply {
 public:
  enum class Type {
    kNil,      // a missing value (GET of an absent key, a nil bulk/multi-bulk)
    kInteger,  // ":42"
    kString,   // a bulk string; binary-safe
    kStatus,   // a simple string: "+OK", "+PONG", "+QUEUED"
    kError,    // "-ERR ...", "-NOSCRIPT ...": the whole line without the '-'
    kArray,    // a multi-bulk reply; elements may be any type, nested
  };

  // A nil reply.
  Reply() = default;

  static Reply Nil() { return Reply(); }
  static Reply Integer(int64_t value);
  static Reply String(std::string value);
  static Reply Status(std::string value);
  // `message` is the error line without the leading '-', e.g.
  // "NOSCRIPT No matching script. Please use EVAL.".
  static Reply Error(std::string message);
  static Reply Array(std::vector<Reply> elements);

  Type type() const { return type_; }
  bool is_nil() const { return type_ == Type::kNil; }
  bool is_integer() const { return type_ == Type::kInteger; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_status() const { return type_ == Type::kStatus; }
  bool is_error() const { return type_ == Type::kError; }
  bool is_array() const { return type_ == Type::kArray; }

  // The value of a kInteger reply; 0 for every other type.
  int64_t integer() const { return integer_; }
  // The text of a kString, kStatus or kError reply; "" for the others.
  const std::string& str() const { return str_; }
  // The elements of a kArray reply; empty for the others.
  const std::vector<Reply>& elements() const { return elements_; }

  // For a kError reply, its first word: the error code Redis puts there
  // ("ERR", "NOSCRIPT", "WRONGTYPE", "LOADING", ...). "" for other types.
  std::string_view error_code() const;

  // A short, human-readable rendering for logs and test failures, e.g.
  // `(integer) 3`, `"abc"`, `(error) ERR wrong`, `[1) (integer) 1, 2) (nil)]`.
  // Long strings are cut; never log replies that may carry personal data.
  std::string DebugString() const;

  friend bool operator==(const Reply& a, const Reply& b) = default;

 private:
  Type type_ = Type::kNil;
  int64_t integer_ = 0;
  std::string str_;
  std::vector<Reply> elements_;
};

// The absl::Status an error reply stands for, for callers that treat any error
// reply as a failure. OK for every reply that is not kError. Otherwise, by
// error code:
//   LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, READONLY -> UNAVAILABLE
//     (the server cannot serve this now; the same call may succeed later);
//   OOM -> RESOURCE_EXHAUSTED;
//   NOAUTH, WRONGPASS, NOPERM -> PERMISSION_DENIED;
//   anything else (ERR, WRONGTYPE, NOSCRIPT, ...) -> INTERNAL.
// The message is "redis: " followed by the error line.
absl::Status ErrorReplyToStatus(const Reply& reply);

// Conversions for the common shapes. Each passes a non-OK `reply` status
// through unchanged, turns an error reply into ErrorReplyToStatus(), and
// returns INTERNAL ("redis: expected ..., got ...") for a reply of another
// type.
//   AsInteger: a kInteger reply's value.
//   AsString:  a kString or kStatus reply's text; nullopt for kNil.
//   AsArray:   a kArray reply's elements (kNil -> empty).
absl::StatusOr<int64_t> AsInteger(const absl::StatusOr<Reply>& reply);
absl::StatusOr<std::optional<std::string>> AsString(
    const absl::StatusOr<Reply>& reply);
absl::StatusOr<std::vector<Reply>> AsArray(const absl::StatusOr<Reply>& reply);

}  // namespace admit::redis

#endif  // ADMIT_COMMON_REDIS_REPLY_H_
