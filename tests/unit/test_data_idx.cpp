#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/sources/memory_source.h"
#include "test_data_files.h"

using mae::testing::TempDir;
using mae::testing::write_idx;

namespace {

std::vector<uint8_t> ramp(size_t n, int step) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * step) % 256);
  return v;
}

}  // namespace

TEST(DataIdx, ReadsGzippedAndRawImagesWithLabels) {
  TempDir dir;
  const auto pixels = ramp(5 * 4 * 3, 7);
  for (bool gzip : {true, false}) {
    write_idx(dir.file("images"), {5, 4, 3}, pixels, gzip);
    write_idx(dir.file("labels"), {5}, {3, 0, 200, 1, 2}, gzip);
    auto source = mae::data::load_idx(dir.file("images"), dir.file("labels"));
    ASSERT_EQ(source->size(), 5);
    EXPECT_EQ(source->label(2), 200);  // labels are unsigned bytes
    EXPECT_EQ(source->num_classes(), 201);
    const auto image = source->open(3);
    EXPECT_EQ(image.format, mae::data::ImageFormat::kPixels);
    ASSERT_EQ(image.pixels.sizes(), (std::vector<int64_t>{4, 3, 1}));
    EXPECT_EQ(image.height, 4);
    EXPECT_EQ(image.width, 3);
    // Sample 3, row 2, column 1.
    EXPECT_EQ(image.pixels[2][1][0].item<int>(), pixels[3 * 12 + 2 * 3 + 1]) << "gzip " << gzip;
  }
}

TEST(DataIdx, FourDimensionalImagesAreChannelsLastAndLabelsOptional) {
  TempDir dir;
  const auto pixels = ramp(2 * 2 * 2 * 3, 11);
  write_idx(dir.file("rgb.idx"), {2, 2, 2, 3}, pixels, false);
  auto source = mae::data::load_idx(dir.file("rgb.idx"), "");
  EXPECT_EQ(source->label(0), -1);
  EXPECT_EQ(source->num_classes(), 0);
  const auto image = source->open(1);
  ASSERT_EQ(image.channels, 3);
  EXPECT_EQ(image.pixels[1][0][2].item<int>(), pixels[12 + 6 + 2]);
}

TEST(DataIdx, BadFilesStopWithTheirPath) {
  TempDir dir;
  write_idx(dir.file("images"), {3, 2, 2}, ramp(12, 1), true);
  write_idx(dir.file("labels4"), {4}, {0, 1, 2, 3}, true);
  auto expect_usage = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error, expected one mentioning " << needle;
    } catch (const mae::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_usage([&] { mae::data::load_idx(dir.file("missing"), ""); }, "missing' does not exist");
  expect_usage([&] { mae::data::load_idx(dir.file("images"), dir.file("labels4")); }, "holds 4 labels");
  // Data shorter than the header promises.
  std::string bytes = mae::testing::read_bytes(dir.file("images"));
  write_idx(dir.file("short"), {3, 2, 2}, ramp(11, 1), false);
  expect_usage([&] { mae::data::load_idx(dir.file("short"), ""); }, "truncated");
  mae::testing::write_bytes(dir.file("text"), "hello world");
  expect_usage([&] { mae::data::load_idx(dir.file("text"), ""); }, "not an IDX file");
  // A gzip stream cut in the middle.
  mae::testing::write_bytes(dir.file("cut.gz"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(mae::data::load_idx(dir.file("cut.gz"), ""), mae::Error);
}
