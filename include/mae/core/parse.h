// Whole-string number parsing for configs, environment variables and augmentation specs: true
// only when the entire text (leading blanks allowed) is one number in range.
#pragma once

#include <cstdint>
#include <string>

namespace mae::core {

bool parse_int(const std::string& text, int64_t* out);
bool parse_double(const std::string& text, double* out);
// A byte count: a whole number with an optional unit, decimal (kB, MB, GB, TB: powers of 1000) or
// binary (KiB, MiB, GiB, TiB: powers of 1024), any case, e.g. "4MB", "512MiB", "1GiB", "1.5GB".
bool parse_byte_size(const std::string& text, uint64_t* out);

}  // namespace mae::core
