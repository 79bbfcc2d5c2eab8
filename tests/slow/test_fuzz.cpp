// Runs each libFuzzer target (fuzz/) for a bounded time on a copy of its committed seed corpus and
// fails on any crash, sanitizer report or escaped exception.
// Binaries: $MAE_FUZZ_BIN_DIR (scripts/test.sh and scripts/fuzz.sh set it; a target missing there
// fails the test), else the folder of this test executable, else <source>/build-fuzz/bin (where
// scripts/fuzz.sh --build puts them); skips when neither has it. Seconds per target:
// $MAE_FUZZ_SECONDS (default 20).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

int seconds_per_target() {
  const char* s = std::getenv("MAE_FUZZ_SECONDS");
  return s ? std::max(1, std::atoi(s)) : 20;
}

// Runs `command`, returning its exit status and appending its output to `log`.
int run(const std::string& command, std::string* log) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe)) *log += buf;
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string last_line_with(const std::string& log, const std::string& key) {
  const size_t at = log.rfind(key);
  return at == std::string::npos ? "" : log.substr(at, log.find('\n', at) - at);
}

void fuzz(const std::string& reader) {
  const std::string name = "fuzz_" + reader;
  fs::path binary;
  if (const char* dir = std::getenv("MAE_FUZZ_BIN_DIR")) {
    binary = fs::path(dir) / name;
    ASSERT_TRUE(fs::exists(binary)) << binary << " is missing (MAE_FUZZ_BIN_DIR=" << dir << "); build it with scripts/fuzz.sh --build";
  } else {
    for (const fs::path& dir : {fs::read_symlink("/proc/self/exe").parent_path(), fs::path(MAE_SOURCE_DIR) / "build-fuzz" / "bin"}) {
      if (fs::exists(dir / name)) {
        binary = dir / name;
        break;
      }
    }
    if (binary.empty()) GTEST_SKIP() << name << " is not built; scripts/fuzz.sh --build builds it (clang, see fuzz/CMakeLists.txt)";
  }
  const fs::path seeds = fs::path(MAE_SOURCE_DIR) / "fuzz" / "corpus" / reader;
  ASSERT_TRUE(fs::is_directory(seeds)) << seeds;
  // New units and crash artifacts go to a scratch folder; the committed seeds stay unchanged.
  const fs::path work = fs::path(::testing::TempDir()) / ("mae_fuzz_" + reader + "_" + std::to_string(::getpid()));
  fs::create_directories(work / "corpus");
  const std::string command = binary.string() + " -max_total_time=" + std::to_string(seconds_per_target()) +
                              " -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=" +
                              (work / "").string() + " " + (work / "corpus").string() + " " + seeds.string();
  std::string log;
  const int status = run(command, &log);
  std::printf("fuzz_%s: %s; %s\n", reader.c_str(), last_line_with(log, "stat::number_of_executed_units").c_str(),
              last_line_with(log, "stat::new_units_added").c_str());
  EXPECT_EQ(status, 0) << command << "\n" << log.substr(log.size() > 8000 ? log.size() - 8000 : 0)
                       << "\nthe crashing input is kept in " << work;
  if (status == 0) fs::remove_all(work);
}

}  // namespace

TEST(FuzzTargets, Safetensors) { fuzz("safetensors"); }
TEST(FuzzTargets, Pickle) { fuzz("pickle"); }
TEST(FuzzTargets, Pth) { fuzz("pth"); }
TEST(FuzzTargets, Npy) { fuzz("npy"); }
TEST(FuzzTargets, Tar) { fuzz("tar"); }
