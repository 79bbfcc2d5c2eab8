// torch.save checkpoints read without executing anything: where the state dict is found, what is
// kept as metadata, and a clear error for every malformed archive or tensor.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "mae/io/pth.h"
#include "mae/io/weights_file.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using namespace mae::weights;
using mae::testing::error_of;
using mae::testing::floats;
using mae::testing::PickleWriter;
using mae::testing::pth_of;

static PthFile parse(const std::string& bytes) {
  MemorySource src(bytes.data(), bytes.size(), "test.pth");
  return parse_pth(src);
}
static std::string pth_error(const std::string& bytes) {
  return error_of([&] { parse(bytes); });
}
// {'w': tensor} over one storage '0' of `numel` floats holding 0, 1, 2, ...
static std::string one_tensor(int numel, int offset, std::initializer_list<int> sizes, std::initializer_list<int> strides,
                              const std::string& type = "FloatStorage") {
  PickleWriter w;
  w.op('}').op('(').text("w").tensor(type, "0", numel, offset, sizes, strides).op('u');
  std::string data;
  for (int i = 0; i < numel; ++i) data += floats({static_cast<float>(i)});
  return pth_of(w.done(), {{"0", data}});
}

TEST(InteropPth, FindsTheStateDictUnderModelAndKeepsScalarsAsMetadata) {
  PickleWriter w;  // {'model': {'w': t, 'v': view of t}, 'args': Namespace(lr=5), 'epoch': 3, 'optimizer': {}}
  w.op('}').op('(').text("model").op('}').op('(');
  w.text("w").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  w.text("v").tensor("FloatStorage", "0", 6, 1, {2}, {3}).op('u');
  w.text("args").global("argparse", "Namespace").op(')').op('\x81').op('}').op('(').text("lr").int1(5).op('u').op('b');
  w.text("epoch").int1(3).text("optimizer").op('}').op('u');
  const PthFile f = parse(pth_of(w.done(), {{"0", floats({0, 1, 2, 3, 4, 5})}}));
  EXPECT_EQ(f.state_dict_key, "model");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "w");
  EXPECT_TRUE(torch::equal(f.tensors[0].second, torch::arange(6, torch::kFloat32).reshape({2, 3})));
  EXPECT_TRUE(torch::equal(f.tensors[1].second, torch::tensor({1.0f, 4.0f}))) << "a strided view of the shared storage";
  EXPECT_EQ(f.metadata.at("epoch"), "3");
  EXPECT_EQ(f.metadata.at("args.lr"), "5");
  ASSERT_EQ(f.notes.size(), 2u);
  EXPECT_NE(f.notes[0].find("skipped 'args': an object of class argparse.Namespace"), std::string::npos) << f.notes[0];
  EXPECT_NE(f.notes[1].find("skipped 'optimizer'"), std::string::npos) << f.notes[1];
}

TEST(InteropPth, ReadsTheFixtureWrittenByTorchSave) {
  const PthFile f = read_pth(mae::testing::interop_fixture("mae_tiny.pth"));
  EXPECT_EQ(f.state_dict_key, "model");
  EXPECT_EQ(f.metadata.at("epoch"), "3");
  EXPECT_EQ(f.metadata.at("args.model"), "mae_vit_tiny_patch8");
  EXPECT_EQ(f.metadata.at("args.norm_pix_loss"), "True");
  EXPECT_EQ(f.metadata.at("args.blr"), "0.00015");
  EXPECT_EQ(f.tensors.front().first, "cls_token");
  for (const auto& [name, t] : f.tensors) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
}

TEST(InteropPth, TopLevelStateDictWithNestedDictsAndNonTensors) {
  PickleWriter w;  // {'a': {'b': t}, 'n': 7}
  w.op('}').op('(').text("a").op('}').op('(').text("b").tensor("FloatStorage", "0", 1, 0, {}, {}).op('u');
  w.text("n").int1(7).op('u');
  const PthFile f = parse(pth_of(w.done(), {{"0", floats({2.5f})}}));
  EXPECT_EQ(f.state_dict_key, "");
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].first, "a.b");
  EXPECT_EQ(f.tensors[0].second.dim(), 0);
  EXPECT_EQ(f.tensors[0].second.item<float>(), 2.5f);
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_NE(f.notes[0].find("skipped 'n': a value of type int"), std::string::npos);
}

TEST(InteropPth, RejectsTensorsThatDoNotFitTheirStorage) {
  EXPECT_NE(pth_error(one_tensor(6, 0, {3, 3}, {3, 1})).find("reaches element 8 of a storage of 6"), std::string::npos);
  EXPECT_NE(pth_error(one_tensor(6, 6, {1}, {1})).find("reaches element 6"), std::string::npos);
  EXPECT_NE(pth_error(one_tensor(6, 0, {2}, {-1})).find("negative size or stride"), std::string::npos);
  EXPECT_NE(pth_error(one_tensor(6, -1, {2}, {1})).find("negative storage offset"), std::string::npos);
  EXPECT_NE(pth_error(one_tensor(6, 0, {2147483647, 2147483647, 2147483647}, {2147483647, 2147483647, 2147483647}))
                .find("overflow"),
            std::string::npos);
  EXPECT_NE(pth_error(one_tensor(6, 0, {6}, {1}, "ComplexFloatStorage")).find("'ComplexFloatStorage', which is not supported"),
            std::string::npos);
  EXPECT_EQ(parse(one_tensor(6, 0, {0, 5}, {100, 100})).tensors[0].second.numel(), 0) << "empty tensors address nothing";
}

