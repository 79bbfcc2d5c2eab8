// N-channel, 16-bit and float imagery: TIFF in every sample type and layout, 16-bit PNG, .npy
// arrays (the memory-mapped npy source and per-sample npy_files), the float transform path,
// data.pixel_range, N-channel statistics and the channel-mismatch error. Every file is made here.
#include <gtest/gtest.h>
#include <png.h>

#include <filesystem>
#include <functional>

#include "common/multiband_files.h"
#include "mae/core/error.h"
#include "mae/data/sources/array_source.h"
#include "mae/data/factory.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/augment/sample_transform.h"
#include "mae/io/npy.h"
#include "test_data_files.h"

using mae::data::CropBox;
using mae::data::DataError;
using mae::data::DataOptions;
using mae::data::Split;
using mae::testing::multiband_image;
using mae::testing::TempDir;
using mae::testing::TiffLayout;
using mae::testing::write_tiff;

namespace {

const torch::ScalarType kTypes[] = {torch::kUInt8, torch::kUInt16, torch::kInt16, torch::kFloat32};

// Element-wise equality of any pixel type; prints the worst element on failure.
::testing::AssertionResult same_pixels(const torch::Tensor& got, const torch::Tensor& want) {
  if (got.sizes() != want.sizes() || got.scalar_type() != want.scalar_type()) {
    return ::testing::AssertionFailure() << "got " << got.sizes() << " " << got.scalar_type() << ", want " << want.sizes()
                                         << " " << want.scalar_type();
  }
  const auto diff = (got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs();
  const double worst = diff.max().item<double>();
  if (worst == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "worst difference " << worst << " at flat index " << diff.argmax().item<int64_t>();
}

std::string expect_throw_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const mae::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TiffLayout layout_of(bool tiled, bool planar, uint16_t compression) {
  TiffLayout l;
  l.tiled = tiled;
  l.planar = planar;
  l.compression = compression;
  return l;
}

}  // namespace

TEST(DataMultiband, TiffEveryTypeAndLayoutDecodesExactly) {
  TempDir dir;
  for (auto dtype : kTypes) {
    const auto pixels = multiband_image(37, 45, 5, dtype, 3);
    for (bool tiled : {false, true}) {
      for (bool planar : {false, true}) {
        for (uint16_t compression : {COMPRESSION_NONE, COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE}) {
          const std::string path = dir.file("x.tif");
          write_tiff(path, pixels, layout_of(tiled, planar, compression));
          const std::string what = mae::str(dtype, tiled ? " tiled" : " strips", planar ? " planar" : " interleaved",
                                            " compression ", compression);
          const auto image = mae::data::read_image_file(path, "x.tif");
          ASSERT_EQ(image.format, mae::data::ImageFormat::kTiff) << what;
          EXPECT_EQ(image.height, 37);
          EXPECT_EQ(image.width, 45);
          EXPECT_EQ(image.channels, 5);
          EXPECT_TRUE(same_pixels(mae::data::decode_full(image, 5), pixels)) << what;
          // A box that cuts strips and tiles at both ends.
          const CropBox box{9, 13, 20, 25};
          EXPECT_TRUE(same_pixels(mae::data::read_region(image, box, 5), pixels.slice(0, 9, 29).slice(1, 13, 38))) << what;
        }
      }
    }
  }
}

TEST(DataMultiband, GreyAndRgbTiffsConvertLikePhotos) {
  TempDir dir;
  const auto grey = multiband_image(10, 12, 1, torch::kUInt16, 1);
  write_tiff(dir.file("g.tif"), grey);
  const auto image = mae::data::read_image_file(dir.file("g.tif"), "g.tif");
  EXPECT_TRUE(same_pixels(mae::data::decode_full(image, 3), grey.expand({10, 12, 3}).contiguous()));
  // A folder scan takes .tif and .tiff.
  write_tiff(dir.file("more/b.TIFF"), grey);
  write_tiff(dir.file("more/a.tif"), grey);
  EXPECT_EQ(mae::data::scan_image_folder(dir.file("more"))->size(), 2);
}

TEST(DataMultiband, BadTiffsAreDataErrorsNamingTheFile) {
  TempDir dir;
  write_tiff(dir.file("ok.tif"), multiband_image(40, 40, 6, torch::kUInt16, 2), layout_of(false, false, COMPRESSION_LZW));
  const std::string bytes = mae::testing::read_bytes(dir.file("ok.tif"));
  const std::string truncated = bytes.substr(0, bytes.size() / 3);
  const std::string what = expect_throw_text([&] {
    mae::data::decode_full(mae::data::parse_image(truncated, "cut.tif"), 6);
  });
  EXPECT_NE(what.find("cut.tif"), std::string::npos) << what;
  EXPECT_NE(what.find("TIFF"), std::string::npos) << what;
  EXPECT_THROW(mae::data::parse_image(bytes.substr(0, 12), "head.tif"), DataError);
  // 32-bit integers are not an image type here.
  const auto wide = multiband_image(8, 8, 2, torch::kInt16, 1).to(torch::kInt32);
  TIFF* tiff = TIFFOpen(dir.file("i32.tif").c_str(), "w");
  TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, 8u);
  TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, 8u);
  TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, uint16_t{2});
  TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, uint16_t{32});
  TIFFSetField(tiff, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_INT);
  TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
  TIFFSetField(tiff, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFWriteEncodedStrip(tiff, 0, wide.contiguous().data_ptr(), 8 * 8 * 2 * 4);
  TIFFClose(tiff);
  const std::string refused = expect_throw_text([&] { mae::data::read_image_file(dir.file("i32.tif"), "i32.tif"); });
  EXPECT_NE(refused.find("32-bit signed"), std::string::npos) << refused;
}

