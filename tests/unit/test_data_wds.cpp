// WebDataset shards: the tar reader on tarfile-written fixtures (tests/python/make_tar_fixtures.py)
// and on what TarWriter writes, shard naming and sizes, the order of the streams as a pure function,
// the shuffle buffer, and the shard loader: exact resume, bad samples, truncated shards.
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/core/parse.h"
#include "mae/data/wds/shard_loader.h"
#include "mae/data/wds/shard_order.h"
#include "mae/data/wds/wds_sample.h"
#include "mae/data/wds/wds_shards.h"
#include "mae/data/wds/wds_source.h"
#include "mae/io/tar_reader.h"
#include "mae/io/tar_writer.h"
#include "test_data_files.h"

using namespace mae;
using mae::testing::TempDir;

namespace {

std::string fixture(const std::string& name) { return std::string(MAE_FIXTURE_DIR) + "/wds/" + name; }

std::vector<io::TarMember> members_of(const io::ByteSource& source) {
  io::TarReader reader(source);
  std::vector<io::TarMember> out;
  io::TarMember m;
  while (reader.next(&m)) out.push_back(m);
  return out;
}

std::string content(const io::ByteSource& source, const io::TarMember& m) { return source.read_string(m.offset, m.size, "data"); }

}  // namespace

TEST(TarReader, ReadsUstarWithPrefixDirectoriesAndLinks) {
  const auto source = io::FileSource::open(fixture("ustar.tar"));
  const auto m = members_of(*source);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].name, "a.txt");
  EXPECT_EQ(content(*source, m[0]), "a.txt");
  EXPECT_EQ(m[1].type, '5');
  EXPECT_FALSE(m[1].is_file());
  EXPECT_EQ(m[2].name, "dir/b.bin");
  ASSERT_EQ(m[2].size, 513u);
  const std::string b = content(*source, m[2]);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(static_cast<unsigned char>(b[i]), i % 251) << i;
  EXPECT_EQ(m[3].type, '2');
  EXPECT_EQ(m[3].size, 0u);
  const std::string split_name = std::string(60, 'p') + "/" + std::string(69, 'n');
  EXPECT_EQ(m[4].name, split_name);
  EXPECT_EQ(content(*source, m[4]), split_name);
}

TEST(TarReader, ReadsGnuLongNamesAndPaxPaths) {
  const auto gnu = io::FileSource::open(fixture("gnu.tar"));
  auto m = members_of(*gnu);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, std::string(146, 'g') + ".txt");
  EXPECT_EQ(content(*gnu, m[0]), m[0].name);
  EXPECT_EQ(m[1].name, "short.txt");
  const auto pax = io::FileSource::open(fixture("pax.tar"));
  m = members_of(*pax);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, std::string(196, 'x') + ".txt");
  EXPECT_EQ(m[1].name, "\xc3\xbc/\xc3\x9f.txt");  // ü/ß.txt in UTF-8
  EXPECT_EQ(content(*pax, m[1]), m[1].name);
}

TEST(TarReader, RoundTripsWhatTarWriterWrites) {
  std::ostringstream out;
  io::TarWriter writer(out);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"short", "x"}, {std::string(99, 'a'), ""}, {std::string(100, 'b'), "hundred"}, {std::string(300, 'c') + ".jpg", std::string(1025, '\7')},
      {"\xc3\xa9t\xc3\xa9.png", "utf8"}};
  for (const auto& [name, data] : files) writer.add(name, data);
  writer.finish();
  const std::string bytes = out.str();
  EXPECT_EQ(bytes.size(), writer.bytes());
  EXPECT_EQ(bytes.size() % 512, 0u);
  uint64_t predicted = 1024;
  for (const auto& [name, data] : files) predicted += io::TarWriter::member_bytes(name, data.size());
  EXPECT_EQ(predicted, bytes.size());
  const io::MemorySource source(bytes.data(), bytes.size(), "written");
  const auto m = members_of(source);
  ASSERT_EQ(m.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(m[i].name, files[i].first);
    EXPECT_EQ(content(source, m[i]), files[i].second);
  }
}

