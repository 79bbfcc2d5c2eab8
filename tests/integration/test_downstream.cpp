// Downstream end to end through the library: fine-tuning straight from a pretraining checkpoint
// beats chance, partial fine-tuning and the linear probe train only what they should, and eval,
// predict, k-NN, embed and export work on the checkpoints they produce.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mae/core/error.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/safetensors.h"
#include "mae/models/mae_vit.h"
#include "mae/tasks/classify.h"
#include "mae/tasks/export.h"
#include "mae/tasks/inference.h"
#include "mae/tasks/model_facts.h"
#include "pretrain_fixture.h"

using namespace mae;

namespace {

class DownstreamFixture : public mae::testing::PretrainFixture {
 protected:
  // A pretraining checkpoint of the fixture's tiny MAE (once per test).
  std::string pretrained() {
    const std::string ckpt = dir_ + "/pre/checkpoint-last.safetensors";
    if (!std::filesystem::exists(ckpt)) {
      tasks::run_pretrain(config("pre", {"train.epochs=2", "visualize.num_images=0"}), torch::kCPU, {});
    }
    return ckpt;
  }

  // The fine-tuning / linear-probe config of a run in <dir>/<name>, on the fixture's data. The
  // model's shape is left to the checkpoint (only what differs from the Fashion-MNIST default).
  tasks::ClassifyOptions classify_config(const std::string& name, bool linprobe, const std::vector<std::string>& sets = {},
                                         const std::string& init = "") {
    config::UserSettings user;
    user.sets = {"data.source=idx", "data.root=" + dir_ + "/data", "data.train_files=images.idx,labels.idx",
                                 "data.val_files=images.idx,labels.idx", "data.num_workers=2", "data.crop_scale=0.6,1.0",
                                 "data.mean=0.2", "data.std=0.3", "data.eval_resize_ratio=1", "train.batch_size=16",
                                 "train.epochs=4", "train.warmup_epochs=0", "log.progress=none", "log.every=2",
                                 "train.output_dir=" + dir_ + "/" + name};
    // LARS scales each weight's step to lr * 1e-3 * |w|: a short probe needs a large lr.
    user.sets.push_back(linprobe ? "optim.lr=5" : "optim.lr=2e-3");
    user.sets.insert(user.sets.end(), sets.begin(), sets.end());
    return config::resolve_classify(linprobe, user, init);
  }

  static io::SafetensorsFile weights(const std::string& path) { return io::read_safetensors(path); }
};

bool same(const io::SafetensorsFile& a, const io::SafetensorsFile& b, const std::string& key) {
  return torch::equal(a.tensors.at(key), b.tensors.at(key));
}

}  // namespace

TEST_F(DownstreamFixture, FinetuneFromPretrainCheckpointBeatsChance) {
  const std::string pre = pretrained();
  const auto r = tasks::run_classify(classify_config("ft", false, {}, pre), torch::kCPU, {});
  EXPECT_EQ(r.train.epochs_completed, 4);
  EXPECT_EQ(r.last.count, 128);
  EXPECT_EQ(r.last.top_k, 4);  // min(5, 4 classes)
  EXPECT_GT(r.last.top1, 50.0) << "4 classes: chance is 25 %";
  EXPECT_DOUBLE_EQ(r.last.topk, 100.0);
  const std::string best = dir_ + "/ft/checkpoint-best.safetensors";
  ASSERT_TRUE(std::filesystem::exists(best));
  const auto meta = tasks::read_facts(best).facts;
  ASSERT_TRUE(meta && meta->val_top1);
  EXPECT_EQ(meta->kind, tasks::ModelKind::kVit);
  EXPECT_EQ(meta->num_classes, 4);
  EXPECT_EQ(meta->img_h, 16);  // adopted from the pretraining checkpoint
  EXPECT_GE(*meta->val_top1, r.last.top1);

  // The report of taking over the encoder: decoder unused, head and fc_norm new, by design.
  auto report_options = classify_config("report", false, {}, pre);
  mae::data::Splits splits(report_options.data.source);
  report_options.settle_num_classes(splits);
  tasks::ClassifyTask task(report_options, torch::kCPU, splits, {});
  const auto report = task.init_from(pre, false);
  ASSERT_NE(report.expected_unused_group("decoder"), nullptr);
  ASSERT_NE(report.expected_missing_group("head"), nullptr);
  ASSERT_NE(report.expected_missing_group("fc_norm"), nullptr);
  EXPECT_TRUE(report.missing.empty() && report.unexpected.empty());
  EXPECT_LT(task.vit()->head->weight.abs().max().item<double>(), 2e-5 * 6) << "new head: N(0, 2e-5)";

  // eval and predict on the fine-tuned checkpoint, with its stored data and shape.
  const std::string last = dir_ + "/ft/checkpoint-last.safetensors";
  auto config = config::resolve_inference(last, true, {});
  tasks::EvalRequest eval_request;
  eval_request.checkpoint = last;
  eval_request.output_dir = dir_ + "/eval";
  const auto m = tasks::run_eval(config, eval_request, torch::kCPU).metrics;
  EXPECT_DOUBLE_EQ(m.top1, r.last.top1);
  EXPECT_EQ(m.confusion.sum().item<int64_t>(), 128);
  for (const char* f : {"metrics.json", "confusion.csv", "confusion.png"}) EXPECT_TRUE(std::filesystem::exists(dir_ + "/eval/" + f)) << f;
  tasks::PredictRequest predict;
  predict.checkpoint = last;
  predict.output = dir_ + "/preds/pred.jsonl";  // a folder that does not exist yet
  EXPECT_EQ(tasks::run_predict(config, predict, torch::kCPU).done, 128);
  std::ifstream lines(predict.output);
  std::string line;
  int n = 0, correct = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j["top"].size(), 4u);  // top-5 of 4 classes
    double sum = 0;
    for (const auto& t : j["top"]) sum += t["prob"].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-4);
    correct += j["top"][0]["index"].get<int>() == n % 4;  // the fixture's label of image n
    ++n;
  }
  EXPECT_EQ(n, 128);
  EXPECT_NEAR(100.0 * correct / n, m.top1, 1e-9);
  // k-NN of a fine-tuned global-pool checkpoint pools as it was trained (fc_norm, no norm).
  auto knn_config = config::resolve_inference(last, false, {});
  EXPECT_EQ(knn_config.knn.pool, tasks::Pool::kMean);
  EXPECT_EQ(tasks::run_knn(knn_config, last, torch::kCPU).metrics.count, 128);
}

