#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/data/sources/file_source.h"
#include "test_data_files.h"

using mae::testing::TempDir;
using mae::testing::write_bytes;

TEST(DataFolder, ScansRecursivelyInTorchvisionOrder) {
  TempDir dir;
  for (const char* name : {"b/z.png", "a/y.JPG", "a-x/b.jpeg", "a/notes.txt", "top.jpg", "a/deep/x.jpg"}) {
    write_bytes(dir.file(name), "x");
  }
  auto source = mae::data::scan_image_folder(dir.path());
  std::vector<std::string> paths;
  for (int64_t i = 0; i < source->size(); ++i) paths.push_back(source->entries()[i].path.substr(dir.path().size() + 1));
  // Sorted by folder, then by name within it (os.walk order): "a" before "a-x" before "a/deep".
  EXPECT_EQ(paths, (std::vector<std::string>{"top.jpg", "a/y.JPG", "a-x/b.jpeg", "a/deep/x.jpg", "b/z.png"}));
  EXPECT_EQ(source->label(0), -1);
  EXPECT_EQ(source->num_classes(), 0);
}

TEST(DataFolder, ClassFoldersAreSortedByName) {
  TempDir dir;
  for (const char* name : {"train/dog/1.jpg", "train/dog/0.jpg", "train/cat/9.png", "train/cat/sub/2.jpg", "train/ant/a.jpg"}) {
    write_bytes(dir.file(name), "x");
  }
  auto source = mae::data::scan_class_folders(dir.file("train"));
  EXPECT_EQ(source->class_names(), (std::vector<std::string>{"ant", "cat", "dog"}));
  EXPECT_EQ(source->num_classes(), 3);
  ASSERT_EQ(source->size(), 5);
  EXPECT_EQ(source->label(0), 0);
  EXPECT_EQ(source->label(1), 1);
  EXPECT_EQ(source->label(4), 2);
  EXPECT_EQ(source->entries()[3].path, dir.file("train/dog/0.jpg"));
}

TEST(DataFolder, EmptyOrMissingFoldersAreUsageErrors) {
  TempDir dir;
  write_bytes(dir.file("train/cat/1.jpg"), "x");
  write_bytes(dir.file("train/empty/readme.txt"), "x");
  EXPECT_THROW(mae::data::scan_class_folders(dir.file("train")), mae::UsageError);
  EXPECT_THROW(mae::data::scan_class_folders(dir.file("nope")), mae::UsageError);
  EXPECT_THROW(mae::data::scan_image_folder(dir.file("train/empty")), mae::UsageError);
  EXPECT_THROW(mae::data::scan_image_folder(dir.file("nope")), mae::UsageError);
}