TEST(TarReader, TruncatedAndCorruptArchivesThrowNamingTheArchive) {
  std::string bytes = mae::testing::read_bytes(fixture("ustar.tar"));
  {
    const std::string cut = bytes.substr(0, 512 + 512 + 512 + 300);  // inside dir/b.bin's data
    const io::MemorySource source(cut.data(), cut.size(), "cut.tar");
    io::TarReader reader(source);
    io::TarMember m;
    EXPECT_TRUE(reader.next(&m));
    EXPECT_TRUE(reader.next(&m));
    try {
      reader.next(&m);
      FAIL() << "a truncated member must throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.tar"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
  }
  bytes[3] ^= 0x20;  // the first header's name: the checksum no longer matches
  const io::MemorySource source(bytes.data(), bytes.size(), "bad.tar");
  io::TarReader reader(source);
  io::TarMember m;
  EXPECT_THROW(reader.next(&m), Error);
}

TEST(WdsSamples, GroupsMembersByKeyWithClsOrJsonLabels) {
  data::WdsShardReader reader(fixture("samples.tar"), "label");
  data::WdsSample s;
  ASSERT_TRUE(reader.next(&s, true));
  EXPECT_EQ(s.key, "000");
  EXPECT_EQ(s.label, 3) << "cls wins over json";
  EXPECT_FALSE(s.has_image());
  EXPECT_THROW(s.take_image(), data::DataError);
  ASSERT_TRUE(reader.next(&s, true));
  EXPECT_EQ(s.key, "001");
  EXPECT_EQ(s.label, 7);
  ASSERT_TRUE(reader.next(&s, true));
  EXPECT_EQ(s.key, "002");
  EXPECT_EQ(s.label, 1) << "a cls with a newline";
  EXPECT_EQ(s.ordinal, 2);
  EXPECT_FALSE(reader.next(&s, true));
  EXPECT_FALSE(reader.truncated());
  data::WdsShardReader no_json(fixture("samples.tar"), "");
  ASSERT_TRUE(no_json.next(&s, true));
  ASSERT_TRUE(no_json.next(&s, true));
  EXPECT_EQ(s.label, -1) << "data.wds_label_field empty ignores json";
}

TEST(WdsShards, BracePatternsSizesAndIndexNames) {
  EXPECT_EQ(data::expand_braces("a-{008..011}.tar"),
            (std::vector<std::string>{"a-008.tar", "a-009.tar", "a-010.tar", "a-011.tar"}));
  EXPECT_EQ(data::expand_braces("{x,y}/s{1..2}.tar"), (std::vector<std::string>{"x/s1.tar", "x/s2.tar", "y/s1.tar", "y/s2.tar"}));
  EXPECT_THROW(data::expand_braces("a-{3..1}.tar"), UsageError);
  EXPECT_THROW(data::expand_braces("a-{1..2.tar"), UsageError);
  uint64_t n = 0;
  EXPECT_TRUE(core::parse_byte_size("4MB", &n));
  EXPECT_EQ(n, 4000000u);
  EXPECT_TRUE(core::parse_byte_size("512MiB", &n));
  EXPECT_EQ(n, 512u << 20);
  EXPECT_TRUE(core::parse_byte_size("1gib", &n));
  EXPECT_EQ(n, 1u << 30);
  EXPECT_FALSE(core::parse_byte_size("1 parsec", &n));
  EXPECT_FALSE(core::parse_byte_size("-1MB", &n));
  EXPECT_EQ(data::shard_index_path("/d/train-000012.tar"), "/d/train.index.json");
  EXPECT_EQ(data::shard_index_path("imagenet_train_0001.tar"), "imagenet_train.index.json");
}

TEST(ShardOrder, IsAPureFunctionThatDealsEveryShardOnceAPass) {
  const int64_t shards = 23;
  for (int64_t world : {1, 2, 3}) {
    const int64_t streams = data::streams_per_rank(shards, world, 3);
    std::multiset<int64_t> dealt;
    for (int64_t rank = 0; rank < world; ++rank) {
      const data::StreamPlan plan{7, true, rank, world, streams};
      for (int64_t s = 0; s < streams; ++s) {
        const auto mine = data::stream_shards(shards, 4, plan, s);
        EXPECT_EQ(mine, data::stream_shards(shards, 4, plan, s)) << "a pure function";
        const auto again = data::stream_shards(shards, 4, plan, s, 1);
        EXPECT_EQ(std::multiset<int64_t>(mine.begin(), mine.end()), std::multiset<int64_t>(again.begin(), again.end()))
            << "a later pass reads the same shards";
        dealt.insert(mine.begin(), mine.end());
      }
    }
    std::multiset<int64_t> all;
    for (int64_t i = 0; i < shards; ++i) all.insert(i);
    EXPECT_EQ(dealt, all) << "world " << world;
  }
  const data::StreamPlan plan{7, true, 0, 1, 2};
  EXPECT_NE(data::stream_shards(shards, 0, plan, 0), data::stream_shards(shards, 1, plan, 0)) << "a new deal per epoch";
  EXPECT_THROW(data::streams_per_rank(3, 4, 1), UsageError) << "fewer shards than ranks";
  EXPECT_EQ(data::streams_per_rank(5, 2, 8), 2) << "fewer shards than ranks x threads: fewer streams";
}

TEST(ShuffleBuffer, EmitsEveryItemOnceInASeededOrder) {
  auto run = [](size_t capacity, uint64_t seed) {
    data::ShuffleBuffer<int> buffer(capacity, seed);
    std::vector<int> out;
    for (int i = 0; i < 100; ++i) {
      if (auto x = buffer.push(i)) out.push_back(*x);
    }
    while (auto x = buffer.pop()) out.push_back(*x);
    return out;
  };
  std::vector<int> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(run(0, 1), identity);
  const auto a = run(10, 1);
  EXPECT_EQ(a, run(10, 1));
  EXPECT_NE(a, run(10, 2));
  EXPECT_NE(a, identity);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, identity);
}