TEST_F(DownstreamFixture, PartialFinetuneTrainsOnlyTheLastBlocks) {
  const std::string pre = pretrained();
  const auto before = weights(pre);
  for (int k : {0, 1}) {
    const std::string name = "partial" + std::to_string(k);
    tasks::run_classify(classify_config(name, false, {"train.epochs=1", "finetune.trainable_blocks=" + std::to_string(k)}, pre),
                        torch::kCPU, {});
    const auto after = weights(dir_ + "/" + name + "/checkpoint-last.safetensors");
    EXPECT_TRUE(same(before, after, "blocks.0.attn.qkv.weight")) << k;
    EXPECT_TRUE(same(before, after, "patch_embed.proj.weight")) << k;
    EXPECT_TRUE(same(before, after, "pos_embed")) << k;
    EXPECT_EQ(same(before, after, "blocks.1.mlp.fc1.weight"), k == 0) << k;
  }
}

TEST_F(DownstreamFixture, LinearProbeKeepsTheEncoderFrozen) {
  const std::string pre = pretrained();
  const auto r = tasks::run_classify(classify_config("probe", true, {"train.epochs=8"}, pre), torch::kCPU, {});
  EXPECT_GT(r.last.top1, 40.0) << "4 classes: chance is 25 %";
  const auto before = weights(pre), after = weights(dir_ + "/probe/checkpoint-last.safetensors");
  for (const char* key : {"blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.bias", "norm.weight", "cls_token"}) {
    EXPECT_TRUE(same(before, after, key)) << key;
  }
  EXPECT_TRUE(after.tensors.count("head.0.running_mean") && after.tensors.count("head.1.weight"));
  EXPECT_FALSE(after.tensors.count("fc_norm.weight")) << "the probe reads the cls token after norm";
  EXPECT_GT(after.tensors.at("head.0.running_var").sub(1).abs().max().item<double>(), 0) << "BatchNorm statistics updated";
  // A file that lacks encoder weights is refused, although the encoder is frozen.
  io::NamedTensors partial;
  for (const auto& [name, t] : before.tensors) {
    if (name.rfind("blocks.1.", 0) != 0) partial.emplace_back(name, t);
  }
  io::write_safetensors(dir_ + "/partial.safetensors", partial, {});
  EXPECT_THROW(tasks::run_classify(classify_config("probe2", true, {"model.img_size=16", "model.embed_dim=32", "model.depth=2",
                                                                    "model.num_heads=2", "train.epochs=1"},
                                                   dir_ + "/partial.safetensors"),
                                   torch::kCPU, {}),
               Error);
  // LARS momentum is in the state file.
  auto state = io::read_safetensors(dir_ + "/probe/checkpoint-last.state.safetensors");
  EXPECT_TRUE(state.tensors.count("optim.head.1.weight.momentum_buffer"));
  // eval on the probe checkpoint builds the probe head.
  auto config = config::resolve_inference(dir_ + "/probe/checkpoint-last.safetensors", true, {});
  tasks::EvalRequest eval_request;
  eval_request.checkpoint = dir_ + "/probe/checkpoint-last.safetensors";
  EXPECT_DOUBLE_EQ(tasks::run_eval(config, eval_request, torch::kCPU).metrics.top1, r.last.top1);
}

