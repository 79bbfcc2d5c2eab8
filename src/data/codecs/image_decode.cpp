#include "mae/data/codecs/image_decode.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "data/codecs/codecs.h"

namespace mae::data {
namespace {

bool starts_with(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

CropBox full_box(const RawImage& image) { return CropBox{0, 0, image.height, image.width}; }

}  // namespace

RawImage parse_image(std::string bytes, const std::string& origin) {
  RawImage image;
  image.origin = origin;
  detail::HeaderInfo info;
  if (starts_with(bytes, "\xFF\xD8\xFF", 3)) {
    image.format = ImageFormat::kJpeg;
    info = detail::jpeg_read_header(bytes, origin);
  } else if (starts_with(bytes, "\x89PNG\r\n\x1A\n", 8)) {
    image.format = ImageFormat::kPng;
    info = detail::png_read_header(bytes, origin);
  } else if (starts_with(bytes, "RIFF", 4) && bytes.size() >= 12 && std::memcmp(bytes.data() + 8, "WEBP", 4) == 0) {
    image.format = ImageFormat::kWebp;
    info = detail::webp_read_header(bytes, origin);
  } else if (starts_with(bytes, "II*\0", 4) || starts_with(bytes, "MM\0*", 4) || starts_with(bytes, "II+\0", 4) ||
             starts_with(bytes, "MM\0+", 4)) {  // classic TIFF and BigTIFF, either byte order
    image.format = ImageFormat::kTiff;
    info = detail::tiff_read_header(bytes, origin);
  } else {
    throw DataError(str(origin, ": not a JPEG, PNG, WebP or TIFF file (", bytes.size(),
                        " bytes); convert it or remove it from the dataset"));
  }
  if (info.height <= 0 || info.width <= 0 || info.height * info.width > detail::kMaxPixels) {
    throw DataError(str(origin, ": image header claims ", info.width, "x", info.height,
                        " pixels; the file is corrupt or too large"));
  }
  image.height = info.height;
  image.width = info.width;
  image.channels = info.channels;
  image.bytes = std::move(bytes);
  return image;
}

RawImage read_image_file(const std::string& path, const std::string& origin) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw DataError(str(origin, ": cannot open (", std::strerror(errno), "); check the path and data.root"));
  }
  std::string bytes;
  struct stat info {};
  if (::fstat(::fileno(file), &info) == 0 && info.st_size > 0) bytes.resize(static_cast<size_t>(info.st_size));
  size_t size = std::fread(bytes.data(), 1, bytes.size(), file);
  bytes.resize(size);
  char chunk[1 << 16];  // files whose size fstat does not tell (pipes) or that grew
  for (size_t n = 0; (n = std::fread(chunk, 1, sizeof(chunk), file)) > 0;) bytes.append(chunk, n);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) throw DataError(str(origin, ": read error; check the disk or the file's permissions"));
  return parse_image(std::move(bytes), origin);
}

int choose_reduce(const RawImage& image, const CropBox& box, int64_t out_h, int64_t out_w) {
  if (image.format != ImageFormat::kJpeg) return 1;
  int reduce = 1;
  while (reduce < 8 && box.height >= 2 * reduce * out_h && box.width >= 2 * reduce * out_w) reduce *= 2;
  return reduce;
}

torch::Tensor read_region(const RawImage& image, const CropBox& box, int64_t channels, int reduce) {
  MAE_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
                box.top + box.height <= image.height && box.left + box.width <= image.width,
            image.origin, ": crop box (top ", box.top, ", left ", box.left, ", ", box.height, "x", box.width,
            ") outside the ", image.height, "x", image.width, " image");
  MAE_CHECK(reduce == 1 || reduce == 2 || reduce == 4 || reduce == 8, "read_region: reduce ", reduce,
            " is not 1, 2, 4 or 8");
  switch (image.format) {
    case ImageFormat::kPixels:
      return convert_channels(image.pixels.slice(0, box.top, box.top + box.height)
                                  .slice(1, box.left, box.left + box.width),
                              channels, image.origin);
    case ImageFormat::kJpeg:
      return detail::jpeg_decode_region(image.bytes, image.origin, box, channels, reduce);
    case ImageFormat::kPng:
      return detail::png_decode_region(image.bytes, image.origin, box, channels);
    case ImageFormat::kWebp:
      return detail::webp_decode_region(image.bytes, image.origin, box, channels, image.height, image.width);
    case ImageFormat::kTiff:
      return convert_channels(detail::tiff_decode_region(image.bytes, image.origin, box), channels, image.origin);
  }
  throw Error("read_region: unknown image format");
}

torch::Tensor decode_full(const RawImage& image, int64_t channels) {
  return read_region(image, full_box(image), channels, 1);
}

torch::Tensor decode_label_map(const RawImage& image) {
  if (image.format != ImageFormat::kPng) {
    throw DataError(str(image.origin, ": a label map must be a PNG (8-bit grey or palette, one class index per pixel)"));
  }
  return detail::png_decode_label_map(image.bytes, image.origin);
}

}  // namespace mae::data