namespace {

// `shards` shards of `per_shard` PNG samples each (grey 8x8, value = sample number, cls = number % 5).
std::vector<std::string> write_png_shards(const TempDir& dir, int shards, int per_shard) {
  std::vector<std::string> paths;
  int n = 0;
  for (int s = 0; s < shards; ++s) {
    paths.push_back(dir.file("t-" + std::to_string(s) + ".tar"));
    std::ofstream out(paths.back(), std::ios::binary);
    io::TarWriter writer(out);
    for (int i = 0; i < per_shard; ++i, ++n) {
      const auto pixels = torch::full({8, 8, 1}, n % 256, torch::kUInt8);
      std::string key = "s";
      key += std::to_string(n);
      writer.add(key + ".png", mae::testing::encode_png(pixels, 0));
      writer.add(key + ".cls", std::to_string(n % 5));
    }
    writer.finish();
  }
  return paths;
}

data::TransformOptions tiny_transform() {
  data::TransformOptions t;
  t.channels = 1;
  t.height = t.width = 4;
  t.mean = {0};
  t.std = {1};
  return t;
}

std::unique_ptr<data::ShardLoader> shard_loader(const std::vector<std::string>& paths, int64_t batch, int workers,
                                                int64_t rank = 0, int64_t world = 1, int64_t buffer = 5) {
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = workers;
  lo.seed = 11;
  lo.rank = rank;
  lo.world_size = world;
  return std::make_unique<data::ShardLoader>(data::load_shard_set(paths, "label"),
                                             std::make_shared<const data::SampleTransform>(tiny_transform()), lo,
                                             data::ShardStreamOptions{buffer, "label"});
}

std::vector<data::Batch> epoch_batches(data::ShardLoader& loader, int64_t epoch, int64_t first = 0) {
  loader.set_epoch(epoch, first);
  std::vector<data::Batch> out;
  data::Batch b;
  while (loader.next(&b)) out.push_back(b);
  return out;
}

}  // namespace

TEST(ShardLoader, ResumesInsideAnEpochExactly) {
  TempDir dir;
  const auto paths = write_png_shards(dir, 5, 9);  // 45 samples, uneven over 3 streams
  auto loader = shard_loader(paths, 4, 3);
  EXPECT_EQ(loader->streams(), 3);
  EXPECT_EQ(loader->batches_per_epoch(), 11);
  EXPECT_EQ(loader->dataset_size(), 45);
  const auto full = epoch_batches(*loader, 2);
  ASSERT_EQ(full.size(), 11u);
  for (int64_t first : {1, 4, 7}) {
    auto fresh = shard_loader(paths, 4, 3);
    const auto resumed = epoch_batches(*fresh, 2, first);
    ASSERT_EQ(resumed.size(), full.size() - first);
    for (size_t i = 0; i < resumed.size(); ++i) {
      EXPECT_TRUE(torch::equal(resumed[i].indices, full[first + i].indices)) << "batch " << first + i;
      EXPECT_TRUE(torch::equal(resumed[i].images, full[first + i].images)) << "batch " << first + i;
      EXPECT_TRUE(torch::equal(resumed[i].labels, full[first + i].labels)) << "batch " << first + i;
    }
  }
  // The labels are the samples' cls members; the index is the sample's place in the shards.
  for (const auto& b : full) {
    for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(b.labels[r].item<int64_t>(), b.indices[r].item<int64_t>() % 5);
  }
  const auto other = epoch_batches(*loader, 3);
  EXPECT_FALSE(torch::equal(other[0].indices, full[0].indices)) << "a new order per epoch";
  const auto again = epoch_batches(*loader, 2);
  for (size_t i = 0; i < full.size(); ++i) EXPECT_TRUE(torch::equal(again[i].images, full[i].images));
}

