#include "mae/eval/picture.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <unordered_map>

#include "mae/core/error.h"

namespace mae::eval {
namespace {

constexpr int64_t kGlyphW = 5, kGlyphH = 7, kSpacing = 1;

// The font: per character seven rows of five pixels, '#' on, '.' off, rows separated by spaces.
struct GlyphRows {
  char c;
  const char* rows;
};
constexpr GlyphRows kFont[] = {
    {' ', "..... ..... ..... ..... ..... ..... ....."}, {'A', ".###. #...# #...# ##### #...# #...# #...#"},
    {'B', "####. #...# #...# ####. #...# #...# ####."}, {'C', ".###. #...# #.... #.... #.... #...# .###."},
    {'D', "####. #...# #...# #...# #...# #...# ####."}, {'E', "##### #.... #.... ####. #.... #.... #####"},
    {'F', "##### #.... #.... ####. #.... #.... #...."}, {'G', ".###. #...# #.... #.### #...# #...# .####"},
    {'H', "#...# #...# #...# ##### #...# #...# #...#"}, {'I', ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."},
    {'J', "..### ...#. ...#. ...#. ...#. #..#. .##.."}, {'K', "#...# #..#. #.#.. ##... #.#.. #..#. #...#"},
    {'L', "#.... #.... #.... #.... #.... #.... #####"}, {'M', "#...# ##.## #.#.# #.#.# #...# #...# #...#"},
    {'N', "#...# #...# ##..# #.#.# #..## #...# #...#"}, {'O', ".###. #...# #...# #...# #...# #...# .###."},
    {'P', "####. #...# #...# ####. #.... #.... #...."}, {'Q', ".###. #...# #...# #...# #.#.# #..#. .##.#"},
    {'R', "####. #...# #...# ####. #.#.. #..#. #...#"}, {'S', ".#### #.... #.... .###. ....# ....# ####."},
    {'T', "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."}, {'U', "#...# #...# #...# #...# #...# #...# .###."},
    {'V', "#...# #...# #...# #...# #...# .#.#. ..#.."}, {'W', "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."},
    {'X', "#...# #...# .#.#. ..#.. .#.#. #...# #...#"}, {'Y', "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."},
    {'Z', "##### ....# ...#. ..#.. .#... #.... #####"}, {'0', ".###. #...# #..## #.#.# ##..# #...# .###."},
    {'1', "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."}, {'2', ".###. #...# ....# ...#. ..#.. .#... #####"},
    {'3', "####. ....# ....# .###. ....# ....# ####."}, {'4', "...#. ..##. .#.#. #..#. ##### ...#. ...#."},
    {'5', "##### #.... ####. ....# ....# #...# .###."}, {'6', "..##. .#... #.... ####. #...# #...# .###."},
    {'7', "##### ....# ...#. ..#.. .#... .#... .#..."}, {'8', ".###. #...# #...# .###. #...# #...# .###."},
    {'9', ".###. #...# #...# .#### ....# ...#. .##.."}, {'.', "..... ..... ..... ..... ..... .##.. .##.."},
    {',', "..... ..... ..... ..... .##.. ..#.. .#..."}, {':', "..... .##.. .##.. ..... .##.. .##.. ....."},
    {';', "..... .##.. .##.. ..... .##.. ..#.. .#..."}, {'-', "..... ..... ..... ##### ..... ..... ....."},
    {'+', "..... ..#.. ..#.. ##### ..#.. ..#.. ....."}, {'%', "##... ##..# ...#. ..#.. .#... #..## ...##"},
    {'/', "....# ....# ...#. ..#.. .#... #.... #...."}, {'(', "...#. ..#.. .#... .#... .#... ..#.. ...#."},
    {')', ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."}, {'|', "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."},
    {'=', "..... ..... ##### ..... ##### ..... ....."}, {'_', "..... ..... ..... ..... ..... ..... #####"},
    {'\'', "..#.. ..#.. .#... ..... ..... ..... ....."}, {'!', "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.."},
    {'?', ".###. #...# ....# ...#. ..#.. ..... ..#.."}, {'<', "...#. ..#.. .#... #.... .#... ..#.. ...#."},
    {'>', ".#... ..#.. ...#. ....# ...#. ..#.. .#..."}, {'[', ".###. .#... .#... .#... .#... .#... .###."},
    {']', ".###. ...#. ...#. ...#. ...#. ...#. .###."}, {'*', "..... ..#.. #.#.# .###. #.#.# ..#.. ....."},
    {'#', ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#."},
};

using Glyph = std::array<std::array<bool, kGlyphW>, kGlyphH>;

const Glyph& glyph(char c) {
  static const std::unordered_map<char, Glyph> font = [] {
    std::unordered_map<char, Glyph> out;
    for (const auto& g : kFont) {
      Glyph bits{};
      std::istringstream rows(g.rows);
      std::string row;
      for (int64_t y = 0; y < kGlyphH && rows >> row; ++y) {
        for (int64_t x = 0; x < kGlyphW && x < static_cast<int64_t>(row.size()); ++x) bits[y][x] = row[x] == '#';
      }
      out[g.c] = bits;
    }
    return out;
  }();
  const auto it = font.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return it != font.end() ? it->second : font.at('?');
}

}  // namespace

torch::Tensor upscale_nearest(const torch::Tensor& image, int64_t factor) {
  MAE_CHECK(image.dim() == 3 && factor >= 1, "upscale_nearest: expected [H, W, C] and a factor >= 1");
  if (factor == 1) return image;
  return image.repeat_interleave(factor, 0).repeat_interleave(factor, 1).contiguous();
}

int64_t upscale_factor(int64_t side, int64_t min_side) {
  MAE_CHECK(side > 0, "upscale_factor: side must be positive");
  return std::max<int64_t>(1, (min_side + side - 1) / side);
}

int64_t text_width(const std::string& text, int64_t scale) {
  if (text.empty()) return 0;
  return scale * (static_cast<int64_t>(text.size()) * (kGlyphW + kSpacing) - kSpacing);
}

int64_t text_height(int64_t scale) { return scale * kGlyphH; }

void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, int64_t scale, uint8_t value) {
  MAE_CHECK(image.dim() == 3 && image.scalar_type() == torch::kUInt8 && image.is_contiguous(),
            "draw_text: expected a contiguous [H, W, C] uint8 picture");
  const int64_t h = image.size(0), w = image.size(1), c = image.size(2);
  uint8_t* pixels = image.data_ptr<uint8_t>();
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph& g = glyph(text[i]);
    const int64_t left = x + static_cast<int64_t>(i) * (kGlyphW + kSpacing) * scale;
    for (int64_t gy = 0; gy < kGlyphH; ++gy) {
      for (int64_t gx = 0; gx < kGlyphW; ++gx) {
        if (!g[gy][gx]) continue;
        for (int64_t py = y + gy * scale; py < y + (gy + 1) * scale; ++py) {
          for (int64_t px = left + gx * scale; px < left + (gx + 1) * scale; ++px) {
            if (py < 0 || py >= h || px < 0 || px >= w) continue;
            for (int64_t ch = 0; ch < c; ++ch) pixels[(py * w + px) * c + ch] = value;
          }
        }
      }
    }
  }
}

std::vector<std::string> wrap_text(const std::string& text, int64_t max_width, int64_t scale) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    const std::string longer = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_width(longer, scale) > max_width) {
      lines.push_back(line);
      line = word;
    } else {
      line = longer;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace mae::eval
