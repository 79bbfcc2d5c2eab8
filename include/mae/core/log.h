// Rank-aware logging: in a distributed run only rank 0 prints info lines; warnings and errors
// print on every rank, prefixed with the rank.
#pragma once

#include <string>

namespace mae::core {

void set_log_rank(int rank, int world_size);
bool is_main_process();
void log_info(const std::string& message);     // stdout, rank 0 only
void log_warning(const std::string& message);  // stderr, every rank

}  // namespace mae::core
