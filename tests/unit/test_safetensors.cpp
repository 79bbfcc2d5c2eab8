// safetensors reading: round trip, the header-only reader against the full one, and rejection of
// every malformed header by all three readers (memory, file, header only).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "common/safetensors_files.h"
#include "mae/core/error.h"
#include "mae/io/safetensors.h"

using namespace mae::io;
using mae::testing::safetensors_with_header;

static std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mae_st_" + std::to_string(::getpid()) + "_" + name;
}

static std::string error_of(const std::function<void()>& read) {
  try {
    read();
  } catch (const mae::Error& e) {
    return e.what();
  }
  return "";
}

// Every reader refuses `bytes` with a message holding `reason` (and, from a file, its path).
static void expect_rejected(const std::string& bytes, const std::string& reason) {
  const std::string path = temp_path("bad.safetensors");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  const std::string memory = error_of([&] { parse_safetensors(bytes, "test.safetensors"); });
  const std::string file = error_of([&] { read_safetensors(path); });
  const std::string header = error_of([&] { read_safetensors_header(path); });
  std::remove(path.c_str());
  EXPECT_NE(memory.find(reason), std::string::npos) << "parse_safetensors: '" << memory << "', wanted '" << reason << "'";
  EXPECT_NE(file.find(reason), std::string::npos) << "read_safetensors: '" << file << "', wanted '" << reason << "'";
  EXPECT_NE(header.find(reason), std::string::npos) << "read_safetensors_header: '" << header << "', wanted '" << reason << "'";
  EXPECT_NE(file.find(path), std::string::npos) << file;
  EXPECT_NE(header.find(path), std::string::npos) << header;
}

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  NamedTensors tensors = {
      {"a.f64", torch::randn({2, 3}, torch::kFloat64)}, {"b.f32", torch::randn({4}, torch::kFloat32)},
      {"c.bf16", torch::randn({3, 1}).to(torch::kBFloat16)}, {"d.f16", torch::randn({2}).to(torch::kFloat16)},
      {"e.i64", torch::arange(5)}, {"f.u8", torch::arange(7).to(torch::kUInt8)},
      {"g.bool", torch::tensor({true, false})}, {"h.scalar", torch::tensor(3.5)},
      {"i.empty", torch::empty({0, 4})}, {"j.noncontig", torch::randn({4, 3}).t()}};
  const std::string path = temp_path("roundtrip.safetensors");
  write_safetensors(path, tensors, {{"norm_pix_loss", "true"}});
  auto file = read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(file.tensors.count(name)) << name;
    EXPECT_EQ(file.tensors[name].scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(file.tensors[name], t.contiguous())) << name;
  }
  EXPECT_EQ(file.metadata.at("norm_pix_loss"), "true");
  // Memory and file readers agree.
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(parse_safetensors(bytes, path).tensors.size(), tensors.size());
  std::remove(path.c_str());
}

TEST(Safetensors, HeaderReaderAgreesWithFullReader) {
  NamedTensors tensors = {{"w", torch::randn({3, 5})}, {"b", torch::randn({5}).to(torch::kBFloat16)},
                          {"step", torch::tensor(7)}, {"none", torch::empty({2, 0})}};
  const std::string path = temp_path("header.safetensors");
  write_safetensors(path, tensors, {{"epoch", "3"}});
  const auto full = read_safetensors(path);
  const auto header = read_safetensors_header(path);
  EXPECT_EQ(header.metadata, full.metadata);
  EXPECT_EQ(header.data_start % 8, 0u) << "data must start 8-byte aligned";
  ASSERT_EQ(header.entries.size(), full.tensors.size());
  uint64_t data_bytes = 0;
  for (const auto& e : header.entries) {
    const auto& t = full.tensors.at(e.name);
    EXPECT_EQ(e.dtype, t.scalar_type()) << e.name;
    EXPECT_EQ(e.shape, t.sizes().vec()) << e.name;
    EXPECT_EQ(e.end - e.begin, static_cast<uint64_t>(t.numel() * t.element_size())) << e.name;
    data_bytes += e.end - e.begin;
  }
  EXPECT_EQ(header.data_start + data_bytes, std::filesystem::file_size(path));
  std::remove(path.c_str());
}

TEST(Safetensors, HeaderReaderReadsNoTensorData) {
  // 1 TiB of declared data in a sparse file: any reader that touched the data would fail or hang.
  const std::string path = temp_path("sparse.safetensors");
  const uint64_t tib = 1ull << 40;
  mae::testing::write_sparse_safetensors(
      path, R"({"__metadata__":{"epoch":"9"},"huge":{"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]}})",
      tib);
  const auto header = read_safetensors_header(path);
  ASSERT_EQ(header.entries.size(), 1u);
  EXPECT_EQ(header.entries[0].shape, std::vector<int64_t>{int64_t{1} << 38});
  EXPECT_EQ(header.metadata.at("epoch"), "9");
  std::remove(path.c_str());
}

TEST(Safetensors, HeaderReaderRejectsATruncatedDataSection) {
  const std::string path = temp_path("truncated.safetensors");
  write_safetensors(path, {{"a", torch::ones({4})}, {"b", torch::ones({8})}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
  EXPECT_NE(error_of([&] { read_safetensors_header(path); }).find("truncated"), std::string::npos);
  EXPECT_NE(error_of([&] { read_safetensors(path); }).find("truncated"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Safetensors, RejectsMalformedFilesWithReason) {
  expect_rejected("abc", "too short");
  std::string huge(8, '\xff');
  expect_rejected(huge + "{}", "exceeds the file");
  expect_rejected(safetensors_with_header("{not json", 0), "not valid UTF-8 JSON");
  expect_rejected(safetensors_with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\xff", 8), "JSON");
  expect_rejected(safetensors_with_header("[1,2]", 0), "not a JSON object");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "outside");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16), "do not hold");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1), "unsupported dtype");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                  "overlap");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "negative");
  expect_rejected(safetensors_with_header(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "lacks");
  expect_rejected(safetensors_with_header(R"({"__metadata__":{"k":3}})", 0), "not a string");
  expect_rejected(safetensors_with_header(
                      R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8),
                  "overflow");
}

TEST(Safetensors, MissingFileIsNamed) {
  for (const auto& read : std::vector<std::function<void()>>{[] { read_safetensors("/nonexistent/weights.safetensors"); },
                                                             [] { read_safetensors_header("/nonexistent/weights.safetensors"); }}) {
    EXPECT_NE(error_of(read).find("cannot open '/nonexistent/weights.safetensors'"), std::string::npos);
  }
}
