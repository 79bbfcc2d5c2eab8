// Drawing on pictures [H, W, C] uint8 (C = 1 or 3): nearest-neighbour enlargement, so that small
// images stay readable, and text in a built-in 5 x 7 pixel font, so that captions live in the
// pixels that every viewer shows (not only in PNG text chunks). The font has upper-case letters
// (lower case is drawn as upper case), digits and common punctuation; other characters become '?'.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace mae::eval {

// Each pixel repeated factor x factor times: [H, W, C] -> [H*factor, W*factor, C].
torch::Tensor upscale_nearest(const torch::Tensor& image, int64_t factor);

// The smallest whole factor that makes `side` pixels at least `min_side` (1 when already so).
int64_t upscale_factor(int64_t side, int64_t min_side);

// Size in pixels of a line of text at `scale` (each font pixel a scale x scale square): glyphs are
// 5 x 7 with one pixel between characters.
int64_t text_width(const std::string& text, int64_t scale = 1);
int64_t text_height(int64_t scale = 1);

// Draws one line with its top-left corner at (x, y) in grey `value` on every channel; what falls
// outside the picture is clipped. image: [H, W, C] uint8, changed in place.
void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, int64_t scale = 1, uint8_t value = 0);

// Words of `text` regrouped into lines of at most `max_width` pixels at `scale` (a word longer than
// a line gets a line of its own).
std::vector<std::string> wrap_text(const std::string& text, int64_t max_width, int64_t scale = 1);

}  // namespace mae::eval
