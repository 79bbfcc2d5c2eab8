// Saves and loads a pretraining checkpoint (MAE weights + AdamW state) of a preset with
// train::save_checkpoint / load_checkpoint and prints the seconds, the peak extra resident memory
// of each phase (MiB and % of the checkpoint's bytes), and the disk's plain write()+fsync speed for
// the same bytes, measured in the same run. The last two lines are a CSV header and row
// (bench/run_checkpoint_bench.sh appends the row to bench/results/checkpoint_cpu_torch<ver>.csv).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/version.h>

#include "mae/core/error.h"
#include "mae/core/runtime.h"
#include "mae/models/presets.h"
#include "mae/optim/param_groups.h"
#include "mae/train/checkpoint.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kMiB = 1024.0 * 1024.0;

// A "VmRSS:"-style line of /proc/self/status, in bytes.
int64_t status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;  // kB
  }
  throw mae::Error(mae::str("/proc/self/status has no ", key, "; this benchmark needs Linux"));
}

// Peak resident memory above the level at start(): VmHWM after resetting it through
// /proc/self/clear_refs ("5") where the kernel permits, else the maximum of VmRSS sampled every ms.
class PeakRss {
 public:
  void start() {
    baseline_ = status_bytes("VmRSS");
    std::ofstream reset("/proc/self/clear_refs");
    hwm_ = static_cast<bool>(reset << "5" << std::flush);
    if (hwm_) return;
    sampled_ = baseline_;
    running_ = true;
    sampler_ = std::thread([this] {
      while (running_) {
        sampled_ = std::max<int64_t>(sampled_, status_bytes("VmRSS"));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  int64_t stop() {
    if (hwm_) return status_bytes("VmHWM") - baseline_;
    running_ = false;
    sampler_.join();
    return sampled_ - baseline_;
  }
  const char* method() const { return hwm_ ? "VmHWM after clear_refs" : "VmRSS sampled every 1 ms"; }

 private:
  int64_t baseline_ = 0;
  bool hwm_ = false;
  std::atomic<bool> running_{false};
  std::atomic<int64_t> sampled_{0};
  std::thread sampler_;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Plain write() of `bytes` from one 64 MiB buffer, then fsync: what the disk gives a single writer.
double disk_write_mb_s(const std::string& path, int64_t bytes) {
  std::vector<char> buffer(64 << 20);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<char>(i * 2654435761u >> 24);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  MAE_CHECK(fd >= 0, "cannot create '", path, "': ", std::strerror(errno), "; pass a writable --dir");
  const auto t = Clock::now();
  for (int64_t left = bytes; left > 0;) {
    const ssize_t n = ::write(fd, buffer.data(), static_cast<size_t>(std::min<int64_t>(left, buffer.size())));
    if (n < 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      throw mae::Error(mae::str("writing '", path, "' failed: ", reason, "; free space in --dir"));
    }
    left -= n;
  }
  MAE_CHECK(::fsync(fd) == 0, "cannot sync '", path, "': ", std::strerror(errno));
  const double s = seconds_since(t);
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(bytes) / 1e6 / s;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%F", std::gmtime(&now));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "mae_vit_large_patch16", dir = fs::temp_directory_path().string(), label = "mae";
  int threads = 0;
  bool keep = false;
  CLI::App app{"Checkpoint save/load benchmark: seconds and peak extra memory (prints a CSV row last)"};
  app.add_option("--model", model_name, "MAE preset (mae_vit_large_patch16, mae_vit_huge_patch14, ...) or a size (base, large, huge)")->capture_default_str();
  app.add_option("--dir", dir, "folder for the checkpoint and the disk test (needs 2x the checkpoint free)")->capture_default_str();
  app.add_option("--label", label, "value of the CSV's code column (before, after, ...)")->capture_default_str();
  app.add_option("--threads", threads, "0: one per core")->capture_default_str();
  app.add_flag("--keep", keep, "leave the checkpoint in --dir (bench/checkpoint_reference.py reads its shapes)");
  CLI11_PARSE(app, argc, argv);

  try {
    mae::core::configure_threads(threads);
    if (model_name.rfind("mae_vit_", 0) != 0) {  // "large" -> the official factory name
      model_name = "mae_vit_" + model_name + (model_name == "huge" ? "_patch14" : "_patch16");
    }
    auto o = mae::models::mae_preset(model_name);
    o.img_h = o.img_w = 224;
    o.in_chans = 3;
    torch::manual_seed(0);
    mae::models::MaskedAutoencoderViT model(o);
    const auto groups = mae::optim::weight_decay_groups(*model, 0.05, {});
    auto optimizer = mae::optim::make_adamw(groups, 0.9, 0.95);
    mae::optim::set_lr(*optimizer, groups, 1e-4);
    // One step on a random gradient fills exp_avg, exp_avg_sq and step for every parameter.
    for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
    optimizer->step();
    optimizer->zero_grad(true);
    const mae::train::TrainState state{1, 1000, 0, 1.0};

    fs::create_directories(dir);
    const std::string stem = mae::train::checkpoint_stem(dir, 1);
    PeakRss peak;
    peak.start();
    auto t = Clock::now();
    mae::train::save_checkpoint(stem, *model, {{"note", "bench_checkpoint"}}, optimizer.get(), &groups, &state);
    const double save_s = seconds_since(t);
    const int64_t save_peak = peak.stop();
    const auto files = mae::train::CheckpointFiles::from_stem(stem);
    const int64_t bytes = static_cast<int64_t>(fs::file_size(files.weights) + fs::file_size(files.state));

    mae::train::TrainState restored;
    peak.start();
    t = Clock::now();
    mae::train::load_checkpoint(stem, *model, optimizer.get(), &groups, &restored);
    const double load_s = seconds_since(t);
    const int64_t load_peak = peak.stop();
    MAE_CHECK(restored.iteration == state.iteration, "the loaded checkpoint lost its position");
    if (!keep) {
      fs::remove(files.weights);
      fs::remove(files.state);
    }
    const double disk = disk_write_mb_s((fs::path(dir) / "bench_checkpoint_disk_test.bin").string(), bytes);

    const double pct_save = 100.0 * static_cast<double>(save_peak) / static_cast<double>(bytes);
    const double pct_load = 100.0 * static_cast<double>(load_peak) / static_cast<double>(bytes);
    const double save_mb_s = static_cast<double>(bytes) / 1e6 / save_s;
    const std::string machine = cpu_name() + ", " + std::to_string(mae::core::usable_cores()) + " cores";
    std::cout << std::fixed << std::setprecision(2) << "machine: " << machine << "; torch: " << TORCH_VERSION
              << "; peak memory: " << peak.method() << "; dir " << dir << "\n"
              << "model " << model_name << ": checkpoint " << bytes << " bytes (" << bytes / kMiB << " MiB) in "
              << files.weights << " and " << files.state << "\n"
              << "save  " << std::setw(8) << save_s << " s  " << std::setw(8) << save_mb_s << " MB/s  peak extra RSS "
              << std::setw(9) << save_peak / kMiB << " MiB = " << pct_save << " % of the checkpoint\n"
              << "load  " << std::setw(8) << load_s << " s  " << std::setw(8) << static_cast<double>(bytes) / 1e6 / load_s
              << " MB/s  peak extra RSS " << std::setw(9) << load_peak / kMiB << " MiB = " << pct_load
              << " % of the checkpoint (page cache warm from the save)\n"
              << "disk  write()+fsync of the same bytes: " << disk << " MB/s; save / disk = " << save_mb_s / disk << "\n"
              << "date,machine,model,bytes,save_s,load_s,save_peak_extra_mib,save_peak_pct,load_peak_extra_mib,"
                 "load_peak_pct,disk_write_mb_s,code\n"
              << today_utc() << ",\"" << machine << "\"," << model_name << "," << bytes << "," << std::setprecision(3)
              << save_s << "," << load_s << "," << std::setprecision(1) << save_peak / kMiB << "," << std::setprecision(2)
              << pct_save << "," << std::setprecision(1) << load_peak / kMiB << "," << std::setprecision(2) << pct_load
              << "," << std::setprecision(0) << disk << "," << label << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
