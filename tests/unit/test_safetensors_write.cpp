// safetensors writing streams: bytes come back bit for bit, a tensor contiguous on the CPU goes to
// the file from its own memory, any other is copied one at a time, and a failed write leaves the
// previous file and no temporary behind.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <streambuf>

#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/io/safetensors.h"

using namespace mae::io;
namespace fs = std::filesystem;

namespace {

class SafetensorsWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "mae_stw_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  size_t files_in_dir() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}));
  }
  std::string dir_;
};

// Keeps no bytes; records the address and length of every chunk the writer hands over.
class RecordingBuffer : public std::streambuf {
 public:
  std::vector<std::pair<const char*, std::streamsize>> chunks;

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    chunks.emplace_back(s, n);
    return n;
  }
  int_type overflow(int_type c) override { return c; }
};

// While alive, counts the bytes LibTorch holds on the CPU through its allocator, and their peak.
// The counts are static so that memory freed after the counter is gone is still subtracted.
class CountingCpuAllocator : public c10::Allocator {
 public:
  CountingCpuAllocator() : inner_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this); }
  ~CountingCpuAllocator() override { c10::SetCPUAllocator(inner_); }
  c10::DataPtr allocate(size_t n) override {
    auto* held = new Held{inner_->allocate(n), n};
    peak_ = std::max<int64_t>(peak_, live_ += static_cast<int64_t>(n));
    return {held->data.get(), held, &release, c10::Device(c10::kCPU)};
  }
  void copy_data(void* dest, const void* src, size_t n) const override { std::memcpy(dest, src, n); }
  static void reset_peak() { peak_ = live_.load(); }
  static int64_t peak_above(int64_t base) { return peak_ - base; }
  static int64_t live() { return live_; }

 private:
  struct Held {
    c10::DataPtr data;
    size_t n;
  };
  static void release(void* p) {
    auto* held = static_cast<Held*>(p);
    live_ -= static_cast<int64_t>(held->n);
    delete held;
  }
  c10::Allocator* inner_;
  static inline std::atomic<int64_t> live_{0}, peak_{0};
};

// Bytes of `t` as laid out contiguous.
std::string bytes_of(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

}  // namespace

TEST_F(SafetensorsWrite, StreamedFileRoundTripsBitExactly) {
  const float nan_payload = [] {
    uint32_t bits = 0x7fc01234u;  // a NaN with a payload: equal as bits, never as values
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }();
  const auto specials = torch::tensor({0.0f, -0.0f, std::numeric_limits<float>::infinity(), nan_payload, 1e-45f});
  const auto base = torch::randn({6, 8});
  NamedTensors tensors = {
      {"specials.f32", specials}, {"specials.bf16", specials.to(torch::kBFloat16)},
      {"specials.f16", specials.to(torch::kFloat16)}, {"f64", torch::randn({3}, torch::kFloat64)},
      {"transposed", base.t()}, {"sliced", base.slice(1, 2, 7, 2)}, {"offset", base[3]},
      {"expanded", torch::arange(4).expand({3, 4})}, {"i8", torch::tensor({-128, 127}, torch::kInt8)},
      {"empty", torch::empty({0, 7}).to(torch::kBFloat16)}, {"scalar", torch::tensor(int64_t{42})},
      {"bool", torch::tensor({true, false, true})}};
  const std::string path = dir_ + "/bits.safetensors";
  write_safetensors(path, tensors, {{"config", "model: x"}, {"epoch", "2"}});
  const auto file = read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const auto& back = file.tensors.at(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_EQ(bytes_of(back), bytes_of(t)) << name << " differs in its bytes";
  }
  EXPECT_EQ(file.metadata.at("config"), "model: x");
  EXPECT_EQ(file.metadata.at("epoch"), "2");
  EXPECT_EQ(files_in_dir(), 1u);
}

TEST_F(SafetensorsWrite, ContiguousCpuTensorsAreWrittenFromTheirOwnMemory) {
  // The header, then each tensor straight from its data pointer: no copy, no whole-file buffer.
  NamedTensors tensors = {{"a", torch::randn({256, 256})}, {"b", torch::randn({1024})}, {"c", torch::randn({64, 64})}};
  RecordingBuffer sink;
  std::ostream out(&sink);
  CountingCpuAllocator counter;
  ASSERT_EQ(c10::GetCPUAllocator(), &counter) << "LibTorch kept another CPU allocator";
  const int64_t before = CountingCpuAllocator::live();
  CountingCpuAllocator::reset_peak();
  stream_safetensors(out, tensors, {{"k", "v"}}, "recording stream");
  EXPECT_EQ(CountingCpuAllocator::peak_above(before), 0) << "a contiguous CPU tensor was copied";
  ASSERT_EQ(sink.chunks.size(), 1 + tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i].second;
    EXPECT_EQ(sink.chunks[1 + i].first, t.data_ptr()) << tensors[i].first << " was not written from its own memory";
    EXPECT_EQ(sink.chunks[1 + i].second, static_cast<std::streamsize>(t.numel() * t.element_size())) << tensors[i].first;
  }
}

