#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"

static std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(AtomicFile, InterruptedWriteLeavesPreviousContentAndNoTemporary) {
  const std::string dir = ::testing::TempDir() + "mae_atomic_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  mae::core::write_file_atomic(path, [](std::ostream& out) { out << "good"; });
  EXPECT_EQ(read_all(path), "good");
  EXPECT_THROW(mae::core::write_file_atomic(path,
                                            [](std::ostream& out) {
                                              out << "half-writ";
                                              throw mae::Error("simulated crash");
                                            }),
               mae::Error);
  EXPECT_EQ(read_all(path), "good");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}), 1)
      << "the temporary file must be removed";
  EXPECT_THROW(mae::core::write_file_atomic(dir + "/missing/x.bin", [](std::ostream&) {}), mae::Error);
  std::filesystem::remove_all(dir);
}

// A full disk: the temporary file is made a link to /dev/full, whose writes fail with ENOSPC.
TEST(AtomicFile, AFullDiskLeavesPreviousContentAndNoTemporary) {
  const std::string dir = ::testing::TempDir() + "mae_atomic_full_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  mae::core::write_file_atomic(path, [](std::ostream& out) { out << "good"; });
  std::filesystem::create_symlink("/dev/full", path + ".tmp-" + std::to_string(::getpid()));
  const std::string big(3 << 20, 'x');  // more than the writer buffers
  std::string message;
  try {
    mae::core::write_file_atomic(path, [&](std::ostream& out) { out.write(big.data(), static_cast<std::streamsize>(big.size())); });
  } catch (const mae::Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(read_all(path), "good");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}), 1)
      << "the temporary file must be removed";
  std::filesystem::remove_all(dir);
}

// Large writes and seeks back (the safetensors writer patches its checksum into the header).
TEST(AtomicFile, LargeWritesAndSeeksLandWhereTheyShould) {
  const std::string dir = ::testing::TempDir() + "mae_atomic_seek_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/data.bin";
  std::string big(40 << 20, '\0');  // beyond the writer's writeback window
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i * 7 % 26);
  mae::core::write_file_atomic(path, [&](std::ostream& out) {
    out << "head";
    const auto after_head = out.tellp();
    EXPECT_EQ(static_cast<int64_t>(after_head), 4);
    out.write(big.data(), static_cast<std::streamsize>(big.size()));
    out << "tail";
    const auto end = out.tellp();
    out.seekp(1);
    out << "EA";
    out.seekp(end);
    out << "!";
  });
  EXPECT_EQ(read_all(path), "hEAd" + big + "tail!");
  std::filesystem::remove_all(dir);
}
