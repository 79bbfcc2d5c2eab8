// The tar shards of a WebDataset split and their sample counts. data.train_files / data.val_files
// name the shards, relative to data.root: brace patterns (`train-{000000..000146}.tar`, `{a,b}`),
// plain paths, a list file (one shard per line, relative to the list's folder) or a folder (every
// .tar in it, sorted). The counts come from the index `mae pack` writes beside the shards
// (`<name>.index.json` for `<name>-000000.tar`, see shard_index_path), or from one counting pass
// over the tar headers, cached beside the shards (or under ~/.cache/mae/wds when that folder is
// read-only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mae::data {

struct ShardEntry {
  std::string path;
  int64_t samples = 0;
  uint64_t bytes = 0;  // file size: tells a stale index from a valid one
};

struct ShardSet {
  std::vector<ShardEntry> shards;
  std::vector<std::string> class_names;  // from the index; empty when it has none
  std::string origin;                    // the index the counts came from, for messages
  int64_t samples() const;
  // first_samples()[i]: the number of samples in shards before i (dataset index of shard i's first sample).
  std::vector<int64_t> first_samples() const;
};

// "a-{000..002}.tar" -> a-000.tar, a-001.tar, a-002.tar (the width of the first bound is kept);
// "{x,y}" lists alternatives; several braces expand left to right. Throws UsageError when malformed.
std::vector<std::string> expand_braces(const std::string& pattern);

// The shard paths the configured files name (see the top). `key` names the setting in messages.
std::vector<std::string> resolve_shards(const std::string& root, const std::vector<std::string>& files, const std::string& key);

// The index of a shard series: "<dir>/train-000012.tar" -> "<dir>/train.index.json" (the trailing
// number and the extension dropped, then a trailing '-', '_' or '.').
std::string shard_index_path(const std::string& shard);

// The shards with their counts, from their index when it lists every one with its current size,
// else counted once and cached. label_field: as WdsShardReader.
ShardSet load_shard_set(const std::vector<std::string>& paths, const std::string& label_field);

// Writes an index: {"format": "mae-wds-index", "version": 1, "samples": N, "classes": [...],
// "shards": [{"name": file name, "samples": n, "bytes": b}], ...extra}. Names are relative to the index's folder.
void write_shard_index(const std::string& path, const ShardSet& set, const std::string& extra_json = "{}");

}  // namespace mae::data
