// Folder scans: every image under a folder (unlabelled), or torchvision's ImageFolder layout.
// Files are ordered as torchvision orders them: by folder path, then by name within the folder.
#include <algorithm>
#include <filesystem>

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/data/sources/file_source.h"

namespace mae::data {
namespace {

namespace fs = std::filesystem;

const char* kind_extensions(FileKind kind) {
  return kind == FileKind::kImages ? ".jpg/.jpeg/.png/.webp/.tif/.tiff" : ".npy/.npz";
}

// Files of `kind` under `folder`, sorted by (parent folder, name); counts the other files it ignores.
std::vector<std::string> find_images(const fs::path& folder, FileKind kind, int64_t* ignored) {
  std::vector<std::pair<std::string, std::string>> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(folder, fs::directory_options::follow_directory_symlink |
                                                   fs::directory_options::skip_permission_denied, ec);
  MAE_CHECK_USAGE(!ec, "cannot list '", folder.string(), "' (", ec.message(), "); check data.root");
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    MAE_CHECK_USAGE(!ec, "cannot list '", it->path().string(), "' (", ec.message(), ")");
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    if (kind == FileKind::kImages ? has_image_extension(p.string()) : has_array_extension(p.string())) {
      found.emplace_back(p.parent_path().string(), p.filename().string());
    } else {
      ++*ignored;
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (const auto& [dir, name] : found) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

void check_folder(const std::string& root) {
  MAE_CHECK_USAGE(fs::is_directory(root), "'", root, "' is not a folder; check data.root and data.train_files");
}

void report_ignored(const std::string& root, FileKind kind, int64_t ignored) {
  if (ignored > 0) {
    core::log_warning(str("data: ", root, ": ignored ", ignored, " file(s) that are not ", kind_extensions(kind)));
  }
}

}  // namespace

std::unique_ptr<FileSource> scan_image_folder(const std::string& root, FileKind kind) {
  check_folder(root);
  int64_t ignored = 0;
  std::vector<FileEntry> entries;
  for (auto& path : find_images(root, kind, &ignored)) entries.push_back(FileEntry{std::move(path), -1, -1, 0});
  report_ignored(root, kind, ignored);
  return std::make_unique<FileSource>(std::move(entries), std::vector<std::string>{}, std::vector<std::string>{},
                                      str("folder ", root));
}

std::unique_ptr<FileSource> scan_class_folders(const std::string& root, FileKind kind) {
  check_folder(root);
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  MAE_CHECK_USAGE(!classes.empty(), "'", root, "' has no class folders; class_folder expects ", root,
                  "/<class>/<image>");
  int64_t ignored = 0;
  std::vector<FileEntry> entries;
  for (size_t c = 0; c < classes.size(); ++c) {
    const auto paths = find_images(fs::path(root) / classes[c], kind, &ignored);
    MAE_CHECK_USAGE(!paths.empty(), "class folder '", (fs::path(root) / classes[c]).string(), "' holds no ",
                    kind_extensions(kind), " files; add some or remove the folder");
    for (const auto& path : paths) entries.push_back(FileEntry{path, static_cast<int64_t>(c), -1, 0});
  }
  report_ignored(root, kind, ignored);
  return std::make_unique<FileSource>(std::move(entries), std::vector<std::string>{}, std::move(classes),
                                      str("class folders ", root));
}

}  // namespace mae::data
