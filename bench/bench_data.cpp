// Images per second per core of the pretraining input pipeline: read + decode + RandomResizedCrop
// + flip + normalize, on one thread, for a folder of JPEG photos, with crop-decode on and off; then
// the threaded loader on every core. Per core = images / CPU seconds of the process, so that other
// work on a shared machine does not count against it (wall seconds are printed too). Prints CSV
// rows and `#` lines in the format of bench/data_reference.py; bench/run_data_bench.sh runs both.
// Ratios: single-thread rows against torchvision's single-thread pipeline, the loader row against
// torch's DataLoader (worker processes, batches of 64).
// --multiband: the same for satellite-like data instead: 6-band uint16 256x256 scenes as a folder
// of TIFFs (uncompressed strips, and LZW + predictor tiles) and as one memory-mapped .npy
// [N, 6, 256, 256], RandomResizedCrop(224) on float planes (no reference exists in the same run).
#include <jpeglib.h>
#include <png.h>
#include <sched.h>

#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>
#include <torch/version.h>

#include "common/multiband_files.h"
#include "mae/core/error.h"
#include "mae/data/sources/array_source.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/loader/loader.h"
#include "mae/data/sources/memory_source.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/io/npy.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds of this process: robust to other processes sharing the cores, which wall time is not.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Wall and CPU time of fn().
template <typename Fn>
std::pair<double, double> timed(Fn&& fn) {
  const auto wall = Clock::now();
  const double cpu = cpu_seconds();
  fn();
  return {std::chrono::duration<double>(Clock::now() - wall).count(), cpu_seconds() - cpu};
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

struct Row {
  std::string pipeline;
  std::string crop_decode;
  int threads;
  int64_t images;
  std::pair<double, double> seconds;  // wall, CPU
};

// images_per_s_per_core = images / CPU seconds (all threads).
void print_row(const Row& r, double reference) {
  const double per_core = static_cast<double>(r.images) / r.seconds.second;
  std::cout << r.pipeline << "," << r.crop_decode << "," << r.threads << "," << r.images << "," << std::fixed
            << std::setprecision(3) << r.seconds.first << "," << r.seconds.second << "," << std::setprecision(1)
            << per_core << ",";
  if (reference > 0) std::cout << std::setprecision(2) << per_core / reference;
  std::cout << std::endl;
}

// One thread: every step of a sample, as a loader worker runs it.
Row time_transform(const mae::data::Source& source, const mae::data::SampleTransform& transform, int64_t count,
                   const std::string& name) {
  std::vector<float> out(static_cast<size_t>(transform.numel()));
  const auto seconds = timed([&] {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t index = i % source.size();
      auto rng = mae::data::SampleRng::for_sample(0, i / source.size(), index);
      transform.apply(source.open(index), rng, out.data());
    }
  });
  return Row{name, transform.options().crop_decode ? "on" : "off", 1, count, seconds};
}

Row time_decode_only(const mae::data::Source& source, int64_t count) {
  const auto seconds = timed([&] {
    for (int64_t i = 0; i < count; ++i) mae::data::decode_full(source.open(i % source.size()), 3);
  });
  return Row{"mae_decode_only", "off", 1, count, seconds};
}

Row time_loader(std::shared_ptr<const mae::data::Source> source, std::shared_ptr<const mae::data::SampleTransform> t,
                int threads, int64_t count) {
  mae::data::LoaderOptions o;
  o.batch_size = 64;
  o.num_workers = threads;
  mae::data::Loader loader(std::move(source), std::move(t), o);
  mae::data::Batch batch;
  int64_t images = 0, epoch = 0;
  const auto seconds = timed([&] {
    while (images < count) {
      loader.set_epoch(epoch++);
      while (images < count && loader.next(&batch)) images += batch.images.size(0);
    }
  });
  return Row{"mae_loader", "on", threads, images, seconds};
}

// The default pretraining input: Fashion-MNIST in memory, RandomResizedCrop(28) + flip, one thread.
void fashion_mnist_row(int64_t count) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  if (!std::ifstream(root + "train-images-idx3-ubyte.gz")) return;
  auto source = mae::data::load_idx(root + "train-images-idx3-ubyte.gz", root + "train-labels-idx1-ubyte.gz");
  const mae::data::SampleTransform transform{mae::data::TransformOptions{}};
  time_transform(*source, transform, count, "warmup");
  Row row = time_transform(*source, transform, count * 10, "mae_fashion_mnist_28");
  row.crop_decode = "n/a";
  print_row(row, 0);
}