TEST(DataMultiband, SixteenBitPngKeepsItsSixteenBits) {
  const auto rgb = mae::testing::smooth_image(9, 11, 3, 4);
  const auto image = mae::data::parse_image(mae::testing::encode_png(rgb, PNG_COLOR_TYPE_RGB, 16), "x.png");
  const auto decoded = mae::data::decode_full(image, 3);
  ASSERT_EQ(decoded.scalar_type(), torch::kUInt16);
  EXPECT_TRUE(same_pixels(decoded, (rgb.to(torch::kInt32) * 257).to(torch::kUInt16)));  // the writer stores v * 257
}

TEST(DataMultiband, NpyRoundTripsEveryTypeMemoryMapped) {
  TempDir dir;
  for (auto dtype : {torch::kUInt8, torch::kUInt16, torch::kInt16, torch::kFloat32, torch::kInt32, torch::kInt64,
                     torch::kFloat64}) {
    const auto values = multiband_image(5, 6, 3, torch::kFloat32, 1).mul(100).to(dtype);
    mae::io::write_npy(dir.file("a.npy"), values);
    EXPECT_TRUE(same_pixels(mae::io::map_npy(dir.file("a.npy")), values)) << dtype;
  }
}

TEST(DataMultiband, NpyFortranOrderAndBadHeaders) {
  TempDir dir;
  // A Fortran-order [2, 3] uint16 array, header written by hand as numpy does.
  auto npy = [](const std::string& dict, const std::string& data) {
    std::string header = dict;
    header.append(64 - (10 + header.size() + 1) % 64, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + data;
  };
  const uint16_t column_major[] = {1, 4, 2, 5, 3, 6};  // [[1, 2, 3], [4, 5, 6]]
  const std::string data(reinterpret_cast<const char*>(column_major), sizeof(column_major));
  mae::testing::write_bytes(dir.file("f.npy"), npy("{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3), }", data));
  const auto f = mae::io::map_npy(dir.file("f.npy"));
  EXPECT_TRUE(same_pixels(f, torch::tensor({1, 2, 3, 4, 5, 6}, torch::kInt32).reshape({2, 3}).to(torch::kUInt16)));
  mae::testing::write_bytes(dir.file("t.npy"), npy("{'descr': '<u2', 'fortran_order': False, 'shape': (4, 3), }", data));
  EXPECT_NE(expect_throw_text([&] { mae::io::map_npy(dir.file("t.npy")); }).find("truncated"), std::string::npos);
  mae::testing::write_bytes(dir.file("b.npy"), npy("{'descr': '>u2', 'fortran_order': False, 'shape': (2, 3), }", data));
  EXPECT_NE(expect_throw_text([&] { mae::io::map_npy(dir.file("b.npy")); }).find("big-endian"), std::string::npos);
  mae::testing::write_bytes(dir.file("o.npy"), npy("{'descr': '|O', 'fortran_order': False, 'shape': (2, 3), }", data));
  EXPECT_NE(expect_throw_text([&] { mae::io::map_npy(dir.file("o.npy")); }).find("not supported"), std::string::npos);
  mae::testing::write_bytes(dir.file("x.npy"), "not an array at all");
  EXPECT_NE(expect_throw_text([&] { mae::io::map_npy(dir.file("x.npy")); }).find("x.npy"), std::string::npos);
}

TEST(DataMultiband, NpySourceReadsBothLayoutsWithLabels) {
  TempDir dir;
  const auto nhwc = torch::stack({multiband_image(8, 10, 6, torch::kUInt16, 1), multiband_image(8, 10, 6, torch::kUInt16, 2),
                                  multiband_image(8, 10, 6, torch::kUInt16, 3)});  // [3, 8, 10, 6]
  mae::io::write_npy(dir.file("nhwc.npy"), nhwc);
  mae::io::write_npy(dir.file("nchw.npy"), nhwc.permute({0, 3, 1, 2}));
  mae::io::write_npy(dir.file("labels.npy"), torch::tensor({2, 0, 1}, torch::kInt64));
  for (const char* name : {"nhwc.npy", "nchw.npy"}) {
    DataOptions o;
    o.source.kind = mae::data::SourceKind::kNpy;
    o.source.root = dir.path();
    o.source.train_files = {name, "labels.npy"};
    const auto source = mae::data::make_source(o.source, Split::kTrain);
    ASSERT_EQ(source->size(), 3) << name;
    EXPECT_EQ(source->num_classes(), 3);
    EXPECT_EQ(source->label(0), 2);
    const auto image = source->open(1);
    EXPECT_EQ(image.channels, 6) << name;
    EXPECT_TRUE(same_pixels(mae::data::decode_full(image, 6), nhwc[1])) << name;
  }
  // An explicit layout overrides the guess; a wrong one shows as a channel mismatch.
  DataOptions o;
  o.source.kind = mae::data::SourceKind::kNpy;
  o.source.root = dir.path();
  o.source.train_files = {"nchw.npy"};
  o.source.array_layout = mae::data::ArrayLayout::kChannelsLast;
  EXPECT_EQ(mae::data::make_source(o.source, Split::kTrain)->open(0).channels, 10);
  // Labels that do not pair with the images.
  mae::io::write_npy(dir.file("two.npy"), torch::tensor({0, 1}, torch::kInt64));
  o.source.array_layout = mae::data::ArrayLayout::kAuto;
  o.source.train_files = {"nchw.npy", "two.npy"};
  EXPECT_THROW(mae::data::make_source(o.source, Split::kTrain), mae::UsageError);
}

TEST(DataMultiband, NpyFilesFromAFolderOrAList) {
  TempDir dir;
  const auto a = multiband_image(7, 9, 4, torch::kFloat32, 1), b = multiband_image(7, 9, 4, torch::kFloat32, 2);
  std::filesystem::create_directories(dir.file("arrays/sub"));
  mae::io::write_npy(dir.file("arrays/a.npy"), a.permute({2, 0, 1}));  // [C, H, W]
  mae::io::write_npy(dir.file("arrays/sub/b.npy"), b);                 // [H, W, C]
  mae::testing::write_bytes(dir.file("arrays/notes.txt"), "x");
  DataOptions o;
  o.source.kind = mae::data::SourceKind::kNpyFiles;
  o.source.root = dir.path();
  o.source.train_files = {"arrays"};
  auto source = mae::data::make_source(o.source, Split::kTrain);
  ASSERT_EQ(source->size(), 2);
  EXPECT_TRUE(same_pixels(mae::data::decode_full(source->open(0), 4), a));
  EXPECT_TRUE(same_pixels(mae::data::decode_full(source->open(1), 4), b));
  // A list file with labels; a truncated file is a DataError the loader skips.
  mae::testing::write_bytes(dir.file("train.txt"), "arrays/a.npy 1\narrays/sub/b.npy 0\ncut.npy 1\n");
  const std::string full = mae::testing::read_bytes(dir.file("arrays/a.npy"));
  mae::testing::write_bytes(dir.file("cut.npy"), full.substr(0, full.size() - 10));
  o.source.train_files = {"train.txt"};
  source = mae::data::make_source(o.source, Split::kTrain);
  ASSERT_EQ(source->size(), 3);
  EXPECT_EQ(source->label(0), 1);
  try {
    source->open(2);
    FAIL() << "a truncated .npy opened";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("train.txt:3"), std::string::npos) << e.what();
  }
}

