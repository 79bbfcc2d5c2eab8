// A source lists the samples of one split and opens any of them by index. Two kinds exist:
// MemorySource (IDX, CIFAR: decoded once into memory at start-up) and FileSource (list files,
// folders, class folders: one encoded file per sample, read when the loader asks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mae/data/codecs/image.h"

namespace mae::data {

class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;  // -1 when unlabelled
  virtual int64_t num_classes() const = 0;         // 0 when unlabelled
  virtual std::vector<std::string> class_names() const = 0;
  // The sample as stored: pixels, or the file's bytes and header. Throws DataError when unreadable
  // (thread-safe: the loader calls it from several threads).
  virtual RawImage open(int64_t index) const = 0;
  // Where the sample comes from, for messages.
  virtual std::string describe(int64_t index) const = 0;
};

}  // namespace mae::data
