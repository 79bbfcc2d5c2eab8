#include "mae/tasks/training_loader.h"

#include "mae/distributed/process_group.h"

namespace mae::tasks {

std::unique_ptr<data::Loader> training_loader(const data::DataOptions& data, const train::TrainerOptions& trainer,
                                              int64_t in_chans, int64_t img_h, int64_t img_w, const torch::Device& device) {
  data::LoaderOptions lo = data::loader_options(data, data::Split::kTrain);
  lo.batch_size = trainer.batch_size;
  lo.seed = trainer.seed;
  lo.pin_memory = device.is_cuda();
  lo.rank = distributed::rank();
  lo.world_size = distributed::world_size();
  return data::make_loader(data, data::Split::kTrain, in_chans, img_h, img_w, lo);
}

}  // namespace mae::tasks