TEST(DataMultiband, FloatPathNormalisesByPixelRange) {
  const auto pixels = multiband_image(12, 14, 6, torch::kUInt16, 5);
  mae::data::RawImage image;
  image.pixels = pixels;
  image.height = 12, image.width = 14, image.channels = 6;
  mae::data::TransformOptions t;
  t.channels = 6, t.height = 12, t.width = 14, t.train = false, t.eval_resize_ratio = 1;
  t.mean = {0.1, 0.1, 0.1, 0.2, 0.2, 0.2};
  t.std = {0.05, 0.05, 0.05, 0.1, 0.1, 0.1};
  auto expected_for = [&](double range) {
    const auto mean = torch::tensor(t.mean).to(torch::kFloat32).reshape({6, 1, 1});
    const auto std = torch::tensor(t.std).to(torch::kFloat32).reshape({6, 1, 1});
    return (pixels.to(torch::kFloat32).permute({2, 0, 1}) / range - mean) / std;
  };
  for (double range : {0.0, 10000.0}) {
    t.pixel_range = range;
    const mae::data::SampleTransform transform(t);
    auto out = torch::empty({6, 12, 14});
    auto rng = mae::data::SampleRng::for_sample(0, 0, 0);
    transform.apply(image, rng, out.data_ptr<float>());
    // Same size: no resampling, so the result is exact (range 0 means 65535 for uint16).
    EXPECT_TRUE(same_pixels(out, expected_for(range > 0 ? range : 65535.0))) << "pixel_range " << range;
  }
  // Resampled: the float planes go through antialiased interpolation as they are.
  t.height = t.width = 8;
  t.pixel_range = 0;
  t.eval_resize_ratio = 1;
  const mae::data::SampleTransform small(t);
  auto out = torch::empty({6, 8, 8});
  auto rng = mae::data::SampleRng::for_sample(0, 0, 0);
  small.apply(image, rng, out.data_ptr<float>());
  const CropBox box = mae::data::center_crop_box(12, 14, 8, 8, 1.0);
  const auto crop = pixels.slice(0, box.top, box.top + box.height).slice(1, box.left, box.left + box.width);
  namespace F = torch::nn::functional;
  const auto resized = F::interpolate(crop.to(torch::kFloat32).permute({2, 0, 1}).unsqueeze(0),
                                      F::InterpolateFuncOptions().size(std::vector<int64_t>{8, 8}).mode(torch::kBicubic)
                                          .align_corners(false).antialias(true))[0];
  const auto mean = torch::tensor(t.mean).to(torch::kFloat32).reshape({6, 1, 1});
  const auto std = torch::tensor(t.std).to(torch::kFloat32).reshape({6, 1, 1});
  EXPECT_LT((out - (resized / 65535.0 - mean) / std).abs().max().item<double>(), 1e-4);
}

