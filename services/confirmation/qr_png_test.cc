// The QR image is checked the way a door scanner would: decoded by zbarimg
// (Debian's zbar-tools), which must read back exactly the ticket code.
#include "services/confirmation/qr_png.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "gtest/gtest.h"

namespace admit::confirmation {
namespace {

std::string RunCapture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[256];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

TEST(QrPngTest, ImageIsAPngThatDecodesToTheText) {
  const std::string code = "TABCDEFGHIJKLMNOPQRSTUVWXYZ";
  auto png = QrPng(code);
  ASSERT_TRUE(png.ok()) << png.status();
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  ASSERT_EQ(access("/usr/bin/zbarimg", X_OK), 0)
      << "zbarimg is missing: install zbar-tools (deploy/local/packages.txt)";
  const std::string path = ::testing::TempDir() + "/qr_png_test_" +
                           std::to_string(getpid()) + ".png";
  std::ofstream(path, std::ios::binary) << *png;
  const std::string decoded =
      RunCapture("zbarimg --quiet --raw '" + path + "' 2>/dev/null");
  std::remove(path.c_str());
  EXPECT_EQ(decoded, code + "\n");
}

TEST(QrPngTest, EmptyOrHugeTextIsInvalid) {
  EXPECT_EQ(QrPng("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QrPng(std::string(10000, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QrPng("x", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace admit::confirmation
