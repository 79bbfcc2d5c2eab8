// TIFF decoding with libtiff, from the file's bytes in memory: any band count, uint8 / uint16 /
// int16 / float32 samples, strips or tiles, interleaved (contig) or planar (separate), any
// compression and predictor libtiff reads. Only the strips or tiles the crop box touches are
// decoded. The first image of the file is read; bands come out as stored (no palette, colour
// conversion or alpha handling). libtiff's messages go to a per-file handler and become a DataError.
// A build without libtiff (MAE_WITH_TIFF unset: the offline GPU bundle) refuses TIFF files.
#include "data/codecs/codecs.h"

#ifdef MAE_WITH_TIFF
#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <vector>

#include <tiffio.h>

namespace mae::data::detail {
namespace {

constexpr int64_t kMaxBands = 256;

// The bytes libtiff reads through the client callbacks, and the first error it reported.
struct Reader {
  const std::string* bytes;
  uint64_t position = 0;
  std::string origin;
  std::string error;
};

tsize_t on_read(thandle_t handle, tdata_t out, tsize_t n) {
  auto* r = static_cast<Reader*>(handle);
  const uint64_t size = r->bytes->size();
  const uint64_t count = r->position >= size ? 0 : std::min<uint64_t>(static_cast<uint64_t>(n), size - r->position);
  std::memcpy(out, r->bytes->data() + r->position, count);
  r->position += count;
  return static_cast<tsize_t>(count);
}
tsize_t on_write(thandle_t, tdata_t, tsize_t) { return 0; }
toff_t on_seek(thandle_t handle, toff_t offset, int whence) {
  auto* r = static_cast<Reader*>(handle);
  const uint64_t base = whence == SEEK_CUR ? r->position : whence == SEEK_END ? r->bytes->size() : 0;
  r->position = base + offset;
  return r->position;
}
int on_close(thandle_t) { return 0; }
toff_t on_size(thandle_t handle) { return static_cast<Reader*>(handle)->bytes->size(); }
// Strips are read straight from the bytes in memory (libtiff only reads through the map).
int on_map(thandle_t handle, tdata_t* base, toff_t* size) {
  auto* r = static_cast<Reader*>(handle);
  *base = const_cast<char*>(r->bytes->data());
  *size = r->bytes->size();
  return 1;
}
void on_unmap(thandle_t, tdata_t, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* format, va_list args) {
  auto* r = static_cast<Reader*>(user);
  if (r->error.empty()) {
    char message[512];
    std::vsnprintf(message, sizeof(message), format, args);
    r->error = module ? str(module, ": ", message) : std::string(message);
  }
  return 1;  // handled: nothing reaches stderr
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// An open TIFF, closed on scope exit.
class TiffFile {
 public:
  TiffFile(const std::string& bytes, const std::string& origin) {
    reader_.bytes = &bytes;
    reader_.origin = origin;
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(options, on_error, &reader_);
    TIFFOpenOptionsSetWarningHandlerExtR(options, on_warning, &reader_);
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, tmsize_t{1} << 31);
    tiff_ = TIFFClientOpenExt(origin.c_str(), "r", &reader_, on_read, on_write, on_seek, on_close, on_size, on_map,
                              on_unmap, options);
    TIFFOpenOptionsFree(options);
    if (tiff_ == nullptr) fail("cannot open");
  }
  ~TiffFile() {
    if (tiff_ != nullptr) TIFFClose(tiff_);
  }
  TiffFile(const TiffFile&) = delete;
  TiffFile& operator=(const TiffFile&) = delete;
  TIFF* get() const { return tiff_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(str(reader_.origin, ": corrupt or unreadable TIFF (", what,
                        reader_.error.empty() ? "" : ": " + reader_.error, "); re-write it or remove it from the dataset"));
  }
  template <typename T>
  T field(uint32_t tag) const {
    T value{};
    TIFFGetFieldDefaulted(tiff_, tag, &value);
    return value;
  }

 private:
  Reader reader_;
  TIFF* tiff_ = nullptr;
};

// What an image directory says: size, bands, sample type and layout.
struct Layout {
  HeaderInfo info;
  bool planar = false, tiled = false;
  int64_t block_w = 0, block_h = 0;  // tile size, or image width x rows per strip
  int64_t pages = 1;                 // > 1: single-band pages of one size read as bands (info.channels)
};

Layout read_page_layout(const TiffFile& file, const std::string& origin) {
  Layout l;
  l.info.width = file.field<uint32_t>(TIFFTAG_IMAGEWIDTH);
  l.info.height = file.field<uint32_t>(TIFFTAG_IMAGELENGTH);
  l.info.channels = file.field<uint16_t>(TIFFTAG_SAMPLESPERPIXEL);
  const auto bits = file.field<uint16_t>(TIFFTAG_BITSPERSAMPLE);
  const auto format = file.field<uint16_t>(TIFFTAG_SAMPLEFORMAT);
  const auto photometric = file.field<uint16_t>(TIFFTAG_PHOTOMETRIC);
  if (bits == 8 && format == SAMPLEFORMAT_UINT) {
    l.info.dtype = torch::kUInt8;
  } else if (bits == 16 && format == SAMPLEFORMAT_UINT) {
    l.info.dtype = torch::kUInt16;
  } else if (bits == 16 && format == SAMPLEFORMAT_INT) {
    l.info.dtype = torch::kInt16;
  } else if (bits == 32 && format == SAMPLEFORMAT_IEEEFP) {
    l.info.dtype = torch::kFloat32;
  } else {
    const char* kind = format == SAMPLEFORMAT_INT ? "signed" : format == SAMPLEFORMAT_IEEEFP ? "float" : "unsigned";
    throw DataError(str(origin, ": TIFF samples are ", bits, "-bit ", kind, "; uint8, uint16, int16 and float32 are ",
                        "supported: convert the file (e.g. gdal_translate -ot UInt16 or Float32)"));
  }
  if (photometric == PHOTOMETRIC_PALETTE || photometric == PHOTOMETRIC_YCBCR) {
    throw DataError(str(origin, ": ", photometric == PHOTOMETRIC_PALETTE ? "palette" : "YCbCr",
                        " TIFF images are not supported; store the bands themselves (e.g. convert to RGB)"));
  }
  if (l.info.channels < 1 || l.info.channels > kMaxBands) {
    throw DataError(str(origin, ": TIFF has ", l.info.channels, " samples per pixel (1..", kMaxBands, " are read)"));
  }
  l.planar = file.field<uint16_t>(TIFFTAG_PLANARCONFIG) == PLANARCONFIG_SEPARATE && l.info.channels > 1;
  l.tiled = TIFFIsTiled(file.get()) != 0;
  if (l.tiled) {
    l.block_w = file.field<uint32_t>(TIFFTAG_TILEWIDTH);
    l.block_h = file.field<uint32_t>(TIFFTAG_TILELENGTH);
  } else {
    l.block_w = l.info.width;
    l.block_h = std::min<int64_t>(file.field<uint32_t>(TIFFTAG_ROWSPERSTRIP), l.info.height);
  }
  if (l.block_w <= 0 || l.block_h <= 0) file.fail("no tile or strip size");
  return l;
}

// The first directory's layout. A file of several single-band pages of one size and type (what
// tifffile writes for a [bands, H, W] array by default) is read as one image of that many bands;
// pages of other sizes (a pyramid, thumbnails) leave the first page alone.
Layout read_layout(const TiffFile& file, const std::string& origin) {
  Layout first = read_page_layout(file, origin);
  const auto pages = static_cast<int64_t>(TIFFNumberOfDirectories(file.get()));
  if (pages <= 1 || pages > kMaxBands || first.info.channels != 1) return first;
  bool bands = true;
  for (int64_t p = 1; p < pages && bands; ++p) {
    if (!TIFFSetDirectory(file.get(), static_cast<tdir_t>(p))) file.fail(str("page ", p + 1, " of ", pages));
    const Layout l = read_page_layout(file, origin);
    bands = l.info.channels == 1 && l.info.width == first.info.width && l.info.height == first.info.height &&
            l.info.dtype == first.info.dtype;
  }
  if (!TIFFSetDirectory(file.get(), 0)) file.fail("page 1");
  if (!bands) return first;
  first.pages = pages;
  first.info.channels = pages;
  return first;
}

// The box of the current page into `dst` ([box.height, box.width, l.info.channels] elements, or
// [bands, box.height, box.width] for a planar page).
void decode_page_region(const TiffFile& file, const Layout& l, const CropBox& box, char* dst) {
  TIFF* tiff = file.get();
  const int64_t bands = l.info.channels, element = c10::elementSize(l.info.dtype);
  // Samples per pixel inside one block: all bands interleaved, or one band per plane.
  const int64_t per_pixel = l.planar ? 1 : bands;
  const int64_t block_row_bytes = l.block_w * per_pixel * element;
  const tmsize_t block_bytes = l.tiled ? TIFFTileSize(tiff) : TIFFStripSize(tiff);
  if (block_bytes < l.block_h * block_row_bytes) file.fail("tile or strip smaller than its size says");
  std::vector<char> block(static_cast<size_t>(block_bytes));
  const int64_t y1 = box.top + box.height, x1 = box.left + box.width;
  for (int64_t plane = 0; plane < (l.planar ? bands : 1); ++plane) {
    for (int64_t by = box.top / l.block_h; by * l.block_h < y1; ++by) {
      for (int64_t bx = box.left / l.block_w; bx * l.block_w < x1; ++bx) {
        const int64_t y0 = by * l.block_h, x0 = bx * l.block_w;
        const auto sample = static_cast<uint16_t>(plane);
        const tmsize_t got =
            l.tiled ? TIFFReadEncodedTile(tiff, TIFFComputeTile(tiff, x0, y0, 0, sample), block.data(), block_bytes)
                    : TIFFReadEncodedStrip(tiff, TIFFComputeStrip(tiff, y0, sample), block.data(), block_bytes);
        // Rows of this block inside the box; a strip at the bottom may hold fewer rows.
        const int64_t row_a = std::max(y0, box.top), row_b = std::min({y0 + l.block_h, y1, l.info.height});
        if (got < 0 || got < (row_b - y0) * block_row_bytes) file.fail(str("truncated ", l.tiled ? "tile" : "strip"));
        const int64_t col_a = std::max(x0, box.left), col_b = std::min(x0 + l.block_w, x1);
        const size_t run = static_cast<size_t>((col_b - col_a) * per_pixel * element);
        for (int64_t y = row_a; y < row_b; ++y) {
          const char* src = block.data() + (y - y0) * block_row_bytes + (col_a - x0) * per_pixel * element;
          const int64_t at = l.planar ? (plane * box.height + (y - box.top)) * box.width + (col_a - box.left)
                                      : ((y - box.top) * box.width + (col_a - box.left)) * bands;
          std::memcpy(dst + at * element, src, run);
        }
      }
    }
  }
}

}  // namespace

HeaderInfo tiff_read_header(const std::string& bytes, const std::string& origin) {
  TiffFile file(bytes, origin);
  return read_layout(file, origin).info;
}

torch::Tensor tiff_decode_region(const std::string& bytes, const std::string& origin, const CropBox& box) {
  TiffFile file(bytes, origin);
  const Layout l = read_layout(file, origin);
  if (l.pages > 1) {  // one band per page: [pages, h, w], returned as an [h, w, pages] view
    auto out = torch::empty({l.pages, box.height, box.width}, l.info.dtype);
    for (int64_t p = 0; p < l.pages; ++p) {
      if (!TIFFSetDirectory(file.get(), static_cast<tdir_t>(p))) file.fail(str("page ", p + 1, " of ", l.pages));
      decode_page_region(file, read_page_layout(file, origin), box, static_cast<char*>(out[p].data_ptr()));
    }
    return out.permute({1, 2, 0});
  }
  // Interleaved: [h, w, bands]; planar: [bands, h, w], returned as an [h, w, bands] view.
  auto out = l.planar ? torch::empty({l.info.channels, box.height, box.width}, l.info.dtype)
                      : torch::empty({box.height, box.width, l.info.channels}, l.info.dtype);
  decode_page_region(file, l, box, static_cast<char*>(out.data_ptr()));
  return l.planar ? out.permute({1, 2, 0}) : out;
}

}  // namespace mae::data::detail

#else  // no libtiff in this build

namespace mae::data::detail {

HeaderInfo tiff_read_header(const std::string&, const std::string& origin) {
  throw DataError(str(origin, ": this mae was built without libtiff, so TIFF files cannot be read; install libtiff-dev "
                      "(Debian) and build again, or convert the images to PNG or .npy"));
}

torch::Tensor tiff_decode_region(const std::string& bytes, const std::string& origin, const CropBox&) {
  tiff_read_header(bytes, origin);
  return {};
}

}  // namespace mae::data::detail

#endif  // MAE_WITH_TIFF
