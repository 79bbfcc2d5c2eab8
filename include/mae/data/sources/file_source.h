// Sources of one image file per sample, read and decoded when the loader asks: list files (the
// EasyCV format), a folder scanned recursively, and ImageNet-style class folders. A sample is a
// JPEG, PNG or TIFF file, or a NumPy .npy / .npz array (array_source.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mae/data/sources/array_source.h"
#include "mae/data/sources/source.h"

namespace mae::data {

struct FileEntry {
  std::string path;    // as opened (root joined)
  int64_t label = -1;  // -1 when unlabelled
  int32_t list = -1;   // index into the source's list files, -1 when scanned from a folder
  int32_t line = 0;    // 1-based line in that list file
};

class FileSource : public Source {
 public:
  // num_classes 0 with labels present means max label + 1. Throws UsageError when empty.
  FileSource(std::vector<FileEntry> entries, std::vector<std::string> list_files,
             std::vector<std::string> class_names, std::string origin);
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  int64_t label(int64_t index) const override { return entries_[index].label; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  RawImage open(int64_t index) const override;  // reads the file and its header
  std::string describe(int64_t index) const override;
  const std::vector<FileEntry>& entries() const { return entries_; }
  // Where .npy / .npz samples keep their channels (default kAuto).
  void set_array_layout(ArrayLayout layout) { array_layout_ = layout; }

 private:
  ArrayLayout array_layout_ = ArrayLayout::kAuto;
  std::vector<FileEntry> entries_;
  std::vector<std::string> list_files_;
  std::vector<std::string> class_names_;
  int64_t num_classes_ = 0;
};

// One or more list files, each line `path` or `path label` (label an integer >= 0), paths relative
// to `root` unless absolute. Blank lines, surrounding spaces and CRLF endings are accepted; lines
// starting with '#' are comments. A malformed line, a label in some lines but not others, or a list
// file that cannot be read throws UsageError naming the file and line. Missing image files are
// found when read (the loader skips them, naming the list line). `class_names` (data.class_names_file)
// name the labels.
std::unique_ptr<FileSource> read_image_lists(const std::string& root, const std::vector<std::string>& list_files,
                                             std::vector<std::string> class_names = {});

// Which files a folder scan takes: images (.jpg/.jpeg/.png/.tif/.tiff) or arrays (.npy/.npz).
enum class FileKind { kImages, kArrays };

// Every file of `kind` (any case of the extension) under `root`, recursively, sorted by path; unlabelled.
std::unique_ptr<FileSource> scan_image_folder(const std::string& root, FileKind kind = FileKind::kImages);

// torchvision's ImageFolder: root/<class>/**/<image>, classes sorted by name, label = position.
std::unique_ptr<FileSource> scan_class_folders(const std::string& root, FileKind kind = FileKind::kImages);

// True for the extensions the image folder scans accept.
bool has_image_extension(const std::string& path);

}  // namespace mae::data
