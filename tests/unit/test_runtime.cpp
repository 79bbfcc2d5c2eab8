// configure_host_allocator tunes glibc malloc unless the user already did.
#include <cstdlib>

#include <gtest/gtest.h>

#include "mae/core/runtime.h"

TEST(HostAllocator, LeavesMallocAloneWhenTheUserTunedIt) {
#if defined(__GLIBC__)
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000", 1);
  EXPECT_FALSE(mae::core::configure_host_allocator());
  ::unsetenv("GLIBC_TUNABLES");
  ::setenv("MALLOC_TRIM_THRESHOLD_", "1000", 1);
  EXPECT_FALSE(mae::core::configure_host_allocator());
  ::unsetenv("MALLOC_TRIM_THRESHOLD_");
  const char* outer = std::getenv("GLIBC_TUNABLES");
  if (outer == nullptr && std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    EXPECT_TRUE(mae::core::configure_host_allocator()) << "glibc without tuning: the thresholds are set";
  }
#else
  GTEST_SKIP() << "not glibc: configure_host_allocator does nothing";
#endif
}
