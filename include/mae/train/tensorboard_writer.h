// TensorBoard scalar event files ("events.out.tfevents.<time>.<host>"), as the official code
// writes them through SummaryWriter, so `tensorboard --logdir RUN` shows the curves.
// Record framing: uint64 length, uint32 masked CRC32C of the length, the Event protobuf,
// uint32 masked CRC32C of the data. The few protobuf fields needed are encoded here directly.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace mae::train {

uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

class TensorBoardWriter {
 public:
  // Creates the event file in `dir` (which must exist) and writes the file-version record.
  explicit TensorBoardWriter(const std::string& dir);
  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);
  std::string path_;
  std::ofstream out_;
};

}  // namespace mae::train
