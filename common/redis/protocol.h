// RESP2 encoding and decoding for the client (internal: used by client.cc and
// its tests, not by callers). Decoding is hiredis' redisReader; encoding is
// done here so that a batch of commands is appended into one output buffer
// without an allocation per command.
#ifndef ADMIT_COMMON_REDIS_PROTOCOL_H_
#define ADMIT_COMMON_REDIS_PROTOCOL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/reply.h"

struct redisReader;
struct redisReply;

namespace admit::redis::internal {

// Appends `argv` encoded as a RESP multi-bulk request ("*2\r\n$3\r\nGET..."),
// byte for byte what hiredis' redisFormatCommandArgv produces.
void AppendCommand(const std::vector<std::string>& argv, std::string* out);

// Deep copy of a hiredis reply into a Reply. `reply` is not freed.
Reply FromHiredis(const redisReply& reply);

// Incremental reply parser over a byte stream. Not thread-safe (one per
// connection, used by its I/O thread).
class ReplyParser {
 public:
  ReplyParser();
  ~ReplyParser();
  ReplyParser(const ReplyParser&) = delete;
  ReplyParser& operator=(const ReplyParser&) = delete;

  // Appends bytes received from the server. INTERNAL if the reader fails
  // (out of memory, or a previous protocol error).
  absl::Status Feed(const char* data, size_t size);

  // The next complete reply; nullopt when the bytes fed so far do not hold
  // one. INTERNAL ("redis protocol error: ...") when the stream is not valid
  // RESP; the parser is unusable afterwards (the connection must be closed).
  absl::StatusOr<std::optional<Reply>> Next();

 private:
  redisReader* reader_;
};

// Lower-case hex SHA1 of `data` (the script digest EVALSHA expects).
std::string Sha1Hex(const std::string& data);

}  // namespace admit::redis::internal

#endif  // ADMIT_COMMON_REDIS_PROTOCOL_H_
