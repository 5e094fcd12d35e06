#include "common/redis/protocol.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"

namespace admit::redis::internal {
namespace {

void AppendLength(char prefix, size_t n, std::string* out) {
  char buf[24];
  char* end = buf + sizeof(buf);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out->push_back(prefix);
  out->append(p, static_cast<size_t>(end - p));
  out->append("\r\n", 2);
}

}  // namespace

void AppendCommand(const std::vector<std::string>& argv, std::string* out) {
  size_t size = 16;
  for (const std::string& arg : argv) size += arg.size() + 16;
  out->reserve(out->size() + size);
  AppendLength('*', argv.size(), out);
  for (const std::string& arg : argv) {
    AppendLength('$', arg.size(), out);
    out->append(arg);
    out->append("\r\n", 2);
  }
}

Reply FromHiredis(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      return Reply::Integer(reply.integer);
    case REDIS_REPLY_STRING:
      return Reply::String(std::string(reply.str, reply.len));
    case REDIS_REPLY_STATUS:
      return Reply::Status(std::string(reply.str, reply.len));
    case REDIS_REPLY_ERROR:
      return Reply::Error(std::string(reply.str, reply.len));
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        elements.push_back(FromHiredis(*reply.element[i]));
      }
      return Reply::Array(std::move(elements));
    }
    case REDIS_REPLY_NIL:
    default:
      return Reply::Nil();
  }
}

ReplyParser::ReplyParser() : reader_(redisReaderCreate()) {}

ReplyParser::~ReplyParser() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

absl::Status ReplyParser::Feed(const char* data, size_t size) {
  if (reader_ == nullptr)
    return absl::InternalError("redis reader: out of memory");
  if (redisReaderFeed(reader_, data, size) != REDIS_OK) {
    return absl::InternalError(
        absl::StrCat("redis reader: ", redisReaderGetError(reader_)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Reply>> ReplyParser::Next() {
  if (reader_ == nullptr)
    return absl::InternalError("redis reader: out of memory");
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    return absl::InternalError(
        absl::StrCat("redis protocol error: ", redisReaderGetError(reader_)));
  }
  if (raw == nullptr) return std::optional<Reply>();
  auto* reply = static_cast<redisReply*>(raw);
  Reply converted = FromHiredis(*reply);
  freeReplyObject(reply);
  return std::optional<Reply>(std::move(converted));
}

std::string Sha1Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha1(),
                 nullptr) != 1) {
    return "";  // unreachable in practice; EVALSHA then gets NOSCRIPT -> EVAL
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace admit::redis::internal
