// The settings edge: precedence, validation before anything is written, names that follow the
// model, and the resolved YAML that describes exactly what runs.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/config/settings.h"
#include "mae/core/error.h"
#include "mae/models/presets.h"
#include "mae/tasks/training_loader.h"
#include "test_data_files.h"

using mae::config::UserSettings;
using mae::config::resolve_classify;
using mae::config::resolve_pretrain;

namespace {

UserSettings sets(std::vector<std::string> s, std::string file = "") { return {std::move(file), std::move(s)}; }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const mae::UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

}  // namespace

TEST(Settings, DefaultsFileThenSetsInOrder) {
  mae::testing::TempDir dir;
  std::ofstream(dir.file("c.yaml")) << "train:\n  epochs: 9\n  batch_size: 64\noptim:\n  blr: 2.0e-4\n";
  const auto o = resolve_pretrain(sets({"train.epochs=3", "train.epochs=4"}, dir.file("c.yaml")));
  EXPECT_EQ(o.trainer.epochs, 4) << "the last --set wins over the file";
  EXPECT_EQ(o.trainer.batch_size, 64) << "the file wins over the default";
  EXPECT_DOUBLE_EQ(o.trainer.blr, 2e-4);
  EXPECT_EQ(o.trainer.keep_last, 3) << "untouched keys keep the default";
  const auto defaults = resolve_pretrain({});
  EXPECT_EQ(defaults.trainer.epochs, 2);
  EXPECT_EQ(defaults.model.embed_dim, 128);
}

TEST(Settings, ResolvedYamlResolvesToItself) {
  mae::testing::TempDir dir;
  const auto first = resolve_pretrain(sets({"model.patch_size=7", "data.mean=0.5", "data.std=0.25", "optim.betas=[0.8, 0.9]",
                                            "optim.no_weight_decay=pos_embed,cls_token", "train.seed=11"}));
  std::ofstream(dir.file("run.yaml")) << first.config_yaml;
  const auto again = resolve_pretrain(sets({}, dir.file("run.yaml")));
  EXPECT_EQ(again.config_yaml, first.config_yaml);
  EXPECT_EQ(again.model.patch_size, 7);
  EXPECT_EQ(again.trainer.beta1, 0.8);
  EXPECT_EQ(again.trainer.no_weight_decay, (std::vector<std::string>{"pos_embed", "cls_token"}));
  EXPECT_EQ(again.trainer.seed, 11u);
}

// train.precision=auto is settled when the run starts: config.yaml is then written again from the
// settled options (tasks::start_training_run), saying what ran and why.
TEST(Settings, TheSavedConfigSaysWhatRan) {
  const auto o = resolve_pretrain(sets({"train.seed=5"}));
  EXPECT_EQ(o.trainer.precision, mae::train::Precision::kAuto);
  EXPECT_NE(o.config_yaml.find("  precision: \"auto\"\n"), std::string::npos) << o.config_yaml;
  ASSERT_TRUE(o.render_config);
  mae::train::TrainerOptions settled = o.trainer;
  settled.precision = mae::train::Precision::kBf16;
  const std::string yaml = o.render_config(settled, {{"train.precision", "auto: measured\nfaster"}});
  EXPECT_NE(yaml.find("  precision: \"bf16\"  # auto: measured faster\n"), std::string::npos) << yaml;
  std::string expected = o.config_yaml;
  expected.replace(expected.find("precision: \"auto\""), 17, "precision: \"bf16\"  # auto: measured faster");
  EXPECT_EQ(yaml, expected) << "nothing else changes";
  EXPECT_EQ(o.render_config(o.trainer, {}), o.config_yaml);
  const auto probe = resolve_classify(true, {});
  ASSERT_TRUE(probe.render_config);
  EXPECT_EQ(probe.render_config(probe.trainer, {}), probe.config_yaml);
}