TEST(ShardLoader, OneStreamReadsEveryShardSampleOncePerEpoch) {
  TempDir dir;
  const auto paths = write_png_shards(dir, 4, 6);
  auto loader = shard_loader(paths, 4, 1);
  std::set<int64_t> seen;
  for (const auto& b : epoch_batches(*loader, 0)) {
    for (int64_t r = 0; r < b.indices.size(0); ++r) EXPECT_TRUE(seen.insert(b.indices[r].item<int64_t>()).second);
  }
  EXPECT_EQ(seen.size(), 24u);
}

TEST(ShardLoader, RanksYieldEqualEpochsFromDisjointShards) {
  TempDir dir;
  const auto paths = write_png_shards(dir, 4, 7);
  auto r0 = shard_loader(paths, 3, 1, 0, 2), r1 = shard_loader(paths, 3, 1, 1, 2);
  EXPECT_EQ(r0->batches_per_epoch(), 4);  // floor(28 / (2 x 3))
  EXPECT_EQ(r1->batches_per_epoch(), 4);
  std::set<int64_t> shards0, shards1;
  for (const auto& b : epoch_batches(*r0, 0)) {
    for (int64_t r = 0; r < 3; ++r) shards0.insert(b.indices[r].item<int64_t>() / 7);
  }
  for (const auto& b : epoch_batches(*r1, 0)) {
    for (int64_t r = 0; r < 3; ++r) shards1.insert(b.indices[r].item<int64_t>() / 7);
  }
  for (int64_t s : shards0) EXPECT_EQ(shards1.count(s), 0u) << "shard " << s << " read by both ranks";
}

TEST(ShardLoader, SkipsCorruptImagesAndGoesOnAfterATruncatedShard) {
  TempDir dir;
  auto paths = write_png_shards(dir, 3, 8);
  {  // shard 1: sample s9's PNG corrupted in place (a bad chunk CRC), the rest intact
    std::string bytes = mae::testing::read_bytes(paths[1]);
    const std::string png = mae::testing::encode_png(torch::full({8, 8, 1}, 9, torch::kUInt8), 0);
    const size_t at = bytes.find(png);
    ASSERT_NE(at, std::string::npos);
    bytes[at + png.size() - 20] ^= 0x55;
    mae::testing::write_bytes(paths[1], bytes);
    // shard 2: cut inside its sixth sample
    std::string cut = mae::testing::read_bytes(paths[2]);
    mae::testing::write_bytes(paths[2], cut.substr(0, cut.size() * 5 / 8 + 100));
  }
  auto set = data::load_shard_set(paths, "label");
  EXPECT_EQ(set.shards[2].samples, 5) << "the counting pass stops at the cut";
  auto loader = shard_loader(paths, 3, 1, 0, 1, 0);
  ::testing::internal::CaptureStderr();
  const auto batches = epoch_batches(*loader, 0);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(batches.size(), 7u);  // 21 samples
  EXPECT_EQ(loader->skipped_samples(), 1);
  EXPECT_NE(log.find(paths[2]), std::string::npos) << "the truncated shard is named: " << log;
  EXPECT_NE(log.find("s9"), std::string::npos) << "the corrupt sample is named: " << log;
  for (const auto& b : batches) {
    for (int64_t r = 0; r < 3; ++r) EXPECT_NE(b.indices[r].item<int64_t>(), 9) << "the corrupt row was refilled";
  }
}

TEST(WdsSource, OpensSamplesByIndex) {
  TempDir dir;
  const auto paths = write_png_shards(dir, 2, 3);
  data::WdsSource source(data::load_shard_set(paths, "label"), "label");
  ASSERT_EQ(source.size(), 6);
  EXPECT_EQ(source.num_classes(), 5);
  EXPECT_EQ(source.label(4), 4);
  const auto image = source.open(4);
  EXPECT_EQ(image.format, data::ImageFormat::kPng);
  EXPECT_EQ(image.height, 8);
  EXPECT_NE(source.describe(4).find("t-1.tar#s4"), std::string::npos);
}

TEST(WdsShards, CountsOnceAndCachesBesideTheShards) {
  TempDir dir;
  const auto paths = write_png_shards(dir, 2, 3);
  const auto counted = data::load_shard_set(paths, "label");
  EXPECT_EQ(counted.samples(), 6);
  EXPECT_EQ(counted.origin, dir.file("t.index.json"));
  ASSERT_TRUE(std::filesystem::exists(dir.file("t.index.json")));
  const auto cached = data::load_shard_set(paths, "label");
  EXPECT_EQ(cached.origin, dir.file("t.index.json"));
  EXPECT_EQ(cached.samples(), 6);
  EXPECT_EQ(cached.first_samples(), (std::vector<int64_t>{0, 3}));
}
