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
