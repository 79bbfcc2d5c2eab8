#include "mae/data/wds/pack.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <thread>

#include <c10/util/ParallelGuard.h>
#include <nlohmann/json.hpp>

#include "data/codecs/codecs.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/runtime.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/loader/sampler.h"
#include "mae/data/augment/transforms.h"
#include "mae/io/tar_writer.h"
#include "data/loader/worker_thread.h"

namespace mae::data {
namespace fs = std::filesystem;
namespace {

struct Packed {
  std::string bytes, extension;
  int64_t label = -1;
  uint64_t input_bytes = 0;
  bool reencoded = false;
};

std::unique_ptr<FileSource> list_inputs(const PackOptions& o) {
  PackInput kind = o.input_kind;
  if (kind == PackInput::kAuto) {
    if (!fs::is_directory(o.input)) {
      kind = PackInput::kList;
    } else {  // class folders: subfolders and no image directly inside
      bool folders = false, images = false;
      for (const auto& e : fs::directory_iterator(o.input)) {
        folders |= e.is_directory();
        images |= e.is_regular_file() && has_image_extension(e.path().string());
      }
      kind = folders && !images ? PackInput::kClassFolder : PackInput::kFolder;
    }
  }
  if (kind == PackInput::kClassFolder) return scan_class_folders(o.input);
  if (kind == PackInput::kFolder) return scan_image_folder(o.input);
  return read_image_lists("", {o.input});
}

std::string shard_path(const std::string& pattern, int64_t n) {
  std::vector<char> buffer(pattern.size() + 32);
  std::snprintf(buffer.data(), buffer.size(), pattern.c_str(), static_cast<int>(n));
  return buffer.data();
}

// The image as it goes into the shard: its own bytes, or a JPEG of at most max_side pixels a side.
Packed pack_one(const FileEntry& entry, const PackOptions& o) {
  RawImage raw = read_image_file(entry.path, entry.path);
  MAE_CHECK(raw.format == ImageFormat::kJpeg || raw.format == ImageFormat::kPng || raw.format == ImageFormat::kWebp,
            entry.path, ": mae pack takes JPEG, PNG and WebP images; convert this one first");  // not a DataError: see pack_shards
  Packed p;
  p.label = entry.label;
  p.input_bytes = raw.bytes.size();
  const int64_t side = std::max(raw.height, raw.width);
  if (o.max_side > 0 && side > o.max_side) {
    torch::Tensor pixels = decode_full(raw, raw.channels == 1 ? 1 : 3);
    if (pixels.scalar_type() != torch::kUInt8) pixels = pixels.to(torch::kFloat32).div(257).round().to(torch::kUInt8);
    const double scale = static_cast<double>(o.max_side) / static_cast<double>(side);
    const int64_t h = std::max<int64_t>(1, std::llround(static_cast<double>(raw.height) * scale));
    const int64_t w = std::max<int64_t>(1, std::llround(static_cast<double>(raw.width) * scale));
    p.bytes = detail::jpeg_encode(resize(pixels, h, w, Interpolation::kBicubic), o.quality);
    p.extension = "jpg";
    p.reencoded = true;
  } else {
    p.extension = raw.format == ImageFormat::kJpeg ? "jpg" : raw.format == ImageFormat::kPng ? "png" : "webp";
    p.bytes = std::move(raw.bytes);
  }
  return p;
}

// One shard being written: "<path>.partial", renamed to its name when complete.
class ShardWriter {
 public:
  explicit ShardWriter(std::string path) : path_(std::move(path)), out_(path_ + ".partial", std::ios::binary), tar_(out_) {
    MAE_CHECK_USAGE(out_.good(), "cannot write '", path_, ".partial'; check --output and the folder's permissions");
  }
  void add(const std::string& key, const Packed& p) {
    tar_.add(key + "." + p.extension, p.bytes);
    if (p.label >= 0) tar_.add(key + ".cls", std::to_string(p.label));
    ++samples_;
  }
  ShardEntry finish() {
    tar_.finish();
    out_.close();
    MAE_CHECK(!out_.fail(), "writing '", path_, ".partial' failed; the disk may be full");
    fs::rename(path_ + ".partial", path_);
    return ShardEntry{path_, samples_, tar_.bytes()};
  }
  uint64_t bytes() const { return tar_.bytes(); }
  int64_t samples() const { return samples_; }