TEST(DataMultiband, EightBitManyChannelsTakeTheTablePath) {
  const auto pixels = multiband_image(10, 10, 5, torch::kUInt8, 2);
  mae::data::RawImage image;
  image.pixels = pixels;
  image.height = image.width = 10;
  image.channels = 5;
  mae::data::TransformOptions t;
  t.channels = 5, t.height = t.width = 10, t.train = false, t.eval_resize_ratio = 1;
  t.mean.assign(5, 0.5);
  t.std.assign(5, 0.25);
  const mae::data::SampleTransform transform(t);
  auto out = torch::empty({5, 10, 10});
  auto rng = mae::data::SampleRng::for_sample(0, 0, 0);
  transform.apply(image, rng, out.data_ptr<float>());
  const auto expected = (pixels.to(torch::kFloat32).permute({2, 0, 1}) / 255.0f - 0.5f) / 0.25f;
  EXPECT_TRUE(same_pixels(out, expected));
}

TEST(DataMultiband, ChannelMismatchNamesBothCounts) {
  mae::data::RawImage image;
  image.pixels = multiband_image(10, 10, 6, torch::kUInt16, 1);
  image.height = image.width = 10;
  image.channels = 6;
  image.origin = "scene_0001.tif";
  mae::data::TransformOptions t;
  t.channels = 3, t.height = t.width = 8;
  t.mean.assign(3, 0.5);
  t.std.assign(3, 0.2);
  const mae::data::SampleTransform transform(t);
  auto out = torch::empty({3, 8, 8});
  auto rng = mae::data::SampleRng::for_sample(0, 0, 0);
  try {
    transform.apply(image, rng, out.data_ptr<float>());
    FAIL() << "a 6-band image went into a 3-channel model";
  } catch (const mae::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("scene_0001.tif"), std::string::npos) << what;
    EXPECT_NE(what.find("6 channel"), std::string::npos) << what;
    EXPECT_NE(what.find("takes 3"), std::string::npos) << what;
    EXPECT_NE(what.find("model.in_chans=6"), std::string::npos) << what;
  }
}

