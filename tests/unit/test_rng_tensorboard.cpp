// Counter-based random streams and the TensorBoard record format.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/core/rng.h"
#include "mae/train/tensorboard_writer.h"

TEST(Rng, PerSampleUniformDependsOnlyOnSeedAndIndex) {
  auto a = mae::core::per_sample_uniform(torch::tensor({5, 9, 2}), 42, 49);
  auto b = mae::core::per_sample_uniform(torch::tensor({2, 5}), 42, 49);
  EXPECT_TRUE(torch::equal(a[0], b[1]));  // sample 5, wherever it sits in the batch
  EXPECT_TRUE(torch::equal(a[2], b[0]));
  EXPECT_FALSE(torch::equal(a[0], a[1]));
  EXPECT_FALSE(torch::equal(a[0], mae::core::per_sample_uniform(torch::tensor({5}), 43, 49)[0]));
  EXPECT_GE(a.min().item<float>(), 0.0f);
  EXPECT_LT(a.max().item<float>(), 1.0f);
  auto big = mae::core::per_sample_uniform(torch::arange(200), 7, 196);
  EXPECT_NEAR(big.mean().item<double>(), 0.5, 0.01);
  EXPECT_NEAR(big.var().item<double>(), 1.0 / 12, 0.005);
  EXPECT_NE(mae::core::derive_seed(1, {2, 3}), mae::core::derive_seed(1, {3, 2}));
}

TEST(TensorBoard, Crc32cKnownVectors) {
  // RFC 3720 / iSCSI check values.
  EXPECT_EQ(mae::train::crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(mae::train::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(TensorBoard, RecordsAreFramedWithValidChecksums) {
  const std::string dir = ::testing::TempDir() + "mae_tb_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string path;
  {
    mae::train::TensorBoardWriter writer(dir);
    writer.add_scalar("train/loss", 0.5, 7);
    writer.add_scalar("train/lr", 1e-4, 8);
    path = writer.path();
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0, records = 0;
  while (pos < bytes.size()) {
    ASSERT_LE(pos + 12, bytes.size());
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, bytes.data() + pos, 8);
    std::memcpy(&length_crc, bytes.data() + pos + 8, 4);
    EXPECT_EQ(length_crc, mae::train::masked_crc32c(bytes.data() + pos, 8));
    ASSERT_LE(pos + 12 + length + 4, bytes.size());
    std::memcpy(&data_crc, bytes.data() + pos + 12 + length, 4);
    EXPECT_EQ(data_crc, mae::train::masked_crc32c(bytes.data() + pos + 12, length));
    pos += 12 + length + 4;
    ++records;
  }
  EXPECT_EQ(records, 3u);  // file version + two scalars
  EXPECT_NE(bytes.find("brain.Event:2"), std::string::npos);
  EXPECT_NE(bytes.find("train/loss"), std::string::npos);
  std::filesystem::remove_all(dir);
}
