#include <gtest/gtest.h>
#include <png.h>

#include "mae/core/error.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/data/augment/transforms.h"
#include "test_data_files.h"

using mae::data::CropBox;
using mae::data::DataError;
using mae::data::ImageFormat;
using mae::testing::encode_jpeg;
using mae::testing::encode_png;
using mae::testing::smooth_image;

namespace {

double mean_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().mean().item<double>();
}

void expect_data_error(const std::string& bytes, const std::string& needle) {
  try {
    const auto image = mae::data::parse_image(bytes, "bad.file");
    mae::data::decode_full(image, 3);
    FAIL() << "no DataError; expected one mentioning " << needle;
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.file"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

}  // namespace

TEST(DataDecode, JpegHeaderAndFullDecodeMatchTheOriginal) {
  const auto original = smooth_image(48, 64, 3, 1);
  const auto image = mae::data::parse_image(encode_jpeg(original, 95), "a.jpg");
  EXPECT_EQ(image.format, ImageFormat::kJpeg);
  EXPECT_EQ(image.height, 48);
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.channels, 3);
  const auto rgb = mae::data::decode_full(image, 3);
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{48, 64, 3}));
  EXPECT_LT(mean_abs_diff(rgb, original), 2.0);
  // Grey output is libjpeg's luma plane: PIL's convert("L") of the colour decode, within rounding.
  const auto grey = mae::data::decode_full(image, 1);
  EXPECT_LE((grey.to(torch::kInt32) - mae::data::convert_channels(rgb, 1).to(torch::kInt32)).abs().max().item<int>(), 2);
}

TEST(DataDecode, GreyProgressiveAndCmykJpegs) {
  const auto grey = smooth_image(40, 30, 1, 2);
  const auto image = mae::data::parse_image(encode_jpeg(grey, 95, /*progressive=*/true), "g.jpg");
  EXPECT_EQ(image.channels, 1);
  const auto as_grey = mae::data::decode_full(image, 1);
  const auto as_rgb = mae::data::decode_full(image, 3);
  EXPECT_LT(mean_abs_diff(as_grey, grey), 2.0);
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(as_rgb.select(2, c), as_grey.select(2, 0)));
  // Adobe CMYK stores inverted inks: (R, G, B, 255) reads back as (R, G, B).
  const auto colour = smooth_image(32, 32, 3, 3);
  const auto cmyk = torch::cat({colour, torch::full({32, 32, 1}, 255, torch::kUInt8)}, 2);
  const auto decoded = mae::data::decode_full(mae::data::parse_image(encode_jpeg(cmyk, 95), "c.jpg"), 3);
  EXPECT_LT(mean_abs_diff(decoded, colour), 3.0);
}

