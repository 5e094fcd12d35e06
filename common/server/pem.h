// Reading PEM files named by configuration (internal to admit::server).
#ifndef ADMIT_COMMON_SERVER_PEM_H_
#define ADMIT_COMMON_SERVER_PEM_H_

#include <string>

#include "absl/status/statusor.h"

namespace admit::server::internal {

inline constexpr char kPemCertificate[] = "-----BEGIN CERTIFICATE-----";
inline constexpr char kPemPrivateKey[] = "PRIVATE KEY-----";

// The contents of `path`, which must contain `marker`. INVALID_ARGUMENT
// naming `setting` (the variable or option the path came from) when the file
// cannot be read or does not look like PEM of that kind.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const std::string& setting,
                                        const char* marker);

}  // namespace admit::server::internal

#endif  // ADMIT_COMMON_SERVER_PEM_H_