TEST_F(DownstreamFixture, FullRecipeAugmentationsTrain) {
  const auto r = tasks::run_classify(
      classify_config("recipe", false, {"train.epochs=1", "aug.mixup=0.8", "aug.cutmix=1.0", "data.auto_augment=rand-m9-mstd0.5-inc1",
                                        "data.reprob=0.25", "model.drop_path=0.1"}, pretrained()),
      torch::kCPU, {});
  EXPECT_EQ(r.train.skipped_steps, 0);
  EXPECT_TRUE(std::isfinite(r.train.last_epoch_loss));
}

TEST_F(DownstreamFixture, KnnEmbedAndExportOfAPretrainCheckpoint) {
  const std::string pre = pretrained();
  auto config = config::resolve_inference(pre, false, {});
  const auto knn = tasks::run_knn(config, pre, torch::kCPU).metrics;
  EXPECT_EQ(knn.count, 128);
  EXPECT_GT(knn.top1, 40.0) << "4 classes: chance is 25 %";

  tasks::EmbedRequest embed;
  embed.checkpoint = pre;
  embed.output = dir_ + "/features.npy";
  EXPECT_EQ(tasks::run_embed(config, embed, torch::kCPU).done, 128);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/features.npy.paths.txt"));
  embed.output = dir_ + "/features.safetensors";
  embed.pool = tasks::Pool::kMean;
  tasks::run_embed(config, embed, torch::kCPU);
  EXPECT_EQ(io::read_safetensors(embed.output).tensors.at("features").sizes(), (std::vector<int64_t>{128, 32}));

  // Export: official and HuggingFace names round-trip into the model; the sidecar has the facts.
  const auto original = weights(pre);
  for (const char* scheme : {"official", "huggingface", "easycv"}) {
    tasks::ExportRequest request{pre, dir_ + "/exports/" + std::string(scheme) + ".safetensors", tasks::ExportPart::kFull, scheme};
    const auto result = tasks::run_export(request);
    models::MaeViTOptions o;
    o.img_h = o.img_w = 16, o.patch_size = 4, o.in_chans = 1, o.embed_dim = 32, o.depth = 2, o.num_heads = 2;
    o.decoder_embed_dim = 16, o.decoder_depth = 1, o.decoder_num_heads = 2;
    models::MaskedAutoencoderViT model(o);
    weights::load_weights(*model, result.weights);
    for (const auto& kv : model->named_parameters()) {
      EXPECT_TRUE(torch::equal(kv.value(), original.tensors.at(kv.key()))) << scheme << " " << kv.key();
    }
    std::ifstream sidecar(result.sidecar);
    const auto j = nlohmann::json::parse(sidecar);
    EXPECT_EQ(j["patch_size"], 4);
    EXPECT_EQ(j["in_chans"], 1);
    EXPECT_EQ(j["scheme"], weights::scheme_name(weights::parse_scheme(scheme)));
    EXPECT_EQ(j["decoder_depth"], 1);
  }
  tasks::ExportRequest encoder{pre, dir_ + "/encoder.safetensors", tasks::ExportPart::kEncoder, "official"};
  const auto exported = io::read_safetensors(tasks::run_export(encoder).weights);
  EXPECT_FALSE(exported.tensors.count("decoder_embed.weight") || exported.tensors.count("mask_token"));
  EXPECT_TRUE(exported.tensors.count("norm.weight"));
  EXPECT_THROW(core::parse_choice(tasks::kExportPartNames, "half", "--part"), UsageError);
}

TEST_F(DownstreamFixture, ClassCountProblemsAreClearErrors) {
  // The head's class count must match the data.
  EXPECT_THROW(tasks::run_classify(classify_config("bad", false, {"model.num_classes=7"}), torch::kCPU, {}), UsageError);
  // A single class cannot be classified.
  mae::testing::write_synthetic_idx(dir_ + "/data", 32, 16, 1);
  try {
    tasks::run_classify(classify_config("one", false), torch::kCPU, {});
    FAIL() << "a single class must be refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("single class"), std::string::npos) << e.what();
  }
  // A pretraining checkpoint has no head to evaluate: said first, before any class count is asked for.
  mae::testing::write_synthetic_idx(dir_ + "/data", 128, 16, 4);
  const std::string pre = pretrained();
  try {
    config::resolve_inference(pre, true, {});
    FAIL() << "a pretraining checkpoint has no head";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no classification head"), std::string::npos) << e.what();
  }
}
