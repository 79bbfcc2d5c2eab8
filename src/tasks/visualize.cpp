#include "mae/tasks/visualize.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mae/core/atomic_file.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/rng.h"
#include "mae/data/factory.h"
#include "mae/eval/band_picture.h"
#include "mae/data/sources/file_source.h"
#include "mae/weights/load_state_dict.h"
#include "mae/eval/reconstruction.h"
#include "mae/io/png_writer.h"
#include "mae/models/presets.h"
#include "mae/train/checkpoint.h"
#include "mae/tasks/model_facts.h"
#include "mae/tasks/pretrain.h"

namespace mae::tasks {
namespace {

constexpr uint64_t kVisualizeMaskStream = 0x76697a6dull;  // "vizm"

std::vector<int64_t> parse_indices(const std::string& line, const std::string& where) {
  std::vector<int64_t> out;
  std::string token;
  std::stringstream in(line);
  while (in >> token) {
    std::stringstream parts(token);
    std::string part;
    while (std::getline(parts, part, ',')) {
      if (part.empty()) continue;
      try {
        size_t used = 0;
        out.push_back(std::stoll(part, &used));
        MAE_CHECK_USAGE(used == part.size(), where, ": '", part, "' is not a patch index");
      } catch (const std::logic_error&) {
        throw UsageError(str(where, ": '", part, "' is not a patch index"));
      }
    }
  }
  return out;
}

}  // namespace

std::vector<std::vector<int64_t>> read_mask_file(const std::string& path) {
  std::ifstream in(path);
  MAE_CHECK_USAGE(in.good(), "mask file '", path, "' cannot be opened; check the path");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<std::vector<int64_t>> masks;
  if (text.find_first_not_of(" \t\r\n") != std::string::npos && text[text.find_first_not_of(" \t\r\n")] == '{') {
    try {
      const auto json = nlohmann::json::parse(text);
      for (const auto& image : json.at("images")) masks.push_back(image.at("masked_patches").get<std::vector<int64_t>>());
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(str("mask file '", path, "' is JSON but not the format `mae visualize` writes (", e.what(), ")"));
    }
    return masks;
  }
  std::stringstream lines(text);
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    masks.push_back(parse_indices(line, str(path, ":", n)));
  }
  MAE_CHECK_USAGE(!masks.empty(), "mask file '", path, "' lists no mask");
  return masks;
}