TEST(Settings, NamesFollowTheModelThatRuns) {
  const auto mini = resolve_pretrain({});
  EXPECT_NE(mini.config_yaml.find("name: \"mae_vit_mini_patch4_dec64d2b4h\""), std::string::npos) << mini.config_yaml;
  const auto patch7 = resolve_pretrain(sets({"model.patch_size=7"}));
  EXPECT_EQ(patch7.model.patch_size, 7);
  EXPECT_EQ(mae::models::mae_name(patch7.model), "mae_vit_mini_patch7_dec64d2b4h");
  EXPECT_NE(patch7.config_yaml.find("mae_vit_mini_patch7_dec64d2b4h"), std::string::npos);
  // A named preset means its sizes, whatever the built-in default's model is.
  const auto base = resolve_pretrain(sets({"model.name=mae_vit_base_patch16", "model.img_size=224", "model.in_chans=3",
                                           "data.mean=0.5,0.5,0.5", "data.std=0.2,0.2,0.2"}));
  EXPECT_EQ(base.model.embed_dim, 768);
  EXPECT_EQ(base.model.depth, 12);
  EXPECT_EQ(base.model.decoder_embed_dim, 512);
  EXPECT_EQ(base.model.decoder_num_heads, 16);
  EXPECT_NE(base.config_yaml.find("name: \"mae_vit_base_patch16\""), std::string::npos) << base.config_yaml;
  // Explicit sizes win over the preset and the name says so.
  const auto wide = resolve_pretrain(sets({"model.embed_dim=96", "model.num_heads=3"}));
  EXPECT_EQ(mae::models::mae_name(wide.model), "mae_vit_96d6b3h_patch4_dec64d2b4h");
  EXPECT_EQ(mae::models::mae_preset(mae::models::mae_name(wide.model)).embed_dim, 96);
}

TEST(Settings, InvalidValuesAreRefusedBeforeAnythingIsWritten) {
  mae::testing::TempDir dir;
  const std::string run = dir.file("run");
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"model.mask_ratio=1.5", "train.output_dir=" + run})); })
                .find("model.mask_ratio must lie in [0, 1)"),
            std::string::npos);
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"data.num_workers=-1"})); }).find("data.num_workers -1 must be >= 0"),
            std::string::npos);
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"model.name=mae_vit_bsae_patch16"})); }).find("unknown MAE model 'mae_vit_bsae_patch16'"),
            std::string::npos);
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"model.in_chans=3"})); }).find("data.mean has 1 value(s) but the model has 3"),
            std::string::npos);
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"optim.betas=0.9"})); }).find("optim.betas needs two values"),
            std::string::npos);
  EXPECT_NE(message_of([&] { resolve_pretrain(sets({"train.precision=fp8"})); }).find("train.precision"), std::string::npos);
  // Fixed choices list their names, from the table the binding holds.
  EXPECT_NE(message_of([] { resolve_pretrain(sets({"data.source=tfrecord"})); })
                .find("data.source must be idx, cifar10, cifar100, list, folder, class_folder, npy, npy_files or wds, got 'tfrecord'"),
            std::string::npos);
  EXPECT_NE(message_of([] { resolve_pretrain(sets({"data.array_layout=sideways"})); }).find("channels_first"), std::string::npos);
  EXPECT_NE(message_of([] { resolve_classify(false, sets({"aug.mixup_mode=half"})); }).find("batch, pair or elem"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(run));
}

TEST(Settings, TheTrainingLoaderUsesTheDataSettings) {
  // mae pretrain used to build its loader by hand: data.prefetch_batches was ignored.
  mae::testing::TempDir dir;
  mae::testing::write_idx(dir.file("images.idx"), {8, 8, 8}, std::vector<uint8_t>(512, 7), false);
  const auto o = resolve_pretrain(sets({"data.root=" + dir.path(), "data.train_files=images.idx", "data.num_workers=3",
                                        "data.prefetch_batches=7", "train.batch_size=4", "model.img_size=8"}));
  const auto batches = mae::tasks::training_loader(o.data, nullptr, o.trainer, 1, 8, 8, torch::kCPU);
  const auto* loader = dynamic_cast<const mae::data::Loader*>(batches.get());
  ASSERT_NE(loader, nullptr);
  EXPECT_EQ(loader->options().prefetch_batches, 7);
  EXPECT_EQ(loader->num_workers(), 3);
  EXPECT_EQ(loader->options().batch_size, 4);
  EXPECT_TRUE(loader->options().shuffle && loader->options().drop_last);
}