 private:
  std::string path_;
  std::ofstream out_;
  io::TarWriter tar_;
  int64_t samples_ = 0;
};

class Progress {
 public:
  Progress(int64_t total, bool on) : total_(total), on_(on), tty_(isatty(2) != 0), start_(clock::now()) {}
  void update(int64_t done, int64_t shard, bool last = false) {
    if (!on_) return;
    const auto now = clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const int64_t step = std::max<int64_t>(total_ / 10, 1);
    const bool due = tty_ ? now - shown_ > std::chrono::milliseconds(500) : done / step != shown_done_ / step;
    if (!due && !last) return;
    shown_ = now;
    shown_done_ = done;
    const int width = 30, filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::fprintf(stderr, "%s[pack] [%s%s] %lld/%lld images, shard %lld, %.0f img/s%s", tty_ ? "\r" : "",
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), static_cast<long long>(shard), elapsed > 0 ? done / elapsed : 0.0,
                 tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  using clock = std::chrono::steady_clock;
  int64_t total_;
  bool on_, tty_;
  clock::time_point start_, shown_{};
  int64_t shown_done_ = -1;
};

}  // namespace

void PackOptions::validate() const {
  MAE_CHECK_USAGE(!input.empty(), "--input is required: class folders, a folder of images or a list file");
  MAE_CHECK_USAGE(fs::exists(input), "--input '", input, "' does not exist");
  static const std::regex one_number(R"([^%]*%0?[0-9]*d[^%]*)");
  MAE_CHECK_USAGE(std::regex_match(output, one_number), "--output '", output,
                  "' must hold one shard-number conversion such as %06d (and no other '%'), e.g. out/train-%06d.tar");
  MAE_CHECK_USAGE(shard_size >= 4096, "--shard-size ", shard_size, " bytes is too small; give e.g. 512MiB or 1GiB");
  MAE_CHECK_USAGE(max_side >= 0, "--max-side ", max_side, " must be >= 0 (0: keep the images as they are)");
  MAE_CHECK_USAGE(quality >= 1 && quality <= 100, "--quality ", quality, " must lie in 1..100");
  MAE_CHECK_USAGE(threads >= 0, "--threads ", threads, " must be >= 0 (0: one per core)");
}

PackResult pack_shards(const PackOptions& o) {
  o.validate();
  const auto start = std::chrono::steady_clock::now();
  const std::unique_ptr<FileSource> inputs = list_inputs(o);
  const auto& entries = inputs->entries();
  const int64_t total = static_cast<int64_t>(entries.size());
  ShardOptions order_options;
  order_options.seed = o.seed;
  order_options.shuffle = o.shuffle;
  order_options.drop_last = false;
  const std::vector<int64_t> order = shard_indices(total, 0, order_options);
  fs::create_directories(fs::absolute(shard_path(o.output, 0)).parent_path());
  const int threads = o.threads > 0 ? o.threads : core::usable_cores();
  core::log_info(str("pack: ", total, " images from ", o.input, " into ", o.output, " (shards of at most ", o.shard_size,
                     " bytes", o.max_side > 0 ? str(", re-encoded above ", o.max_side, " px a side") : std::string(), ", ",
                     threads, " thread(s))"));

  PackResult result;
  result.shards.class_names = inputs->class_names();
  std::unique_ptr<ShardWriter> writer;
  int64_t written = 0;
  Progress progress(total, o.progress);
  const int64_t chunk = std::max<int64_t>(64, 16 * threads);
  std::vector<std::optional<Packed>> packed;
  std::vector<std::string> failures;
  for (int64_t begin = 0; begin < total; begin += chunk) {
    const int64_t end = std::min(total, begin + chunk);
    packed.assign(static_cast<size_t>(end - begin), std::nullopt);
    failures.assign(packed.size(), "");
    std::atomic<int64_t> next{begin};
    auto work = [&] {
      detail::keep_this_thread_single_threaded();
      c10::ParallelGuard parallel_guard(true);
      for (int64_t i = next++; i < end; i = next++) {
        const size_t slot = static_cast<size_t>(i - begin);
        try {
          packed[slot] = pack_one(entries[static_cast<size_t>(order[i])], o);
        } catch (const std::exception& e) {  // an unreadable input is skipped, whatever the reason
          failures[slot] = e.what();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (size_t k = 0; k < packed.size(); ++k) {
      if (!packed[k]) {
        ++result.skipped;
        core::log_warning(str("pack: skipping ", failures[k]));
        continue;
      }
      const Packed& p = *packed[k];
      // This sample's members and the end-of-archive blocks must fit.
      const uint64_t need = io::TarWriter::member_bytes("000000000." + p.extension, p.bytes.size()) +
                            (p.label >= 0 ? io::TarWriter::member_bytes("000000000.cls", 20) : 0) + 1024;
      if (writer && writer->samples() > 0 && writer->bytes() + need > o.shard_size) {
        result.shards.shards.push_back(writer->finish());
        writer.reset();
      }
      if (!writer) writer = std::make_unique<ShardWriter>(shard_path(o.output, static_cast<int64_t>(result.shards.shards.size())));
      char key[32];
      std::snprintf(key, sizeof(key), "%09lld", static_cast<long long>(written++));
      writer->add(key, p);
      result.input_bytes += p.input_bytes;
      result.reencoded += p.reencoded;
    }
    progress.update(end, static_cast<int64_t>(result.shards.shards.size()), end == total);
  }
  if (writer) result.shards.shards.push_back(writer->finish());
  MAE_CHECK(!result.shards.shards.empty(), "pack: none of the ", total, " inputs could be read (see the warnings above)");
  for (const auto& s : result.shards.shards) result.output_bytes += s.bytes;
  result.index_path = shard_index_path(result.shards.shards.front().path);
  nlohmann::json extra = {{"written_by", "mae pack"}, {"input", o.input}, {"max_side", o.max_side}, {"label", "cls"}};
  write_shard_index(result.index_path, result.shards, extra.dump());
  result.shards.origin = result.index_path;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace mae::data
