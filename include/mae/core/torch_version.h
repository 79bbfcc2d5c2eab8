// Compile-time checks of the LibTorch version, for APIs newer than Debian's libtorch-dev 1.13.
#pragma once

#include <torch/version.h>

#define MAE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
