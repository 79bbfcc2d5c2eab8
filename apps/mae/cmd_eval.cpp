// mae eval / mae predict / mae knn / mae embed: a trained model on images, without training.
#include <iostream>

#include "command.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/tasks/inference.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/segment.h"

namespace mae::app {
namespace {

// The checkpoint argument, and the config that follows it (its data and shape, then the user's).
struct InferenceState {
  CommonOptions common;
  std::string checkpoint;
  config::ImageInput images;  // --input / --root of the commands that read new images
};

void add_checkpoint(CLI::App* cmd, InferenceState* s) {
  cmd->add_option("checkpoint", s->checkpoint, "weights: our checkpoint, or official / timm / HuggingFace files")
      ->required()
      ->check(CLI::ExistingFile);
  add_common_options(cmd, &s->common, config::inference_schema());
}

// The user's choices first (--input, --config, --set), then the checkpoint fills what they left.
void add_image_input(CLI::App* cmd, InferenceState* s) {
  cmd->add_option("--input", s->images.input, "a folder of images or a list file (default: the checkpoint's val split)");
  cmd->add_option("--root", s->images.root, "folder the list file's paths are relative to (default: the list's folder)");
}

// "; 2 unreadable image(s) (<where>): a.jpg, b.jpg" or "".
std::string unreadable_note(const tasks::InferenceCount& n, const std::string& where) {
  if (n.unreadable.empty()) return "";
  std::string names;
  for (size_t i = 0; i < std::min<size_t>(n.unreadable.size(), 5); ++i) names += (i ? ", " : "") + n.unreadable[i];
  if (n.unreadable.size() > 5) names += ", ...";
  return str("; ", n.unreadable.size(), " unreadable image(s) (", where, "): ", names);
}

// A `mae segment` checkpoint: eval and predict score and draw label maps instead of classes.
bool is_segmenter(const std::string& checkpoint) {
  const auto stored = tasks::read_facts(checkpoint);
  return stored.facts && stored.facts->kind == tasks::ModelKind::kSegmenter;
}

std::pair<tasks::InferenceOptions, torch::Device> resolve(const InferenceState& s, bool with_head) {
  const auto device = apply_common_options(s.common);
  return {config::resolve_inference(s.checkpoint, with_head, s.common.settings, s.images), device};
}

}  // namespace

Runner register_eval(CLI::App& app) {
  struct State : InferenceState {
    tasks::EvalRequest request;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("eval", "top-1/top-5, per-class accuracy and confusion matrix of a classifier; mIoU, "
                                             "mAcc, aAcc and per-class IoU of a `mae segment` checkpoint");
  add_checkpoint(cmd, s.get());
  cmd->add_option("--output", s->request.output_dir, "folder for metrics.json, confusion.csv, confusion.png");
  add_choice(cmd, "--split", s->request.split, data::kSplitNames, "the data split to evaluate");
  cmd->add_flag("--non-strict", s->request.non_strict, "accept missing or unexpected keys");
  return [s]() {
    if (is_segmenter(s->checkpoint)) {
      const auto device = apply_common_options(s->common);
      const auto options = config::resolve_segment_checkpoint(s->checkpoint, s->common.settings);
      const auto m = tasks::run_segment_eval(options, s->checkpoint, s->request.split, s->request.output_dir, device);
      std::cout << eval::segmentation_json(m, tasks::segmentation_class_names(options.data, options.model.num_classes)) << "\n";
      core::log_info(str("mIoU ", m.miou, " %, mAcc ", m.macc, " %, aAcc ", m.aacc, " % on ", m.pixels, " pixels",
                         s->request.output_dir.empty() ? "" : "; written to " + s->request.output_dir));
      return 0;
    }
    auto [config, device] = resolve(*s, true);
    s->request.checkpoint = s->checkpoint;
    const auto [m, names] = tasks::run_eval(config, s->request, device);
    std::cout << eval::metrics_json(m, names) << "\n";
    core::log_info(str("top-1 ", m.top1, " %, top-", m.top_k, " ", m.topk, " % on ", m.count, " images",
                       s->request.output_dir.empty() ? "" : "; written to " + s->request.output_dir));
    return 0;
  };
}

Runner register_predict(CLI::App& app) {
  struct State : InferenceState {
    tasks::PredictRequest request;
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("predict", "top-k class names and probabilities per image; for a `mae segment` "
                                                "checkpoint, label maps and colour overlays in the --output folder");
  add_checkpoint(cmd, s.get());
  add_image_input(cmd, s.get());
  cmd->add_option("--output", s->request.output, "file to write (default: standard output)");
  add_choice(cmd, "--format", s->request.format, tasks::kPredictFormatNames, "the file's format");
  cmd->add_option("--top-k", s->request.top_k, "classes per image")->capture_default_str();
  return [s]() {
    if (is_segmenter(s->checkpoint)) {
      const auto device = apply_common_options(s->common);
      const auto options = config::resolve_segment_checkpoint(s->checkpoint, s->common.settings);
      const int64_t n = tasks::run_segment_predict(options, s->checkpoint, s->images.input, s->request.output, device);
      core::log_info(str("predicted ", n, " label map(s) into ", s->request.output));
      return 0;
    }
    auto [config, device] = resolve(*s, true);
    s->request.checkpoint = s->checkpoint;
    const auto n = tasks::run_predict(config, s->request, device);
    core::log_info(str("predicted ", n.done, " image(s)", unreadable_note(n, "rows with an \"error\" field")));
    return 0;
  };
}

Runner register_knn(CLI::App& app) {
  auto s = std::make_shared<InferenceState>();
  CLI::App* cmd = app.add_subcommand("knn", "weighted k-NN accuracy of the encoder's features (k 20, temperature 0.07)");
  add_checkpoint(cmd, s.get());
  return [s]() {
    auto [config, device] = resolve(*s, false);
    const auto [m, names] = tasks::run_knn(config, s->checkpoint, device);
    std::cout << eval::metrics_json(m, names) << "\n";
    core::log_info(str("k-NN (k ", config.knn.k, ", T ", config.knn.temperature, ", ", core::choice_name(tasks::kPoolNames, config.knn.pool), "): top-1 ", m.top1, " %, top-", m.top_k, " ", m.topk, " % on ",
                       m.count, " images"));
    return 0;
  };
}

Runner register_embed(CLI::App& app) {
  struct State : InferenceState {
    tasks::EmbedRequest request;
    std::string pool;  // --pool ("": knn.pool)
  };
  auto s = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("embed", "encoder features of images to .safetensors or .npy (+ a list of paths)");
  add_checkpoint(cmd, s.get());
  add_image_input(cmd, s.get());
  cmd->add_option("--output", s->request.output, "features file: .safetensors or .npy")->required();
  cmd->add_option("--pool", s->pool,
                  "cls (token after the final norm) or mean (patch tokens + fc_norm); default: knn.pool, which is "
                  "mean for a fine-tuned global-pool checkpoint and cls otherwise");
  add_choice(cmd, "--split", s->request.split, data::kSplitNames, "without --input: the data split to read");
  return [s]() {
    if (!s->pool.empty()) s->request.pool = core::parse_choice(tasks::kPoolNames, s->pool, "--pool");
    auto [config, device] = resolve(*s, false);
    s->request.checkpoint = s->checkpoint;
    const auto n = tasks::run_embed(config, s->request, device);
    core::log_info(str("wrote ", n.done, " feature vectors to ", s->request.output, " and their paths to ", s->request.output,
                       ".paths.txt", unreadable_note(n, "left out, listed in " + s->request.output + ".unreadable.txt")));
    return 0;
  };
}

}  // namespace mae::app
