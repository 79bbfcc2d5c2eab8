#include "mae/core/log.h"

#include <iostream>
#include <mutex>

namespace mae::core {
namespace {
int g_rank = 0;
int g_world_size = 1;
std::mutex g_mutex;
}  // namespace

void set_log_rank(int rank, int world_size) {
  g_rank = rank;
  g_world_size = world_size;
}

bool is_main_process() { return g_rank == 0; }

void log_info(const std::string& message) {
  if (g_rank != 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cout << message << std::endl;
}

void log_warning(const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << "warning: " << (g_world_size > 1 ? "[rank " + std::to_string(g_rank) + "] " : "") << message
            << std::endl;
}

}  // namespace mae::core