TEST_F(SafetensorsWrite, OtherTensorsAreCopiedOneAtATime) {
  // Eight 1 MiB views of one float: each needs a contiguous copy, and the writer holds one at most.
  const int64_t n = (1 << 20) / 4;
  const auto one = torch::ones({1});
  NamedTensors tensors;
  for (int i = 0; i < 8; ++i) tensors.emplace_back(mae::str("v", i), one.expand({n}));
  RecordingBuffer sink;
  std::ostream out(&sink);
  CountingCpuAllocator counter;
  ASSERT_EQ(c10::GetCPUAllocator(), &counter) << "LibTorch kept another CPU allocator";
  const int64_t before = CountingCpuAllocator::live();
  CountingCpuAllocator::reset_peak();
  stream_safetensors(out, tensors, {}, "recording stream");
  const int64_t peak = CountingCpuAllocator::peak_above(before);
  EXPECT_GE(peak, n * 4) << "the views were not copied";
  EXPECT_LT(peak, 2 * n * 4) << "the writer held " << peak << " bytes of copies at once (one tensor is " << n * 4 << ")";
  ASSERT_EQ(sink.chunks.size(), 1 + tensors.size());
  for (size_t i = 1; i < sink.chunks.size(); ++i) EXPECT_EQ(sink.chunks[i].second, n * 4);
}

TEST_F(SafetensorsWrite, FailedWriteKeepsPreviousFileAndLeavesNoTemporary) {
  const std::string path = dir_ + "/keep.safetensors";
  write_safetensors(path, {{"w", torch::ones({3})}});
  auto expect_kept = [&](const std::string& why) {
    EXPECT_TRUE(torch::equal(read_safetensors(path).tensors.at("w"), torch::ones({3}))) << why;
    EXPECT_EQ(files_in_dir(), 1u) << why << ": the temporary file must be removed";
  };
  // A dtype safetensors cannot store fails before anything is written.
  EXPECT_THROW(write_safetensors(path, {{"w", torch::zeros({3})}, {"z", torch::zeros({2}, torch::kComplexFloat)}}),
               mae::Error);
  expect_kept("unsupported dtype");

  // The disk refuses bytes mid-tensor: here a file-size limit (EFBIG) after the header.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_safetensors(path, {{"w", torch::zeros({3})}, {"big", torch::zeros({1 << 20})}});
  } catch (const mae::Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << "the OS reason is missing: " << message;
  expect_kept("write failed mid-tensor");

  // A folder that does not exist: the error names the file and the reason.
  const std::string missing = dir_ + "/missing/x.safetensors";
  try {
    write_safetensors(missing, {{"w", torch::ones({3})}});
    FAIL() << "writing into a missing folder succeeded";
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
  }
  expect_kept("missing folder");
}

// A file above the multi-threaded read's threshold goes straight into the destinations (no CPU
// allocation beyond what is asked for), the pieces read by each thread are checksummed in order,
// and a damaged byte far into the file is caught.
TEST_F(SafetensorsWrite, ReadingIntoDestinationsUsesTheirMemoryAndChecksEveryByte) {
  torch::manual_seed(0);
  const NamedTensors tensors = {{"a", torch::randn({3, 1 << 21})}, {"b", torch::randn({5})}, {"c", torch::randn({1 << 22})}};
  const std::string path = dir_ + "/big.safetensors";
  write_safetensors(path, tensors);  // 40 MiB, read by two threads or more
  std::map<std::string, torch::Tensor> into;
  for (const auto& [name, t] : tensors) into[name] = torch::empty_like(t);
  const auto a_memory = into["a"].data_ptr();
  into.erase("b");  // allocated by the reader
  const int64_t base = CountingCpuAllocator::live();
  CountingCpuAllocator counter;
  CountingCpuAllocator::reset_peak();
  const auto file = read_safetensors_into(path, [&](const SafetensorsEntry& e) {
    auto it = into.find(e.name);
    return it == into.end() ? torch::Tensor() : it->second;
  });
  EXPECT_LE(CountingCpuAllocator::peak_above(base), 4096) << "only 'b' may be allocated";
  EXPECT_EQ(file.tensors.at("a").data_ptr(), a_memory);
  for (const auto& [name, t] : tensors) EXPECT_TRUE(torch::equal(file.tensors.at(name), t)) << name;

  std::fstream damage(path, std::ios::in | std::ios::out | std::ios::binary);
  damage.seekp(-3, std::ios::end);  // inside 'c', read by the last thread
  damage.put('\x7f');
  damage.close();
  try {
    read_safetensors(path);
    FAIL() << "a damaged byte in the last piece must fail the checksum";
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}