// "LIBTIFF, Version 4.5.0" (the first line of what libtiff says about itself).
std::string libtiff_version() {
  const std::string text = TIFFGetVersion();
  return text.substr(0, text.find('\n'));
}

// 6-band uint16 scenes written three ways into `dir`, each timed on one thread, then the loader.
void multiband_rows(const std::string& dir, int64_t count, int64_t size, int threads, bool header) {
  constexpr int64_t kScenes = 120, kSide = 256, kBands = 6;
  std::filesystem::create_directories(dir + "/raw");
  std::filesystem::create_directories(dir + "/lzw");
  std::vector<torch::Tensor> scenes;
  mae::testing::TiffLayout lzw;
  lzw.tiled = true;
  lzw.compression = COMPRESSION_LZW;
  for (int64_t i = 0; i < kScenes; ++i) {
    scenes.push_back(mae::testing::multiband_image(kSide, kSide, kBands, torch::kUInt16, i));
    const std::string name = mae::str("/", 1000 + i, ".tif");
    mae::testing::TiffLayout raw;
    raw.rows_per_strip = 16;
    mae::testing::write_tiff(dir + "/raw" + name, scenes.back(), raw);
    mae::testing::write_tiff(dir + "/lzw" + name, scenes.back(), lzw);
  }
  mae::io::write_npy(dir + "/scenes.npy", torch::stack(scenes).permute({0, 3, 1, 2}).contiguous());
  mae::data::TransformOptions o;
  o.channels = kBands;
  o.height = o.width = size;
  o.mean.assign(kBands, 0.1);
  o.std.assign(kBands, 0.05);
  auto transform = std::make_shared<const mae::data::SampleTransform>(o);
  std::shared_ptr<const mae::data::Source> raw = mae::data::scan_image_folder(dir + "/raw");
  std::shared_ptr<const mae::data::Source> compressed = mae::data::scan_image_folder(dir + "/lzw");
  std::shared_ptr<const mae::data::Source> npy =
      mae::data::load_npy(dir + "/scenes.npy", "", mae::data::ArrayLayout::kChannelsFirst);
  if (header) {
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    std::cout << "# machine: " << cpu_model() << ", " << CPU_COUNT(&set) << " cores; LibTorch " << TORCH_VERSION
              << ", " << libtiff_version() << "\n# " << kScenes << " scenes " << kSide << "x" << kSide << "x"
              << kBands << " uint16, RandomResizedCrop(" << size << ", bicubic) on float planes + flip + normalize\n";
    std::cout << "pipeline,crop_decode,threads,images,wall_s,cpu_s,images_per_s_per_core,ratio_vs_torchvision\n";
  }
  time_transform(*raw, *transform, 50, "warmup");
  print_row(time_transform(*raw, *transform, count, "mae_tiff6_u16_strips"), 0);
  print_row(time_transform(*compressed, *transform, count, "mae_tiff6_u16_lzw_tiles"), 0);
  print_row(time_transform(*npy, *transform, count, "mae_npy6_u16_mmap"), 0);
  Row loader = time_loader(raw, transform, threads, count);
  loader.pipeline = "mae_loader_tiff6_u16_strips";
  print_row(loader, 0);
  loader = time_loader(npy, transform, threads, count);
  loader.pipeline = "mae_loader_npy6_u16_mmap";
  print_row(loader, 0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string folder;
  int64_t count = 2000, size = 224;
  int threads = 0;
  double reference = 0, reference_loader = 0;
  std::string interpolation = "bicubic";
  bool header = true;
  std::string only, multiband;
  CLI::App app{"Data pipeline benchmark: images/s per core (prints CSV rows)"};
  auto* images = app.add_option("--images", folder, "folder of JPEG photos");
  app.add_option("--multiband", multiband,
                 "instead: write 6-band uint16 TIFFs and an .npy into this (empty) folder and time those")
      ->excludes(images);
  app.add_option("--count", count, "images timed per pipeline")->capture_default_str();
  app.add_option("--size", size, "RandomResizedCrop output size")->capture_default_str();
  app.add_option("--interpolation", interpolation, "bicubic or bilinear")->capture_default_str();
  app.add_option("--threads", threads, "loader threads for the last row (0: one per core)")->capture_default_str();
  app.add_option("--reference", reference, "torchvision's images/s per core, for the ratio column");
  app.add_option("--reference-loader", reference_loader,
                 "torch DataLoader's images/s per core, for the loader row's ratio (default: --reference)");
  app.add_flag("!--no-header", header, "omit the CSV header and machine line");
  app.add_option("--only", only, "one row, for profiling: crop, full, decode, loader or fashion_mnist");
  CLI11_PARSE(app, argc, argv);
  try {
    // One thread per pipeline, as in a loader worker and as the reference runs torchvision.
    at::set_num_threads(1);
    const int loader_threads = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    if (!multiband.empty()) {
      multiband_rows(multiband, count, size, loader_threads, header);
      return 0;
    }
    MAE_CHECK_USAGE(!folder.empty(), "give --images DIR (JPEG photos) or --multiband DIR");
    std::shared_ptr<const mae::data::Source> source = mae::data::scan_image_folder(folder);
    mae::data::TransformOptions o;
    o.channels = 3;
    o.height = o.width = size;
    o.interpolation = mae::core::parse_choice(mae::data::kInterpolationNames, interpolation, "--interpolation");
    o.mean = {0.485, 0.456, 0.406};
    o.std = {0.229, 0.224, 0.225};
    o.crop_decode = true;
    auto crop = std::make_shared<const mae::data::SampleTransform>(o);
    o.crop_decode = false;
    auto full = std::make_shared<const mae::data::SampleTransform>(o);

    // Validate the fast path against the plain one before timing it: same boxes, small differences.
    double diff = 0;
    const int64_t checked = std::min<int64_t>(source->size(), 50);
    std::vector<float> a(static_cast<size_t>(crop->numel())), b(a.size());
    for (int64_t i = 0; i < checked; ++i) {
      auto r1 = mae::data::SampleRng::for_sample(0, 0, i), r2 = r1;
      const auto image = source->open(i);
      crop->apply(image, r1, a.data());
      full->apply(image, r2, b.data());
      for (size_t k = 0; k < a.size(); ++k) diff += std::abs(a[k] - b[k]);
    }
    const double mean_diff_levels = diff / (static_cast<double>(a.size()) * checked) * 0.226 * 255;

    if (header) {
      cpu_set_t set;
      sched_getaffinity(0, sizeof(set), &set);
      std::cout << "# machine: " << cpu_model() << ", " << CPU_COUNT(&set) << " cores; LibTorch " << TORCH_VERSION
                << ", libjpeg-turbo " << LIBJPEG_TURBO_VERSION_NUMBER / 1000000 << "."
                << LIBJPEG_TURBO_VERSION_NUMBER / 1000 % 1000 << "." << LIBJPEG_TURBO_VERSION_NUMBER % 1000 << ", libpng " << PNG_LIBPNG_VER_STRING
                << "; " << source->size() << " JPEGs in " << folder << ", RandomResizedCrop(" << size << ", "
                << interpolation << ")\n";
      std::cout << "# crop-decode vs full decode on " << checked << " images: mean |difference| " << std::setprecision(2)
                << mean_diff_levels << " grey levels\n";
      std::cout << "pipeline,crop_decode,threads,images,wall_s,cpu_s,images_per_s_per_core,ratio_vs_torchvision\n";
    }
    time_transform(*source, *crop, std::min<int64_t>(count, 200), "warmup");  // page cache, allocator
    auto want = [&](const char* row) { return only.empty() || only == row; };
    if (want("crop")) print_row(time_transform(*source, *crop, count, "mae"), reference);
    if (want("full")) print_row(time_transform(*source, *full, count, "mae"), reference);
    if (want("decode")) print_row(time_decode_only(*source, count), reference);
    if (want("loader")) {
      print_row(time_loader(source, crop, loader_threads, count), reference_loader > 0 ? reference_loader : reference);
    }
    if (want("fashion_mnist")) fashion_mnist_row(count);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