TEST(Settings, ClassifyKeysAndItsOwnDefaults) {
  const auto ft = resolve_classify(false, sets({"aug.mixup=0.8", "aug.cutmix=1.0", "aug.cutmix_minmax=[0.2, 0.8]",
                                                "aug.mixup_mode=pair", "finetune.trainable_blocks=2"}));
  EXPECT_TRUE(ft.mixup.enabled());
  EXPECT_EQ(ft.mixup.cutmix_minmax, (std::vector<double>{0.2, 0.8}));
  EXPECT_EQ(ft.mixup.mode, mae::data::MixupMode::kPair);
  EXPECT_EQ(ft.mixup.label_smoothing, 0.1);
  EXPECT_EQ(ft.trainable_blocks, 2);
  EXPECT_FALSE(ft.linprobe);
  EXPECT_EQ(ft.model.embed_dim, 128);
  const auto probe = resolve_classify(true, {});
  EXPECT_TRUE(probe.linprobe);
  EXPECT_EQ(probe.trainer.optimizer, mae::train::OptimizerKind::kLars);
  EXPECT_TRUE(probe.model.probe_head);
  EXPECT_FALSE(probe.model.global_pool);
  EXPECT_EQ(probe.trainer.lr, 2);
  EXPECT_NE(mae::train::describe_lr(probe.trainer).find("optim.blr 0.1 is not used"), std::string::npos)
      << mae::train::describe_lr(probe.trainer);
  EXPECT_NE(message_of([] { resolve_classify(false, sets({"finetune.trainable_blocks=9"})); }).find("trainable_blocks"),
            std::string::npos);
  EXPECT_NE(message_of([] { resolve_classify(false, sets({"finetune.mode=probe"})); }).find("finetune.mode"), std::string::npos);
}

TEST(Settings, ALaterImageSizeMeansASquareInput) {
  mae::testing::TempDir dir;
  std::ofstream(dir.file("wide.yaml")) << "model:\n  img_h: 16\n  img_w: 32\n";
  const auto wide = resolve_pretrain(sets({}, dir.file("wide.yaml")));
  EXPECT_EQ(wide.model.img_h, 16);
  EXPECT_EQ(wide.model.img_w, 32);
  const auto square = resolve_pretrain(sets({"model.img_size=24"}, dir.file("wide.yaml")));
  EXPECT_EQ(square.model.img_h, 24);
  EXPECT_EQ(square.model.img_w, 24);
}

TEST(Settings, AnotherSourceDropsTheBuiltInFileLists) {
  mae::testing::TempDir dir;
  // The defaults list Fashion-MNIST's IDX files: a folder source takes none of them.
  const auto folder = resolve_pretrain(sets({"data.source=folder", "data.root=" + dir.path()}));
  EXPECT_TRUE(folder.data.source.train_files.empty());
  EXPECT_TRUE(folder.data.source.val_files.empty());
  // Lists that a layer set stay, in whichever order the keys come.
  const auto listed = resolve_pretrain(sets({"data.train_files=a", "data.source=class_folder", "data.val_files=b"}));
  EXPECT_EQ(listed.data.source.train_files, std::vector<std::string>{"a"});
  EXPECT_EQ(listed.data.source.val_files, std::vector<std::string>{"b"});
  // Naming the source that is already set changes nothing.
  EXPECT_EQ(resolve_pretrain(sets({"data.source=idx"})).data.source.train_files.size(), 2u);
}

TEST(Presets, NamesRoundTripAndDecoderHeads) {
  auto o = mae::models::mae_preset("mae_vit_base_patch16_dec256d4b8h");
  EXPECT_EQ(o.decoder_embed_dim, 256);
  EXPECT_EQ(o.decoder_depth, 4);
  EXPECT_EQ(o.decoder_num_heads, 8);
  EXPECT_EQ(mae::models::mae_name(o), "mae_vit_base_patch16_dec256d4b8h");
  EXPECT_EQ(mae::models::mae_preset("mae_vit_large_patch16_dec512d8b").decoder_num_heads, 16);
  EXPECT_EQ(mae::models::mae_name(mae::models::mae_preset("mae_vit_huge_patch14")), "mae_vit_huge_patch14");
  auto vit = mae::models::vit_preset("vit_mini_patch4");
  EXPECT_EQ(vit.embed_dim, 128);
  EXPECT_EQ(vit.depth, 6);
  vit.embed_dim = 100;
  EXPECT_EQ(mae::models::vit_name(vit), "vit_100d6b4h_patch4");
  EXPECT_THROW(mae::models::mae_preset("mae_vit_base"), mae::UsageError);
}