TEST(DataDecode, JpegCropDecodeEqualsTheSameRegionOfAFullDecode) {
  const auto image = mae::data::parse_image(encode_jpeg(smooth_image(150, 200, 3, 4), 90), "p.jpg");
  const auto full = mae::data::decode_full(image, 3);
  for (const CropBox box : {CropBox{0, 0, 150, 200}, CropBox{17, 33, 91, 120}, CropBox{149, 199, 1, 1},
                            CropBox{40, 0, 60, 200}}) {
    const auto region = mae::data::read_region(image, box, 3, 1);
    const auto expected = full.slice(0, box.top, box.top + box.height).slice(1, box.left, box.left + box.width);
    ASSERT_EQ(region.sizes(), expected.sizes());
    // Skipped rows and cropped iMCU columns leave the decoded pixels unchanged (chroma upsampling
    // at the crop's edge may differ by a level).
    EXPECT_LE((region.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>(), 1)
        << box.top << "," << box.left;
  }
}

TEST(DataDecode, JpegRgbxIsRgbPaddedWith255) {
  const auto image = mae::data::parse_image(encode_jpeg(smooth_image(50, 70, 3, 11), 90), "p.jpg");
  const CropBox box{3, 9, 40, 50};
  const auto rgb = mae::data::read_region(image, box, 3, 1);
  const auto rgbx = mae::data::read_region(image, box, 4, 1);
  ASSERT_EQ(rgbx.sizes(), (std::vector<int64_t>{40, 50, 4}));
  EXPECT_TRUE(torch::equal(rgbx.slice(2, 0, 3), rgb));
  EXPECT_EQ(rgbx.select(2, 3).min().item<int>(), 255);
  // Other formats refuse RGBX rather than return something else.
  const auto png = mae::data::parse_image(encode_png(smooth_image(8, 8, 3, 12), PNG_COLOR_TYPE_RGB), "x.png");
  EXPECT_THROW(mae::data::read_region(png, CropBox{0, 0, 8, 8}, 4, 1), mae::Error);
}

TEST(DataDecode, JpegDctScalingApproximatesAResizedFullDecode) {
  const auto image = mae::data::parse_image(encode_jpeg(smooth_image(240, 320, 3, 5), 95), "p.jpg");
  const auto full = mae::data::decode_full(image, 3);
  const CropBox box{24, 40, 192, 256};
  const auto crop = full.slice(0, 24, 216).slice(1, 40, 296);
  for (int reduce : {2, 4, 8}) {
    const auto region = mae::data::read_region(image, box, 3, reduce);
    ASSERT_EQ(region.size(0), 192 / reduce);
    ASSERT_EQ(region.size(1), 256 / reduce);
    const auto reference = mae::data::resize(crop, 192 / reduce, 256 / reduce, mae::data::Interpolation::kBilinear);
    EXPECT_LT(mean_abs_diff(region, reference), 3.0) << "reduce " << reduce;
  }
  // The largest reduce that still covers the output.
  EXPECT_EQ(mae::data::choose_reduce(image, box, 96, 96), 2);
  EXPECT_EQ(mae::data::choose_reduce(image, box, 48, 48), 4);
  EXPECT_EQ(mae::data::choose_reduce(image, box, 20, 20), 8);
  EXPECT_EQ(mae::data::choose_reduce(image, box, 100, 20), 1);
}

TEST(DataDecode, PngInEveryColourTypeDecodesExactly) {
  const auto rgb = smooth_image(21, 17, 3, 6);
  const auto grey = smooth_image(21, 17, 1, 7);
  // Few distinct colours for the palette case.
  const auto posterised = rgb.div(64, "floor").mul(64).to(torch::kUInt8);
  struct Case {
    const char* name;
    torch::Tensor pixels;
    int color_type, bit_depth;
    bool interlaced;
  };
  const Case cases[] = {
      {"grey 8", grey, PNG_COLOR_TYPE_GRAY, 8, false},      {"grey 16", grey, PNG_COLOR_TYPE_GRAY, 16, false},
      {"grey+alpha", grey, PNG_COLOR_TYPE_GRAY_ALPHA, 8, false}, {"rgb 8", rgb, PNG_COLOR_TYPE_RGB, 8, false},
      {"rgb 16", rgb, PNG_COLOR_TYPE_RGB, 16, false},       {"rgba", rgb, PNG_COLOR_TYPE_RGB_ALPHA, 8, false},
      {"rgba 16", rgb, PNG_COLOR_TYPE_RGB_ALPHA, 16, false},
      {"palette+tRNS", posterised, PNG_COLOR_TYPE_PALETTE, 8, false},
      {"interlaced", rgb, PNG_COLOR_TYPE_RGB, 8, true},
  };
  for (const auto& c : cases) {
    const auto image = mae::data::parse_image(encode_png(c.pixels, c.color_type, c.bit_depth, c.interlaced), "x.png");
    EXPECT_EQ(image.format, ImageFormat::kPng);
    EXPECT_EQ(image.channels, c.pixels.size(2)) << c.name;
    // 16-bit files keep their 16 bits (the writer stores v * 257).
    const auto expected = c.bit_depth == 16 ? (c.pixels.to(torch::kInt32) * 257).to(torch::kUInt16) : c.pixels;
    const auto decoded = mae::data::decode_full(image, c.pixels.size(2));
    EXPECT_TRUE(torch::equal(decoded, expected)) << c.name;
    const CropBox box{5, 3, 9, 11};
    const auto region = mae::data::read_region(image, box, c.pixels.size(2), 1);
    EXPECT_TRUE(torch::equal(region, expected.slice(0, 5, 14).slice(1, 3, 14))) << c.name;
  }
  // Grey PNG to RGB repeats the plane; RGB to grey uses PIL's weights.
  const auto grey_png = mae::data::parse_image(encode_png(grey, PNG_COLOR_TYPE_GRAY), "g.png");
  EXPECT_TRUE(torch::equal(mae::data::decode_full(grey_png, 3), grey.expand({21, 17, 3})));
  const auto rgb_png = mae::data::parse_image(encode_png(rgb, PNG_COLOR_TYPE_RGB), "c.png");
  EXPECT_TRUE(torch::equal(mae::data::decode_full(rgb_png, 1), mae::data::convert_channels(rgb, 1)));
}

#ifdef MAE_WITH_WEBP
TEST(DataDecode, WebpLosslessDecodesExactlyAndCropsAnyBox) {
  const auto rgb = smooth_image(37, 53, 3, 11);
  const auto image = mae::data::parse_image(mae::testing::encode_webp(rgb), "a.webp");
  EXPECT_EQ(image.format, ImageFormat::kWebp);
  EXPECT_EQ(image.height, 37);
  EXPECT_EQ(image.width, 53);
  EXPECT_EQ(image.channels, 3);
  EXPECT_TRUE(torch::equal(mae::data::decode_full(image, 3), rgb));
  // Odd offsets too: the box is cut from RGB output, not from subsampled chroma.
  for (const CropBox box : {CropBox{5, 3, 9, 11}, CropBox{0, 0, 1, 53}, CropBox{36, 52, 1, 1}, CropBox{10, 17, 27, 36}}) {
    const auto region = mae::data::read_region(image, box, 3, 1);
    EXPECT_TRUE(torch::equal(region, rgb.slice(0, box.top, box.top + box.height).slice(1, box.left, box.left + box.width)))
        << box.top << "," << box.left;
  }
  // Grey is PIL's convert("L") of the colour; alpha is dropped, as PIL's convert("RGB").
  EXPECT_TRUE(torch::equal(mae::data::decode_full(image, 1), mae::data::convert_channels(rgb, 1)));
  const auto rgba = torch::cat({rgb, torch::full({37, 53, 1}, 77, torch::kUInt8)}, 2);
  EXPECT_TRUE(torch::equal(mae::data::decode_full(mae::data::parse_image(mae::testing::encode_webp(rgba), "t.webp"), 3), rgb));
}

TEST(DataDecode, WebpLossyCropDecodeEqualsTheSameRegionOfAFullDecode) {
  const auto original = smooth_image(90, 120, 3, 12);
  const auto image = mae::data::parse_image(mae::testing::encode_webp(original, 90), "p.webp");
  const auto full = mae::data::decode_full(image, 3);
  EXPECT_LT(mean_abs_diff(full, original), 3.0);
  for (const CropBox box : {CropBox{17, 33, 51, 70}, CropBox{1, 1, 88, 118}, CropBox{89, 119, 1, 1}, CropBox{20, 40, 30, 31},
                            CropBox{0, 0, 90, 120}}) {
    const auto region = mae::data::read_region(image, box, 3, 1);
    const auto expected = full.slice(0, box.top, box.top + box.height).slice(1, box.left, box.left + box.width);
    ASSERT_EQ(region.sizes(), expected.sizes());
    // Exact: the decoder pads the box so that chroma upsampling sees the neighbours a full decode does.
    EXPECT_TRUE(torch::equal(region, expected)) << box.top << "," << box.left;
  }
  const std::string webp = mae::testing::encode_webp(original, 90);
  expect_data_error(webp.substr(0, webp.size() / 2), "corrupt WebP");
  expect_data_error(webp.substr(0, 16), "corrupt WebP");
}
#else
TEST(DataDecode, WebpWithoutLibwebpIsRefusedWithWhatToDo) {
  expect_data_error(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16), "built without libwebp");
}
#endif

