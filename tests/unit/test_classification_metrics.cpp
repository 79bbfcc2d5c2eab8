// Classification metrics, k-NN on features with a known answer, and the .npy writer.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/core/error.h"
#include "mae/eval/classification.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/eval/knn.h"
#include "mae/eval/picture.h"
#include "mae/io/npy.h"

using namespace mae::eval;

TEST(ClassificationMeter, TopKUsesAtMostTheClassCount) {
  ClassificationMeter meter(3);  // fewer classes than 5: top-3
  const auto scores = torch::tensor({{3.0, 2.0, 1.0}, {1.0, 3.0, 2.0}, {1.0, 2.0, 3.0}, {3.0, 1.0, 2.0}});
  meter.add(scores, torch::tensor({0, 2, 2, 1}));
  const auto m = meter.result();
  EXPECT_EQ(m.top_k, 3);
  EXPECT_EQ(m.count, 4);
  EXPECT_DOUBLE_EQ(m.top1, 50.0);
  EXPECT_DOUBLE_EQ(m.topk, 100.0);
  // Rows true class, columns predicted.
  EXPECT_EQ(m.confusion[2][1].item<int64_t>(), 1);
  EXPECT_EQ(m.confusion[1][0].item<int64_t>(), 1);
  const auto per_class = m.per_class_accuracy();
  EXPECT_DOUBLE_EQ(per_class[0], 100.0);
  EXPECT_DOUBLE_EQ(per_class[1], 0.0);
  EXPECT_DOUBLE_EQ(per_class[2], 50.0);
  const double expected_loss = torch::nn::functional::cross_entropy(scores, torch::tensor({0, 2, 2, 1})).item<double>();
  EXPECT_NEAR(m.loss, expected_loss, 1e-6);
}

TEST(ClassificationMeter, LabelsOutsideTheHeadAreErrors) {
  ClassificationMeter meter(2);
  EXPECT_THROW(meter.add(torch::zeros({1, 2}), torch::tensor({2})), mae::UsageError);
  EXPECT_THROW(meter.add(torch::zeros({1, 2}), torch::tensor({-1})), mae::UsageError);
}

TEST(Knn, WeightedVotesOfTheNearestNeighbours) {
  // Two clusters on the unit circle; a query near each, and one in between nearer to class 1.
  Features bank{torch::tensor({{1.0f, 0.0f}, {0.9f, 0.1f}, {0.0f, 1.0f}, {0.1f, 0.9f}}), torch::tensor({0, 0, 1, 1}), torch::arange(4)};
  Features queries{torch::tensor({{1.0f, 0.05f}, {0.05f, 1.0f}, {0.6f, 0.8f}}), torch::tensor({0, 1, 1}), torch::arange(3)};
  KnnOptions o;
  o.k = 3;
  const auto scores = knn_scores(bank, queries.features, 2, o);
  EXPECT_GT(scores[0][0].item<float>(), scores[0][1].item<float>());
  EXPECT_GT(scores[1][1].item<float>(), scores[1][0].item<float>());
  EXPECT_GT(scores[2][1].item<float>(), scores[2][0].item<float>());
  // The score is the sum of exp(cos / T) over the voters of a class.
  const auto q = torch::nn::functional::normalize(queries.features, torch::nn::functional::NormalizeFuncOptions().dim(1))[0];
  const auto b = torch::nn::functional::normalize(bank.features, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto sims = b.mv(q);
  const double class0 = std::exp(sims[0].item<double>() / 0.07) + std::exp(sims[1].item<double>() / 0.07);
  EXPECT_NEAR(scores[0][0].item<double>() / class0, 1.0, 1e-5);
  EXPECT_DOUBLE_EQ(knn_classify(bank, queries, 2, o).top1, 100.0);
  // k larger than the bank uses the whole bank.
  o.k = 50;
  EXPECT_EQ(knn_scores(bank, queries.features, 2, o).size(0), 3);
}

TEST(Npy, HeaderAndDataAsNumpyWritesThem) {
  const std::string path = ::testing::TempDir() + "mae_npy_" + std::to_string(::getpid()) + ".npy";
  mae::io::write_npy(path, torch::arange(6, torch::kFloat32).reshape({2, 3}));
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  ASSERT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes.substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (2,3)"), std::string::npos) << header;
  ASSERT_EQ(bytes.size(), 10 + header_len + 6 * 4);
  float last;
  std::memcpy(&last, bytes.data() + bytes.size() - 4, 4);
  EXPECT_EQ(last, 5.0f);
}

TEST(ConfusionPng, LabelledCellsWithPercentages) {
  const std::string path = ::testing::TempDir() + "confusion_" + std::to_string(::getpid()) + ".png";
  const auto confusion = torch::tensor({{8, 2, 0}, {0, 10, 0}, {5, 0, 5}}, torch::kInt64);
  write_confusion_png(path, confusion, {"cat", "dog", "bird"});
  const auto image = mae::data::decode_full(mae::data::read_image_file(path, path), 3).to(torch::kInt32);  // [H, W, 3]
  std::filesystem::remove(path);
  const int64_t h = image.size(0), w = image.size(1);
  // Three 32-pixel cells per side plus room for the title, the column numbers and "2 bird" on the left.
  EXPECT_GE(w, 3 * 32 + mae::eval::text_width("0 bird"));
  EXPECT_GE(h, 3 * 32 + 2 * mae::eval::text_height());
  // The cell of (dog, dog) is dark blue with its "100" written in white; (dog, cat) is white with a black "0".
  // The cells start after the longest row label ("2 bird") and two 4-pixel gaps; the title may be wider.
  const int64_t left = mae::eval::text_width("2 bird") + 8, top = h - 4 - 3 * 32;
  auto red = [&](int64_t r, int64_t c) { return image.narrow(0, top + r * 32, 32).narrow(1, left + c * 32, 32).select(2, 0); };
  EXPECT_LT(red(1, 1).min().item<int>(), 20);   // blue: red channel 8
  EXPECT_GT(red(1, 1).max().item<int>(), 250);  // white digits
  EXPECT_LT(red(1, 0).min().item<int>(), 5);    // a black digit on white
  // The row labels are inked left of the cells.
  EXPECT_LT(image.narrow(1, 0, left).narrow(0, top, 3 * 32).min().item<int>(), 5);
}
