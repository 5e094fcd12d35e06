// QR code images of ticket codes, for the ticket email's HTML part.
//
// libqrencode makes the symbol (8-bit mode, error correction level M, version
// chosen by the library); libpng writes it as a 1-bit grayscale PNG with a
// 4-module quiet zone, each module `scale` pixels wide.
#ifndef ADMIT_SERVICES_CONFIRMATION_QR_PNG_H_
#define ADMIT_SERVICES_CONFIRMATION_QR_PNG_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace admit::confirmation {

// The PNG file (bytes) of the QR code of `text`. INVALID_ARGUMENT when `text`
// is empty or too long for a QR code (over ~2,300 bytes at level M);
// INTERNAL if libqrencode or libpng fail (out of memory).
absl::StatusOr<std::string> QrPng(std::string_view text, int scale = 6);

}  // namespace admit::confirmation

#endif  // ADMIT_SERVICES_CONFIRMATION_QR_PNG_H_
