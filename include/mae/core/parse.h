// Whole-string number parsing for configs, environment variables and augmentation specs: true
// only when the entire text (leading blanks allowed) is one number in range.
#pragma once

#include <cstdint>
#include <string>

namespace mae::core {

bool parse_int(const std::string& text, int64_t* out);
bool parse_double(const std::string& text, double* out);

}  // namespace mae::core
