// libFuzzer target: the pickle interpreter on arbitrary bytes, then a walk over every value it
// built (as the .pth reader walks them). Only mae::Error may leave the parser.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mae/core/error.h"
#include "mae/io/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mae::io::Pickle p = mae::io::parse_pickle(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    size_t references = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const auto& v = p.at(i);
      for (size_t item : v.items) references += p.at(item).items.size();  // every index must be valid
      if (v.kind == mae::io::PickleValue::Kind::kTensor) references += p.at(v.storage).text.size();
    }
    (void)p.at(p.root());
    (void)references;
  } catch (const mae::Error&) {
  }
  return 0;
}
