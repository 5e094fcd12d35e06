#include "services/confirmation/qr_png.h"

#include <png.h>
#include <qrencode.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "absl/status/status.h"

namespace admit::confirmation {
namespace {

constexpr int kQuietZone = 4;  // modules of white border (ISO/IEC 18004)

using QrPtr = std::unique_ptr<QRcode, decltype(&QRcode_free)>;

void AppendToString(png_structp png, png_bytep data, png_size_t size) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), size);
}

void NoFlush(png_structp) {}

// The PNG writer. libpng reports errors by longjmp to the setjmp in
// WritePng; nothing with a destructor may live between the two, and no local
// assigned after setjmp may be read after the jump (GCC's -Wclobbered), so
// the row buffer and the sizes come from the caller.
bool WritePng(const QRcode& qr, int scale, int pixels,
              std::vector<png_byte>& row, std::string* out) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, AppendToString, NoFlush);
  png_set_IHDR(png, info, pixels, pixels, 1, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < pixels; ++y) {
    const int my = y / scale - kQuietZone;
    std::fill(row.begin(), row.end(), 0xff);  // white
    for (int x = 0; x < pixels; ++x) {
      const int mx = x / scale - kQuietZone;
      const bool dark = mx >= 0 && my >= 0 && mx < qr.width && my < qr.width &&
                        (qr.data[my * qr.width + mx] & 1) != 0;
      if (dark) row[x / 8] &= static_cast<png_byte>(~(0x80 >> (x % 8)));
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

absl::StatusOr<std::string> QrPng(std::string_view text, int scale) {
  if (text.empty()) {
    return absl::InvalidArgumentError("QR code text is empty");
  }
  if (scale < 1 || scale > 64) {
    return absl::InvalidArgumentError("QR code scale must be 1 to 64");
  }
  QrPtr qr(
      QRcode_encodeData(static_cast<int>(text.size()),
                        reinterpret_cast<const unsigned char*>(text.data()), 0,
                        QR_ECLEVEL_M),
      &QRcode_free);
  if (qr == nullptr) {
    if (errno == ERANGE) {
      return absl::InvalidArgumentError("text too long for a QR code");
    }
    return absl::InternalError("libqrencode could not encode the text");
  }
  const int pixels = (qr->width + 2 * kQuietZone) * scale;
  std::vector<png_byte> row((pixels + 7) / 8);
  std::string png;
  if (!WritePng(*qr, scale, pixels, row, &png)) {
    return absl::InternalError("libpng could not write the QR image");
  }
  return png;
}

}  // namespace admit::confirmation
