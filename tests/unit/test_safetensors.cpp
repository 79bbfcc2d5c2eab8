// safetensors: round trip, and rejection of every malformed header the reader guards against.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/io/safetensors.h"

using namespace mae::io;

static std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mae_st_" + std::to_string(::getpid()) + "_" + name;
}

// A file with the given JSON header and `data_bytes` zero bytes of data.
static std::string with_header(const std::string& json, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + std::string(data_bytes, '\0');
}

static std::string error_of(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "test.safetensors");
  } catch (const mae::Error& e) {
    return e.what();
  }
  return "";
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

TEST(Safetensors, RejectsMalformedFilesWithReason) {
  EXPECT_NE(error_of("abc").find("too short"), std::string::npos);
  std::string huge(8, '\xff');
  EXPECT_NE(error_of(huge + "{}").find("exceeds the file"), std::string::npos);
  EXPECT_NE(error_of(with_header("{not json", 0)).find("not valid UTF-8 JSON"), std::string::npos);
  EXPECT_NE(error_of(with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\xff", 8)).find("JSON"),
            std::string::npos);
  EXPECT_NE(error_of(with_header("[1,2]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)).find("outside"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16)).find("do not hold"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1)).find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)).find("overlap"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("negative"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2]}})", 8)).find("lacks"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"__metadata__":{"k":3}})", 0)).find("not a string"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8))
                .find("overflow"),
            std::string::npos);
}

TEST(Safetensors, MissingFileIsNamed) {
  try {
    read_safetensors("/nonexistent/weights.safetensors");
    FAIL();
  } catch (const mae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/weights.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, FailedWriteKeepsPreviousFile) {
  const std::string path = temp_path("keep.safetensors");
  write_safetensors(path, {{"w", torch::ones({3})}});
  // A tensor safetensors cannot store makes the second write fail before anything is published.
  EXPECT_THROW(write_safetensors(path, {{"w", torch::zeros({3})}, {"z", torch::zeros({2}, torch::kComplexFloat)}}),
               mae::Error);
  EXPECT_TRUE(torch::equal(read_safetensors(path).tensors.at("w"), torch::ones({3})));
  std::remove(path.c_str());
}
