// mae pack: an image set (class folders, a folder or a list file) as WebDataset tar shards with an
// index, for data.source=wds (docs/data.md).
#include <cstdio>
#include <regex>

#include "command.h"
#include "mae/core/error.h"
#include "mae/core/log.h"
#include "mae/core/parse.h"
#include "mae/data/wds/pack.h"

namespace mae::app {
namespace {

// "out/train-%06d.tar" and 147 shards -> "out/train-{000000..000146}.tar", the brace pattern data.train_files takes.
std::string shard_pattern(const std::string& output, int64_t shards) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("%0?[0-9]*d"))) return output;
  const std::string spec = m.str();
  char first[32], last[32];
  std::snprintf(first, sizeof(first), spec.c_str(), 0);
  std::snprintf(last, sizeof(last), spec.c_str(), static_cast<int>(shards - 1));
  const std::string numbers = shards == 1 ? std::string(first) : str("{", first, "..", last, "}");
  return m.prefix().str() + numbers + m.suffix().str();
}

}  // namespace

Runner register_pack(CLI::App& app) {
  struct State {
    data::PackOptions options;
    std::string shard_size = "1GiB";
  };
  auto s = std::make_shared<State>();
  auto& o = s->options;
  CLI::App* cmd = app.add_subcommand("pack", "write images as WebDataset tar shards (+ index) for data.source=wds");
  cmd->add_option("--input", o.input, "class folders (ImageNet train/), a folder of images, or a list file (`path [label]` lines)")
      ->required();
  add_choice(cmd, "--input-kind", o.input_kind, data::kPackInputNames,
             "what --input is; auto: class folders when it holds only folders");
  cmd->add_option("--output", o.output, "shard path pattern with one %d-style number")->capture_default_str();
  cmd->add_option("--shard-size", s->shard_size, "bytes per shard at most: 4MB, 512MiB, 1GiB, ...")->capture_default_str();
  cmd->add_option("--max-side", o.max_side, "re-encode as JPEG images whose longer side exceeds this (0: copy as they are)")
      ->capture_default_str();
  cmd->add_option("--quality", o.quality, "JPEG quality of re-encoded images")->capture_default_str();
  cmd->add_option("--threads", o.threads, "threads reading and re-encoding (0: one per core)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of the written order")->capture_default_str();
  cmd->add_flag("!--no-shuffle", o.shuffle, "keep the input order (default: a random order, so that every shard mixes classes)");
  cmd->add_flag("!--no-progress", o.progress, "no progress line on stderr");
  return [s]() {
    auto& o = s->options;
    MAE_CHECK_USAGE(core::parse_byte_size(s->shard_size, &o.shard_size), "--shard-size '", s->shard_size,
                    "' is not a size such as 4MB, 512MiB or 1GiB");
    const auto r = data::pack_shards(o);
    const double mib = 1024.0 * 1024.0;
    core::log_info(str("pack: ", r.shards.samples(), " images in ", r.shards.shards.size(), " shard(s), ", r.output_bytes / mib,
                       " MiB (inputs ", r.input_bytes / mib, " MiB; ", r.reencoded, " re-encoded, ", r.skipped,
                       " unreadable skipped) in ", r.seconds, " s (", r.shards.samples() / std::max(r.seconds, 1e-9),
                       " img/s); index ", r.index_path));
    // Quoted: a shell would expand the braces into one word per shard (and only the last would count).
    core::log_info(str("train from them with: --set data.source=wds --set data.root= --set 'data.train_files=",
                       shard_pattern(o.output, static_cast<int64_t>(r.shards.shards.size())), "'"));
    return 0;
  };
}

}  // namespace mae::app
