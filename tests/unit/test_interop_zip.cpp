// The zip reader on archives built here and on torch.save's own output; every malformed archive
// is refused with a message naming the file and the problem.
#include <gtest/gtest.h>

#include "mae/io/zip_reader.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using mae::testing::error_of;
using mae::testing::patch_le;
using mae::testing::zip_of;

static std::string zip_error(const std::string& bytes, bool read_all = false) {
  return error_of([&] {
    MemorySource src(bytes.data(), bytes.size(), "test.zip");
    ZipArchive zip(src);
    if (read_all) {
      for (const auto& e : zip.entries()) zip.read(e);
    }
  });
}

static size_t find(const std::string& bytes, const std::string& what, size_t from = 0) {
  const size_t at = bytes.find(what, from);
  EXPECT_NE(at, std::string::npos) << "no '" << what << "' in the archive";
  return at;
}

static const std::string kCentral("PK\x01\x02", 4), kLocal("PK\x03\x04", 4), kEnd("PK\x05\x06", 4);

TEST(InteropZip, ReadsStoredEntries) {
  const std::string bytes = zip_of({{"a/data.pkl", "hello"}, {"a/data/0", std::string(1000, 'x')}, {"empty", ""}});
  MemorySource src(bytes.data(), bytes.size(), "test.zip");
  ZipArchive zip(src);
  ASSERT_EQ(zip.entries().size(), 3u);
  EXPECT_EQ(zip.read(*zip.find("a/data.pkl")), "hello");
  EXPECT_EQ(zip.read(*zip.find("a/data/0")), std::string(1000, 'x'));
  EXPECT_EQ(zip.read(*zip.find("empty")), "");
  EXPECT_EQ(zip.find("missing"), nullptr);
  EXPECT_TRUE(looks_like_zip(src));
}

TEST(InteropZip, ReadsTorchSaveArchiveWithZip64RecordsAndPaddedLocalHeaders) {
  const std::string bytes = mae::testing::read_bytes(std::string(MAE_SOURCE_DIR) + "/fuzz/corpus/pth/tiny.pth");
  ASSERT_NE(bytes.find(std::string("PK\x06\x06", 4)), std::string::npos) << "torch.save writes a ZIP64 record";
  MemorySource src(bytes.data(), bytes.size(), "tiny.pth");
  ZipArchive zip(src);
  const ZipEntry* order = zip.find("tiny/byteorder");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(zip.read(*order), "little");
  EXPECT_EQ(zip.find("tiny/data/0")->data_offset % 64, 0u) << "torch.save aligns storages to 64 bytes";
}

TEST(InteropZip, RejectsTruncatedAndForeignFiles) {
  const std::string good = zip_of({{"x", "data"}});
  EXPECT_NE(zip_error("PK").find("too short for a zip"), std::string::npos);
  EXPECT_NE(zip_error(good.substr(0, good.size() - 10)).find("no zip end-of-central-directory"), std::string::npos);
  EXPECT_NE(zip_error(std::string(100, 'z')).find("test.zip"), std::string::npos);
  const std::string no_zip = "not a zip";
  MemorySource src(no_zip.data(), no_zip.size(), "x");
  EXPECT_FALSE(looks_like_zip(src));
}

TEST(InteropZip, RejectsCentralDirectoryOutsideTheFile) {
  std::string bytes = zip_of({{"x", "data"}});
  const size_t end = find(bytes, kEnd);
  std::string offset = bytes, size = bytes, count = bytes;
  patch_le(&offset, end + 16, 0x7fffffff, 4);
  EXPECT_NE(zip_error(offset).find("central directory"), std::string::npos);
  EXPECT_NE(zip_error(offset).find("lies outside"), std::string::npos);
  patch_le(&size, end + 12, 0xfffffff0, 4);
  EXPECT_NE(zip_error(size).find("lies outside"), std::string::npos);
  patch_le(&count, end + 10, 60000, 2);
  EXPECT_NE(zip_error(count).find("claims 60000 entries"), std::string::npos);
}

TEST(InteropZip, RejectsEntriesWithBadSizesOffsetsOrNames) {
  const std::string bytes = zip_of({{"x", "data"}, {"y", "more"}});
  const size_t cd = find(bytes, kCentral);
  std::string size = bytes, local = bytes, name_len = bytes, renamed = bytes, dup = zip_of({{"x", "a"}, {"x", "b"}});
  patch_le(&size, cd + 20, 1 << 30, 4), patch_le(&size, cd + 24, 1 << 30, 4);
  EXPECT_NE(zip_error(size).find("zip entry 'x' (1073741824 bytes"), std::string::npos);
  patch_le(&local, cd + 42, 3, 4);
  EXPECT_NE(zip_error(local).find("local header of 'x'"), std::string::npos);
  patch_le(&name_len, cd + 28, 0xffff, 2);
  EXPECT_NE(zip_error(name_len).find("runs past the central directory"), std::string::npos);
  renamed[find(bytes, kLocal) + 30] = 'q';
  EXPECT_NE(zip_error(renamed).find("names a different entry"), std::string::npos);
  EXPECT_NE(zip_error(dup).find("appears twice"), std::string::npos);
}

TEST(InteropZip, RejectsZip64MarkersWithoutExtraField) {
  std::string bytes = zip_of({{"x", "data"}});
  const size_t cd = find(bytes, kCentral);
  patch_le(&bytes, cd + 24, 0xffffffff, 4);
  EXPECT_NE(zip_error(bytes).find("no ZIP64 extra field"), std::string::npos);
}

TEST(InteropZip, RefusesCompressedOrEncryptedEntriesAndBadCrc) {
  const std::string bytes = zip_of({{"x", "data"}});
  const size_t cd = find(bytes, kCentral);
  std::string deflated = bytes, encrypted = bytes, corrupt = bytes, mismatch = bytes;
  patch_le(&deflated, cd + 10, 8, 2);
  EXPECT_NE(zip_error(deflated, true).find("is compressed (method 8)"), std::string::npos);
  patch_le(&encrypted, cd + 8, 1, 2);
  EXPECT_NE(zip_error(encrypted).find("encrypted"), std::string::npos);
  corrupt[find(bytes, "data")] = 'D';
  EXPECT_NE(zip_error(corrupt, true).find("fails its CRC check"), std::string::npos);
  patch_le(&mismatch, cd + 20, 3, 4);
  EXPECT_NE(zip_error(mismatch).find("sizes differ"), std::string::npos);
}
