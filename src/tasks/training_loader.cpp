#include "mae/tasks/training_loader.h"

#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/data/codecs/image_decode.h"
#include "mae/distributed/process_group.h"

namespace mae::tasks {

std::unique_ptr<data::BatchSource> training_loader(const data::DataOptions& data, std::shared_ptr<const data::Source> train,
                                                   const train::TrainerOptions& trainer, int64_t in_chans, int64_t img_h,
                                                   int64_t img_w, const torch::Device& device) {
  data::LoaderOptions lo = data::loader_options(data, data::Split::kTrain);
  lo.batch_size = trainer.batch_size;
  lo.seed = trainer.seed;
  lo.pin_memory = device.is_cuda();
  lo.rank = distributed::rank();
  lo.world_size = distributed::world_size();
  if (lo.num_workers == 1 && data.source.reads_image_files()) {
    core::log_info("data.num_workers 1: one thread decodes the image files; set data.num_workers=0 for one per core "
                   "(the default 1 suits the in-memory idx and cifar sources)");
  }
  if (train && core::is_main_process()) warn_fewer_model_channels(*train, in_chans);
  lo.uint8_images = device.is_cuda() && data.uint8_batches && uint8_batches_fit(data, train.get(), in_chans, img_h, img_w);
  return data::make_train_batches(data, std::move(train), in_chans, img_h, img_w, lo);
}

bool uint8_batches_fit(const data::DataOptions& data, const data::Source* train, int64_t in_chans, int64_t img_h,
                       int64_t img_w) {
  if (!data::SampleTransform(data::transform_options(data, data::Split::kTrain, in_chans, img_h, img_w)).writes_uint8()) {
    return false;
  }
  // wds: a sample of more than 8 bits stops the run, naming the setting.
  if (train == nullptr || data.source.kind == data::SourceKind::kWds) return true;
  try {
    const data::RawImage first = train->open(0);
    if (first.format == data::ImageFormat::kJpeg || first.format == data::ImageFormat::kWebp) return true;
    if (first.format == data::ImageFormat::kPixels) return first.pixels.scalar_type() == torch::kUInt8;
    return data::decode_full(first, first.channels).scalar_type() == torch::kUInt8;
  } catch (const data::DataError&) {
    return false;  // the loader names unreadable files; float batches take any data
  }
}

void warn_fewer_model_channels(const data::Source& train, int64_t in_chans) {
  data::RawImage first;
  try {
    first = train.open(0);
  } catch (const data::DataError&) {
    return;  // the loader names unreadable files
  }
  // RGB -> grey is the one conversion that drops channels; any other mismatch the loader refuses.
  if (first.channels != 3 || in_chans != 1) return;
  core::log_warning(str("the images have 3 channels (", first.origin, ") but the model takes 1: they are converted to grey; ",
                        "for colour training set model.in_chans=3 with three data.mean / data.std values"));
}

std::string skipped_reads(const data::BatchSource& loader) {
  const int64_t n = loader.skipped_samples();
  if (n == 0) return "";
  return str("; ", n, " image read(s) skipped over all epochs (skipped_samples: unreadable files, counted each time they ",
             "were drawn and named once in the log)");
}

void check_data_channels(const data::DataOptions& data, int64_t in_chans) {
  const auto values = static_cast<int64_t>(data.transform.mean.size());
  MAE_CHECK_USAGE(values == in_chans, "data.mean has ", values, " value(s) but the model has ", in_chans, " channel(s): ",
                  values == 3 ? "for colour images set model.in_chans=3" : str("for ", values, "-channel images set model.in_chans=", values),
                  "; otherwise give one data.mean / data.std value per channel of the model");
}

}  // namespace mae::tasks