namespace {

constexpr const char* kStatsNote =
    "norm_pix_loss: the prediction is un-normalised with the true patch mean/variance of each masked patch (the model only "
    "predicts normalised patches)";

struct Images {
  std::shared_ptr<const data::Source> source;
  std::vector<int64_t> indices;
  torch::Tensor pixels;  // [N, C, H, W], evaluation transform
};

// The images of --input: each a folder (scanned recursively), an image file, or a list file
// (paths relative to the list's folder).
std::shared_ptr<const data::Source> input_source(const std::vector<std::string>& inputs) {
  std::vector<data::FileEntry> entries;
  std::vector<std::string> lists;
  for (const auto& input : inputs) {
    MAE_CHECK_USAGE(std::filesystem::exists(input), "--input '", input, "' does not exist; give folders, list files or images");
    std::unique_ptr<data::FileSource> part;
    if (std::filesystem::is_directory(input)) {
      part = data::scan_image_folder(input);
    } else if (data::has_image_extension(input)) {
      entries.push_back({input});
      continue;
    } else {
      part = data::read_image_lists(std::filesystem::path(input).parent_path().string(), {input});
      lists.push_back(input);
    }
    for (auto entry : part->entries()) {
      if (entry.list >= 0) entry.list = static_cast<int32_t>(lists.size()) - 1;
      entries.push_back(entry);
    }
  }
  return std::make_shared<data::FileSource>(std::move(entries), std::move(lists), std::vector<std::string>{}, "--input");
}

// The requested images of the split (or of --input), through the evaluation transform (no random crop).
Images load_images(const PretrainOptions& options, const VisualizeRequest& request, const models::MaeViTOptions& o) {
  Images images;
  images.source = !request.inputs.empty() ? input_source(request.inputs)
                  : data::make_source(options.data.source, request.split);
  const data::SampleTransform transform(data::transform_options(options.data, data::Split::kVal, o.in_chans, o.img_h, o.img_w));
  images.indices = request.indices;
  if (images.indices.empty()) {
    for (int64_t i = 0; i < std::min(request.num_images, images.source->size()); ++i) images.indices.push_back(i);
  }
  MAE_CHECK_USAGE(!images.indices.empty(), "no image to visualise");
  const auto n = static_cast<int64_t>(images.indices.size());
  images.pixels = torch::empty({n, o.in_chans, o.img_h, o.img_w});
  for (int64_t k = 0; k < n; ++k) {
    const int64_t index = images.indices[k];
    MAE_CHECK_USAGE(index >= 0 && index < images.source->size(), "image index ", index, " is outside the ",
                    data::split_name(request.split), " split (", images.source->size(), " images)");
    auto rng = data::SampleRng::for_sample(0, 0, index);
    transform.apply(images.source->open(index), rng, images.pixels[k].data_ptr<float>());
  }
  return images;
}

// [N, L] masking noise: the masks of --mask (which also fix the ratio), else drawn from --mask-seed.
torch::Tensor masking_noise(const VisualizeRequest& request, const std::vector<int64_t>& indices, int64_t num_patches,
                            double* mask_ratio) {
  if (request.mask_file.empty()) {
    return core::per_sample_uniform(torch::tensor(indices), core::derive_seed(request.mask_seed, {kVisualizeMaskStream}),
                                    num_patches);
  }
  const auto masks = read_mask_file(request.mask_file);
  MAE_CHECK_USAGE(masks.size() == indices.size(), "mask file '", request.mask_file, "' has ", masks.size(), " mask(s) for ",
                  indices.size(), " image(s)");
  std::vector<torch::Tensor> rows;
  for (const auto& m : masks) {
    MAE_CHECK_USAGE(m.size() == masks.front().size(), "mask file '", request.mask_file,
                    "': every image must mask the same number of patches (the model keeps a fixed count)");
    rows.push_back(eval::noise_for_mask(m, num_patches, mask_ratio));
  }
  return torch::stack(rows);
}

// reconstruction.json: per image its origin, masked-patch loss and the exact mask.
nlohmann::json describe(const std::string& stem, const models::MaeViTOptions& o, double mask_ratio, const Images& images,
                        const eval::Reconstruction& r, VisualizeResult* result) {
  nlohmann::json out = {{"checkpoint", stem},
                        {"norm_pix_loss", o.norm_pix_loss},
                        {"mask_ratio", mask_ratio},
                        {"columns", {"original", "masked", "reconstruction", "reconstruction_pasted"}},
                        {"images", nlohmann::json::array()}};
  if (r.used_patch_statistics) out["note"] = kStatsNote;
  for (size_t k = 0; k < images.indices.size(); ++k) {
    std::vector<int64_t> masked;
    const auto row = r.mask[static_cast<int64_t>(k)];
    for (int64_t l = 0; l < o.num_patches(); ++l) {
      if (row[l].item<float>() > 0.5f) masked.push_back(l);
    }
    const double loss = r.masked_patch_loss[static_cast<int64_t>(k)].item<double>();
    result->masked_patch_loss.push_back(loss);
    out["images"].push_back({{"index", images.indices[k]}, {"origin", images.source->describe(images.indices[k])},
                             {"masked_patch_loss", loss}, {"masked_patches", masked}});
  }
  return out;
}

// Our checkpoint (its stem) through the checkpoint reader; any other file through weights::load_weights,
// which must find the decoder. Returns what names the weights in the outputs.
std::string load_mae_weights(models::MaskedAutoencoderViT& model, const std::string& path) {
  const std::string stem = train::checkpoint_stem_of(path);
  if (std::filesystem::exists(stem + ".safetensors") && read_facts(stem + ".safetensors").ours) {
    train::load_checkpoint(stem, *model, nullptr, nullptr, nullptr);
    return stem;
  }
  try {
    const auto report = weights::load_weights(*model, path);
    core::log_info("loaded " + path + ":\n" + report.to_string());
  } catch (const Error& e) {
    throw Error(str(e.what(), "\nmae visualize needs the whole MAE, decoder included (the official mae_visualize_vit_*.pth, ",
                    "not the encoder-only mae_pretrain_vit_*.pth or timm files); the model comes from --config / --set ",
                    "(e.g. --set model.name=mae_vit_large_patch16 --set model.in_chans=3 --set model.img_size=224 ",
                    "--set model.norm_pix_loss=false)"));
  }
  return path;
}

}  // namespace

VisualizeResult run_visualize(const PretrainOptions& options, const VisualizeRequest& request, const torch::Device& device) {
  models::MaskedAutoencoderViT model(options.model);
  const std::string stem = load_mae_weights(model, request.checkpoint);
  model->to(device);
  const auto& o = model->options();
  const Images images = load_images(options, request, o);
  double mask_ratio = options.mask_ratio;
  const auto noise = masking_noise(request, images.indices, o.num_patches(), &mask_ratio);
  const auto r = eval::reconstruct(model, images.pixels.to(device), mask_ratio, noise.to(device), options.data.transform.mean,
                                   options.data.transform.std);

  std::filesystem::create_directories(request.output_dir);
  VisualizeResult result;
  result.png = request.output_dir + "/reconstruction.png";
  result.json = request.output_dir + "/reconstruction.json";
  result.used_patch_statistics = r.used_patch_statistics;
  std::string caption = "columns: original | masked | reconstruction | reconstruction with visible patches pasted";
  if (r.used_patch_statistics) caption += std::string("; ") + kStatsNote;
  const std::string note = str(std::filesystem::path(stem).filename().string(), ", mask ratio ", mask_ratio,
                               r.used_patch_statistics ? ". norm_pix_loss: prediction un-normalised with the true patch mean/variance" : "");
  io::write_png(result.png, eval::reconstruction_grid(eval::picture_bands(r, options.visualize_channels), note),
                {{"Description", caption}, {"Source", stem}});
  const auto json = describe(stem, o, mask_ratio, images, r, &result);
  core::write_file_atomic(result.json, [&](std::ostream& s) { s << json.dump(2) << "\n"; });
  core::log_info(str("wrote ", result.png, " and ", result.json, r.used_patch_statistics ? std::string(" (") + kStatsNote + ")" : ""));
  return result;
}

}  // namespace mae::tasks
