// mae eval and mae predict of segmentation checkpoints.
#include <filesystem>
#include <map>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/data/sources/file_source.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/weights/load_state_dict.h"
#include "mae/io/png_writer.h"
#include "mae/tasks/segment.h"

namespace mae::tasks {
namespace fs = std::filesystem;

models::Segmenter load_segmenter(const SegmentOptions& options, const std::string& checkpoint, const torch::Device& device) {
  models::SegmenterOptions o = options.model;
  o.encoder.drop_path_rate = 0;
  models::Segmenter model(o);
  weights::load_weights(*model, checkpoint);
  model->to(device);
  model->eval();
  return model;
}

eval::SegmentationMetrics run_segment_eval(const SegmentOptions& options, const std::string& checkpoint, data::Split split,
                                           const std::string& output_dir, const torch::Device& device) {
  auto model = load_segmenter(options, checkpoint, device);
  const auto pairs = read_pairs(options.data, split);
  const auto m = evaluate_segmenter(model, *pairs, options, device);
  if (!output_dir.empty() && core::is_main_process()) {
    fs::create_directories(output_dir);
    const auto names = segmentation_class_names(options.data, options.model.num_classes);
    core::write_file_atomic(output_dir + "/metrics.json", [&](std::ostream& out) { out << eval::segmentation_json(m, names) << "\n"; });
    eval::write_segmentation_csv(output_dir + "/per_class.csv", m, names);
  }
  return m;
}

namespace {

// The images to predict: a folder (scanned), a list file, or the val split's images; each with the
// name of its outputs: its path under the folder all the images share, without the extension (the
// file's stem when they lie in one folder), so images in subfolders keep apart.
struct PredictInput {
  std::string path, name;
};

std::vector<PredictInput> input_images(const SegmentOptions& options, const std::string& input) {
  std::vector<std::string> paths;
  if (input.empty()) {
    const auto pairs = read_pairs(options.data, data::Split::kVal);
    for (int64_t i = 0; i < pairs->size(); ++i) paths.push_back(pairs->pair(i).image);
  } else {
    MAE_CHECK_USAGE(fs::exists(input), "--input '", input, "' does not exist; give a folder of images or a list file");
    const auto source = fs::is_directory(input) ? data::scan_image_folder(input)
                                                : data::read_image_lists(fs::absolute(input).parent_path().string(), {input});
    for (const auto& e : source->entries()) paths.push_back(e.path);
  }
  std::vector<fs::path> absolute;
  fs::path shared;  // the longest folder every image lies under
  for (const auto& path : paths) {
    absolute.push_back(fs::absolute(path).lexically_normal());
    const fs::path folder = absolute.back().parent_path();
    if (absolute.size() == 1) {
      shared = folder;
      continue;
    }
    fs::path common;
    for (auto x = shared.begin(), y = folder.begin(); x != shared.end() && y != folder.end() && *x == *y; ++x, ++y) common /= *x;
    shared = common;
  }
  std::vector<PredictInput> inputs;
  std::map<std::string, std::string> seen;  // output name -> the image that takes it
  for (size_t i = 0; i < paths.size(); ++i) {
    const fs::path relative = absolute[i].lexically_relative(shared);
    const std::string name = (relative.parent_path() / relative.stem()).generic_string();
    const auto [it, fresh] = seen.emplace(name, paths[i]);
    MAE_CHECK_USAGE(fresh, "predict: '", it->second, "' and '", paths[i], "' would both write ", name,
                    ".png; rename one of them or predict them into separate --output folders");
    inputs.push_back({paths[i], name});
  }
  return inputs;
}

}  // namespace

int64_t run_segment_predict(const SegmentOptions& options, const std::string& checkpoint, const std::string& input,
                            const std::string& output_dir, const torch::Device& device) {
  MAE_CHECK_USAGE(!output_dir.empty(), "--output is required: the folder for the label maps and overlays");
  auto model = load_segmenter(options, checkpoint, device);
  const auto inputs = input_images(options, input);
  fs::create_directories(output_dir);
  const int64_t k = options.model.num_classes;
  const auto palette = eval::class_palette(k);
  const auto names = segmentation_class_names(options.data, k);
  core::write_file_atomic(output_dir + "/classes.csv", [&](std::ostream& out) {
    out << "index,name,r,g,b\n";
    for (int64_t c = 0; c < k; ++c) {
      out << c << ',' << names[c] << ',' << int(palette[c][0].item<uint8_t>()) << ',' << int(palette[c][1].item<uint8_t>())
          << ',' << int(palette[c][2].item<uint8_t>()) << '\n';
    }
  });
  MAE_CHECK_USAGE(k <= 256, "label maps are 8-bit PNGs: at most 256 classes, the model has ", k);
  int64_t done = 0;
  for (const auto& [path, name] : inputs) {
    data::RawImage image;
    try {
      image = data::read_image_file(path, path);
    } catch (const data::DataError& e) {
      core::log_warning(str("predict: skipping an unreadable image: ", e.what()));
      continue;
    }
    const auto labels = predict_labels(model, image, options, device);
    const fs::path stem = fs::path(output_dir) / name;
    fs::create_directories(stem.parent_path());
    io::write_png(stem.string() + ".png", labels.to(torch::kUInt8).unsqueeze(2), {{"Description", "class index per pixel"}});
    const auto pixels = image.channels == 1 || image.channels == 3 ? data::decode_full(image, 3) : torch::Tensor();
    if (pixels.defined() && pixels.scalar_type() == torch::kUInt8) {
      io::write_png(stem.string() + "_overlay.png", eval::overlay(pixels, labels, palette), {{"Description", "classes over the image"}});
    }
    ++done;
  }
  return done;
}

}  // namespace mae::tasks