TEST(DataDecode, BadBytesAreDataErrorsNamingTheFile) {
  expect_data_error("", "not a JPEG, PNG, WebP or TIFF");
  expect_data_error("GIF89a....", "not a JPEG, PNG, WebP or TIFF");
  const std::string jpeg = encode_jpeg(smooth_image(64, 64, 3, 8), 90);
  expect_data_error(jpeg.substr(0, jpeg.find("\xFF\xDA") + 40), "truncated JPEG");
  expect_data_error(jpeg.substr(0, 30), "corrupt JPEG");
  // Garbled entropy data of full length decodes to noise without error, as in PIL; no crash.
  std::string garbled = jpeg;
  for (size_t i = garbled.find("\xFF\xDA") + 20; i < garbled.size() - 2; i += 7) garbled[i] = '\x5A';
  EXPECT_EQ(mae::data::decode_full(mae::data::parse_image(garbled, "bad.file"), 3).size(0), 64);
  const std::string png = encode_png(smooth_image(30, 30, 3, 9), PNG_COLOR_TYPE_RGB);
  expect_data_error(png.substr(0, png.size() / 2), "corrupt PNG");
  expect_data_error(png.substr(0, 20), "corrupt PNG");
  try {
    mae::data::read_image_file("/nonexistent/x.jpg", "list.txt:3: x.jpg");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("list.txt:3: x.jpg: cannot open"), std::string::npos) << e.what();
  }
}

TEST(DataDecode, ImagesAreReadFromFiles) {
  mae::testing::TempDir dir;
  const auto pixels = smooth_image(10, 12, 3, 10);
  mae::testing::write_bytes(dir.file("a.png"), encode_png(pixels, PNG_COLOR_TYPE_RGB));
  const auto image = mae::data::read_image_file(dir.file("a.png"), "a.png");
  EXPECT_TRUE(torch::equal(mae::data::decode_full(image, 3), pixels));
}
