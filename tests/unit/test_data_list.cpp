#include <functional>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/sources/file_source.h"
#include "test_data_files.h"

using mae::testing::TempDir;
using mae::testing::write_bytes;

namespace {

void expect_usage_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no UsageError; expected one mentioning " << needle;
  } catch (const mae::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(DataList, ReadsPathsAndLabelsWithBlankLinesCrlfAndComments) {
  TempDir dir;
  write_bytes(dir.file("train.txt"), "# images\r\na/1.jpg 3\r\n\r\n  b/2.jpg\t0  \r\n/abs/3.png 12\r\n");
  write_bytes(dir.file("more.txt"), "c/4.jpg 1");  // no final newline
  auto source = mae::data::read_image_lists(dir.path(), {"train.txt", "more.txt"});
  ASSERT_EQ(source->size(), 4);
  EXPECT_EQ(source->entries()[0].path, dir.file("a/1.jpg"));
  EXPECT_EQ(source->entries()[1].path, dir.file("b/2.jpg"));
  EXPECT_EQ(source->entries()[2].path, "/abs/3.png");
  EXPECT_EQ(source->label(0), 3);
  EXPECT_EQ(source->label(1), 0);
  EXPECT_EQ(source->label(3), 1);
  EXPECT_EQ(source->num_classes(), 13);
  EXPECT_EQ(source->describe(1), dir.file("train.txt") + ":4: " + dir.file("b/2.jpg"));
  EXPECT_EQ(source->describe(3), dir.file("more.txt") + ":1: " + dir.file("c/4.jpg"));
}

TEST(DataList, UnlabelledListsGiveMinusOne) {
  TempDir dir;
  write_bytes(dir.file("list.txt"), "x.jpg\ny.jpg\n");
  auto source = mae::data::read_image_lists(dir.path(), {"list.txt"});
  EXPECT_EQ(source->label(1), -1);
  EXPECT_EQ(source->num_classes(), 0);
}

TEST(DataList, BadLinesNameTheFileAndLine) {
  TempDir dir;
  write_bytes(dir.file("three.txt"), "a.jpg 1\nb.jpg 2\nc d.jpg 3\n");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"three.txt"}); }, "three.txt:3: expected `path` or `path label`");
  write_bytes(dir.file("label.txt"), "a.jpg 1\nb.jpg x\n");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"label.txt"}); }, "label.txt:2: label 'x'");
  write_bytes(dir.file("negative.txt"), "a.jpg -1\n");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"negative.txt"}); }, "negative.txt:1: label '-1'");
  write_bytes(dir.file("mixed.txt"), "a.jpg 1\n\nb.jpg\n");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"mixed.txt"}); }, "mixed.txt:3 has no label but");
  write_bytes(dir.file("empty.txt"), "\n# nothing\n\n");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"empty.txt"}); }, "no images found");
  expect_usage_error([&] { mae::data::read_image_lists(dir.path(), {"missing.txt"}); }, "missing.txt' does not exist");
}