TEST(DataMultiband, StatisticsOfSixteenBitTiffsPerBand) {
  TempDir dir;
  const auto a = multiband_image(9, 8, 6, torch::kUInt16, 1), b = multiband_image(5, 7, 6, torch::kUInt16, 2);
  write_tiff(dir.file("set/a.tif"), a, layout_of(true, true, COMPRESSION_LZW));
  write_tiff(dir.file("set/b.tif"), b);
  DataOptions o;
  o.source.kind = mae::data::SourceKind::kFolder;
  o.source.root = dir.path();
  o.source.train_files = {"set"};
  const auto all = torch::cat({a.reshape({-1, 6}), b.reshape({-1, 6})}).to(torch::kFloat64);
  for (double range : {0.0, 4095.0}) {
    o.transform.pixel_range = range;
    const auto [mean, std] = mae::data::compute_mean_std(o, Split::kTrain, 6, 0);
    ASSERT_EQ(mean.size(), 6u);
    const double r = range > 0 ? range : 65535.0;
    for (int64_t k = 0; k < 6; ++k) {
      EXPECT_NEAR(mean[k], all.select(1, k).mean().item<double>() / r, 1e-12);
      EXPECT_NEAR(std[k], all.select(1, k).std(/*unbiased=*/false).item<double>() / r, 1e-9);
    }
  }
}

TEST(DataMultiband, SixteenBitPngWithRandAugmentGivesWhatEightBitsGave) {
  // RandAugment's PIL ops are 8-bit: a 16-bit PNG goes down to 8 bits as libpng scaled it before.
  const auto rgb = mae::testing::smooth_image(40, 36, 3, 8);
  const auto png8 = mae::data::parse_image(mae::testing::encode_png(rgb, PNG_COLOR_TYPE_RGB, 8), "a.png");
  const auto png16 = mae::data::parse_image(mae::testing::encode_png(rgb, PNG_COLOR_TYPE_RGB, 16), "b.png");
  mae::data::TransformOptions t;
  t.channels = 3, t.height = t.width = 24;
  t.mean = {0.5, 0.4, 0.3};
  t.std = {0.2, 0.2, 0.2};
  t.auto_augment = "rand-m9-mstd0.5-inc1";
  const mae::data::SampleTransform transform(t);
  for (int64_t index = 0; index < 5; ++index) {
    auto a = torch::empty({3, 24, 24}), b = torch::empty({3, 24, 24});
    auto r1 = mae::data::SampleRng::for_sample(1, 0, index), r2 = r1;
    transform.apply(png8, r1, a.data_ptr<float>());
    transform.apply(png16, r2, b.data_ptr<float>());
    EXPECT_TRUE(same_pixels(b, a)) << "sample " << index;
  }
}
