// A view of chosen samples of another source (e.g. an evenly spaced labelled subset for the k-NN
// monitor during pretraining). Index i of the view is sample indices[i] of the base.
#pragma once

#include <memory>
#include <vector>

#include "mae/data/sources/source.h"

namespace mae::data {

class SubsetSource : public Source {
 public:
  SubsetSource(std::shared_ptr<const Source> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int64_t label(int64_t index) const override { return base_->label(indices_.at(index)); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  RawImage open(int64_t index) const override { return base_->open(indices_.at(index)); }
  std::string describe(int64_t index) const override { return base_->describe(indices_.at(index)); }

 private:
  std::shared_ptr<const Source> base_;
  std::vector<int64_t> indices_;
};

// `count` indices spread evenly over [0, size) (all of them when count <= 0 or count >= size), so a
// subset of a class-sorted folder still holds every class.
std::vector<int64_t> evenly_spaced(int64_t size, int64_t count);

}  // namespace mae::data
