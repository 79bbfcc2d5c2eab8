// Loose files against WebDataset shards of the same JPEGs: the threaded loader's images per second
// (per core = images / CPU seconds of the process; wall too, which is what cold reads cost) with
// RandomResizedCrop + flip + normalize, page cache warm and cold (every file dropped from the cache
// with posix_fadvise(POSIX_FADV_DONTNEED) before a cold run); rounds alternate loose and shards and
// the medians are printed. Also `mae pack`'s throughput, copying the JPEGs and re-encoding them.
// bench/run_shard_bench.sh makes the JPEGs (bench/data_reference.py) and writes the CSV.
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <torch/version.h>

#include "mae/core/error.h"
#include "mae/core/parse.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/loader/loader.h"
#include "mae/data/wds/pack.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/data/wds/shard_loader.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// Drops every regular file under `dir` from the page cache.
void drop_from_cache(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct Timing {
  int64_t images = 0;
  double wall = 0, cpu = 0;
};

// One epoch of `batches` (or `count` images, whichever comes first).
Timing run_epoch(mae::data::BatchSource& batches, int64_t epoch, int64_t count) {
  Timing t;
  const auto wall = Clock::now();
  const double cpu = cpu_seconds();
  batches.set_epoch(epoch);
  mae::data::Batch batch;
  while (t.images < count && batches.next(&batch)) t.images += batch.images.size(0);
  t.wall = std::chrono::duration<double>(Clock::now() - wall).count();
  t.cpu = cpu_seconds() - cpu;
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string images, scratch;
  int64_t size = 224, rounds = 3, batch = 64, shuffle_buffer = 1000;
  int threads = 0;
  std::string shard_size = "16MiB";
  CLI::App app{"Loose files vs WebDataset shards: images/s (prints CSV rows)"};
  app.add_option("--images", images, "folder of JPEG photos")->required();
  app.add_option("--scratch", scratch, "empty folder for the shards")->required();
  app.add_option("--size", size, "RandomResizedCrop output size")->capture_default_str();
  app.add_option("--rounds", rounds, "rounds per configuration (loose and shards alternate); the median is printed")
      ->capture_default_str();
  app.add_option("--threads", threads, "loader threads (0: one per core)")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--shard-size", shard_size, "mae pack --shard-size")->capture_default_str();
  app.add_option("--shuffle-buffer", shuffle_buffer, "data.wds_shuffle_buffer of the shard loader")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    at::set_num_threads(1);
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    const int cores = CPU_COUNT(&set);
    const int workers = threads > 0 ? threads : cores;

    // mae pack: copy, then re-encode to 256 px a side (as FFCV's ImageNet files, scaled down).
    std::cout << "# machine: " << cpu_model() << ", " << cores << " cores; LibTorch " << TORCH_VERSION << "; JPEGs in "
              << images << "; RandomResizedCrop(" << size << ", bicubic) + flip + normalize, batches of " << batch << ", "
              << workers << " loader threads, shuffle buffer " << shuffle_buffer << "; medians of " << rounds << " rounds\n"
              << "# per core = images / CPU seconds of this process (robust to other processes on shared cores); "
                 "images_per_s is wall time, which other load and the disk (cold rows) move\n";
    std::cout << "case,cache,threads,images,wall_s,cpu_s,images_per_s,images_per_s_per_core,mb_per_s\n";
    auto pack = [&](const std::string& name, int64_t max_side) {
      mae::data::PackOptions o;
      o.input = images;
      o.input_kind = mae::data::PackInput::kFolder;
      o.output = scratch + "/" + name + "/train-%06d.tar";
      MAE_CHECK_USAGE(mae::core::parse_byte_size(shard_size, &o.shard_size), "--shard-size ", shard_size, " is not a size");
      o.max_side = max_side;
      o.threads = workers;
      o.progress = false;
      drop_from_cache(images);
      const double cpu = cpu_seconds();
      const auto r = mae::data::pack_shards(o);
      const double used = cpu_seconds() - cpu;
      const int64_t n = r.shards.samples();
      std::cout << "pack_" << name << ",cold," << workers << "," << n << "," << std::fixed << std::setprecision(3) << r.seconds
                << "," << used << "," << std::setprecision(1) << n / r.seconds << "," << n / used << ","
                << r.input_bytes / 1e6 / r.seconds << std::endl;
      return r;
    };
    const auto copied = pack("copy", 0);
    pack("max_side_256", 256);

    mae::data::TransformOptions o;
    o.channels = 3;
    o.height = o.width = size;
    o.mean = {0.485, 0.456, 0.406};
    o.std = {0.229, 0.224, 0.225};
    auto transform = std::make_shared<const mae::data::SampleTransform>(o);
    mae::data::LoaderOptions lo;
    lo.batch_size = batch;
    lo.num_workers = workers;
    std::shared_ptr<const mae::data::Source> files = mae::data::scan_image_folder(images);
    mae::data::Loader loose(files, transform, lo);
    mae::data::ShardLoader shards(copied.shards, transform, lo, mae::data::ShardStreamOptions{shuffle_buffer, "label"});
    const int64_t count = std::min(loose.batches_per_epoch(), shards.batches_per_epoch()) * batch;
    std::map<std::string, std::vector<Timing>> timings;
    for (const bool cold : {false, true}) {
      run_epoch(loose, 0, count);  // warm-up (and the page cache for the warm rows)
      run_epoch(shards, 0, count);
      for (int64_t round = 0; round < rounds; ++round) {
        for (auto* source : {static_cast<mae::data::BatchSource*>(&loose), static_cast<mae::data::BatchSource*>(&shards)}) {
          if (cold) {
            drop_from_cache(images);
            drop_from_cache(scratch + "/copy");
          }
          const std::string name = (source == &loose ? std::string("loose_files") : std::string("shards")) + (cold ? ",cold" : ",warm");
          timings[name].push_back(run_epoch(*source, round + 1, count));
        }
      }
    }
    for (const auto& [name, runs] : timings) {
      std::vector<double> wall, cpu;
      for (const auto& t : runs) {
        wall.push_back(t.wall);
        cpu.push_back(t.cpu);
      }
      const double w = median(wall), c = median(cpu);
      std::cout << name << "," << workers << "," << count << "," << std::fixed << std::setprecision(3) << w << "," << c << ","
                << std::setprecision(1) << count / w << "," << count / c << "," << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
