// Bounded random access to the bytes of an untrusted file: a file on disk or a buffer in memory.
// Every read is checked against the size first, so a parser built on it cannot read outside the
// input whatever lengths and offsets the input claims.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace mae::io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  uint64_t size() const { return size_; }
  // The name used in error messages (a path, or "<memory>" style origin).
  const std::string& origin() const { return origin_; }
  // Copies bytes [offset, offset + n) to `dst`; throws mae::Error naming the origin and `what`
  // when the range lies outside the input.
  void read(uint64_t offset, uint64_t n, void* dst, const std::string& what) const;
  std::string read_string(uint64_t offset, uint64_t n, const std::string& what) const;
  // True when [offset, offset + n) lies inside the input (overflow-safe).
  bool contains(uint64_t offset, uint64_t n) const { return offset <= size_ && n <= size_ - offset; }

 protected:
  ByteSource(std::string origin, uint64_t size) : origin_(std::move(origin)), size_(size) {}
  virtual void read_unchecked(uint64_t offset, uint64_t n, void* dst) const = 0;

 private:
  std::string origin_;
  uint64_t size_;
};

// A view of bytes owned by the caller, who keeps them alive while the source is used.
class MemorySource : public ByteSource {
 public:
  MemorySource(const void* data, uint64_t size, std::string origin)
      : ByteSource(std::move(origin), size), data_(static_cast<const char*>(data)) {}

 private:
  void read_unchecked(uint64_t offset, uint64_t n, void* dst) const override;
  const char* data_;
};

// A file read on demand (pread, so several threads may read at once), so that a multi-gigabyte
// checkpoint or a tar shard is never held whole in memory.
class FileSource : public ByteSource {
 public:
  // Throws mae::Error when the file cannot be opened.
  static std::unique_ptr<FileSource> open(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  int fd() const { return fd_; }

 private:
  FileSource(const std::string& path, uint64_t size, int fd) : ByteSource(path, size), fd_(fd) {}
  void read_unchecked(uint64_t offset, uint64_t n, void* dst) const override;
  int fd_;
};

}  // namespace mae::io