TEST(InteropPth, RejectsStoragesThatAreMissingOrOfTheWrongSize) {
  PickleWriter w;
  w.op('}').op('(').text("w").tensor("FloatStorage", "0", 6, 0, {6}, {1}).op('u');
  EXPECT_NE(pth_error(pth_of(w.done(), {})).find("its storage 'archive/data/0' is missing"), std::string::npos);
  EXPECT_NE(pth_error(pth_of(w.done(), {{"0", std::string(20, '\0')}})).find("has 20 bytes but should hold 6"),
            std::string::npos);
  PickleWriter two;  // one storage declared as float and as half
  two.op('}').op('(').text("a").tensor("FloatStorage", "0", 2, 0, {2}, {1});
  two.text("b").tensor("HalfStorage", "0", 4, 0, {4}, {1}).op('u');
  EXPECT_NE(pth_error(pth_of(two.done(), {{"0", floats({1, 2})}})).find("declared with two dtypes"), std::string::npos);
  PickleWriter dup;  // 'a.b' twice: once flat, once nested
  dup.op('}').op('(').text("a.b").tensor("FloatStorage", "0", 1, 0, {}, {});
  dup.text("a").op('}').op('(').text("b").tensor("FloatStorage", "0", 1, 0, {}, {}).op('u').op('u');
  EXPECT_NE(pth_error(pth_of(dup.done(), {{"0", floats({1})}})).find("tensor 'a.b' appears twice"), std::string::npos);
}

TEST(InteropPth, RejectsArchivesThatAreNotTorchSaveCheckpoints) {
  EXPECT_NE(pth_error("plain bytes").find("not a zip archive"), std::string::npos);
  EXPECT_NE(pth_error(mae::testing::zip_of({{"x/other", "1"}})).find("expected one '<archive>/data.pkl'"), std::string::npos);
  EXPECT_NE(pth_error(mae::testing::zip_of({{"m/constants.pkl", "1"}, {"m/code/x.py", ""}})).find("TorchScript"),
            std::string::npos);
  PickleWriter list;
  list.op(']');
  EXPECT_NE(pth_error(pth_of(list.done(), {})).find("holds a list, not a dict"), std::string::npos);
  PickleWriter empty;
  empty.op('}');
  EXPECT_NE(pth_error(pth_of(empty.done(), {}, "big")).find("byte order 'big'"), std::string::npos);
  EXPECT_NE(pth_error(pth_of("\x80\x02}", {})).find("test.pth: archive/data.pkl: pickle byte 3"), std::string::npos);
}

TEST(InteropPth, ReadWeightsTellsFormatsApart) {
  const std::string dir = ::testing::TempDir() + "mae_interop_" + std::to_string(::getpid()) + "_";
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + name, std::ios::binary) << bytes;
    return dir + name;
  };
  const std::string pth = write("a.pth", one_tensor(2, 0, {2}, {1}));
  const std::string st = write("a.safetensors", serialize_safetensors({{"w", torch::ones({2})}}));
  const std::string legacy = write("legacy.pth", "\x80\x02}q\x00.");
  const std::string junk = write("junk.bin", "hello world");
  EXPECT_EQ(read_weights(pth).format, "pth");
  EXPECT_EQ(read_weights(st).format, "safetensors");
  EXPECT_EQ(read_weights(st).tensors.at(0).first, "w");
  EXPECT_NE(error_of([&] { read_weights(legacy); }).find("legacy format"), std::string::npos);
  // A safetensors header whose length ends in byte 0x80 (like a pickle's first byte) is still safetensors.
  std::string padded;
  for (size_t pad = 0; pad < 256; ++pad) {
    padded = serialize_safetensors({{"w", torch::ones({2})}}, {{"note", std::string(pad, 'x')}});
    if (static_cast<unsigned char>(padded[0]) == 0x80) break;
  }
  ASSERT_EQ(static_cast<unsigned char>(padded[0]), 0x80);
  const std::string st80 = write("b.safetensors", padded);
  EXPECT_EQ(read_weights(st80).format, "safetensors");
  std::remove(st80.c_str());
  EXPECT_NE(error_of([&] { read_weights(junk); }).find("neither safetensors nor a torch.save zip"), std::string::npos);
  EXPECT_NE(error_of([&] { read_weights(dir + "absent.pth"); }).find("cannot open"), std::string::npos);
  for (const auto& p : {pth, st, legacy, junk}) std::remove(p.c_str());
}
