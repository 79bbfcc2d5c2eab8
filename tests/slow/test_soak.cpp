// The kill-and-resume soak (scripts/soak.sh), short: a small pretraining killed with SIGKILL and
// stopped with SIGTERM at random moments, resumed each time, must end bitwise equal to an
// uninterrupted run.
#include <gtest/gtest.h>

#include "common/run_command.h"

TEST(Soak, KilledAndResumedRunEqualsUninterrupted) {
  const std::string work = ::testing::TempDir() + "mae_soak";
  const auto r = mae::testing::run_command("rm -rf " + work + " && " + std::string(MAE_SOURCE_DIR) +
                                           "/scripts/soak.sh --kills 6 --terms 2 --epochs 8 --seed 7 --mae " +
                                           std::string(MAE_BINARY) + " --work " + work);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("bitwise equal to the uninterrupted run: yes"), std::string::npos) << r.output;
}
