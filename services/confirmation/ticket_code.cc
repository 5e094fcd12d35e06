#include "services/confirmation/ticket_code.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "common/crypto/key.h"
#include "common/crypto/token.h"

namespace admit::confirmation {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kCodeBytes = 16;  // 128 bits of the HMAC
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Domain separation: the same key must never yield a ticket code for
// another purpose's input.
constexpr std::string_view kContext("admit-ticket-v1\0", 16);

// RFC 4648 base32, upper case, no padding: 16 bytes -> 26 characters.
std::string Base32(const unsigned char* data, size_t size) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

}  // namespace

absl::StatusOr<TicketCoder> TicketCoder::FromBase64Key(
    std::string_view key_base64) {
  absl::StatusOr<std::string> raw =
      crypto::DecodeBase64Key(key_base64, kKeyBytes, "ticket key");
  if (!raw.ok()) return raw.status();
  return TicketCoder(*std::move(raw));
}

TicketCoder::~TicketCoder() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::string TicketCoder::CodeFor(std::string_view registration_id) const {
  std::string message(kContext);
  message.append(registration_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       mac, &mac_size);
  return "T" + Base32(mac, kCodeBytes);
}

bool TicketCoder::Verify(std::string_view registration_id,
                         std::string_view code) const {
  std::string normalized(
      absl::StripAsciiWhitespace(absl::string_view(code.data(), code.size())));
  absl::AsciiStrToUpper(&normalized);
  return crypto::ConstantTimeEquals(CodeFor(registration_id), normalized);
}

bool TicketCoder::IsWellFormed(std::string_view code) {
  if (code.size() != kCodeLength || code[0] != 'T') return false;
  for (char c : code.substr(1)) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) return false;
  }
  // 26 base32 characters carry 130 bits; the last one's low 2 bits are 0.
  const char last = code.back();
  const int value = last >= 'A' ? last - 'A' : last - '2' + 26;
  return (value & 3) == 0;
}

}  // namespace admit::confirmation
