// The pickle interpreter: the values torch.save's pickles build, objects kept opaque and never
// called, and a clear error for every malformed pickle.
#include <unistd.h>

#include <gtest/gtest.h>

#include "mae/io/pickle.h"
#include "unit/test_interop_helpers.h"

using namespace mae::io;
using Kind = PickleValue::Kind;
using mae::testing::error_of;
using mae::testing::PickleWriter;

static std::string pickle_error(const std::string& bytes) {
  return error_of([&] { parse_pickle(bytes, "data.pkl"); });
}

TEST(InteropPickle, BuildsDictsOfScalarsStringsAndContainers) {
  // {'a': [1, -2, 3.5, None, True], 'b': (b'xy', 'z', {1, 2}, frozenset([3])), 'n': 2**40}, protocol 5
  const std::string bytes = mae::testing::read_bytes(std::string(MAE_SOURCE_DIR) + "/fuzz/corpus/pickle/containers.pkl");
  const Pickle p = parse_pickle(bytes, "containers.pkl");
  const PickleValue& root = p.at(p.root());
  ASSERT_EQ(root.kind, Kind::kDict);
  ASSERT_EQ(root.items.size(), 6u);
  EXPECT_EQ(p.string_at(root.items[0], "key"), "a");
  const PickleValue& list = p.at(root.items[1]);
  ASSERT_EQ(list.kind, Kind::kList);
  ASSERT_EQ(list.items.size(), 5u);
  EXPECT_EQ(p.at(list.items[0]).int_value, 1);
  EXPECT_EQ(p.at(list.items[1]).int_value, -2);
  EXPECT_EQ(p.at(list.items[2]).float_value, 3.5);
  EXPECT_EQ(p.at(list.items[3]).kind, Kind::kNone);
  EXPECT_EQ(p.at(list.items[4]).kind, Kind::kBool);
  const PickleValue& tuple = p.at(root.items[3]);
  ASSERT_EQ(tuple.kind, Kind::kTuple);
  EXPECT_EQ(p.at(tuple.items[0]).kind, Kind::kBytes);
  EXPECT_EQ(p.at(tuple.items[0]).text, "xy");
  EXPECT_EQ(p.at(tuple.items[2]).kind, Kind::kSet);
  EXPECT_EQ(p.at(tuple.items[2]).items.size(), 2u);
  EXPECT_EQ(p.at(root.items[5]).int_value, int64_t{1} << 40);
}

TEST(InteropPickle, TurnsRebuildTensorIntoAStridedViewOfAStorage) {
  PickleWriter w;
  w.op('}').op('(').text("w").tensor("HalfStorage", "7", 12, 2, {2, 3}, {4, 1}).op('u');
  const Pickle p = parse_pickle(w.done(), "data.pkl");
  const PickleValue& t = p.at(p.at(p.root()).items[1]);
  ASSERT_EQ(t.kind, Kind::kTensor);
  EXPECT_EQ(t.sizes, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.strides, (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(t.storage_offset, 2);
  const PickleValue& s = p.at(t.storage);
  EXPECT_EQ(s.kind, Kind::kStorage);
  EXPECT_EQ(s.storage_type, "HalfStorage");
  EXPECT_EQ(s.text, "7");
  EXPECT_EQ(s.int_value, 12);
}

TEST(InteropPickle, NeverCallsWhatThePickleNames) {
  const std::string marker = ::testing::TempDir() + "mae_pickle_exec_" + std::to_string(::getpid());
  PickleWriter w;  // os.system('touch <marker>'), the classic pickle exploit
  w.global("os", "system").op('(').text("touch " + marker).op('t').op('R');
  const Pickle p = parse_pickle(w.done(), "evil.pkl");
  EXPECT_EQ(p.at(p.root()).kind, Kind::kObject);
  EXPECT_EQ(p.at(p.root()).text, "os.system");
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the pickle ran code";
}

TEST(InteropPickle, KeepsUnknownObjectsOpaqueWithTheirState) {
  PickleWriter w;  // argparse.Namespace(lr=0.5) as protocol 2 writes it: NEWOBJ then BUILD
  w.global("argparse", "Namespace").op(')').op('\x81').op('}').op('(').text("lr").int1(5).op('u').op('b');
  const Pickle p = parse_pickle(w.done(), "ns.pkl");
  const PickleValue& ns = p.at(p.root());
  ASSERT_EQ(ns.kind, Kind::kObject);
  EXPECT_EQ(ns.text, "argparse.Namespace");
  ASSERT_EQ(ns.items.size(), 1u);
  EXPECT_EQ(p.at(ns.items[0]).kind, Kind::kDict);
}

TEST(InteropPickle, MemoSharesValuesAndToleratesCycles) {
  PickleWriter w;  // l = []; l.append(l)
  w.op(']').op('q').b += '\0';
  w.op('h').b += '\0';
  w.op('a');
  const Pickle p = parse_pickle(w.done(), "cycle.pkl");
  EXPECT_EQ(p.at(p.root()).items.at(0), p.root());
}

TEST(InteropPickle, RejectsMalformedPicklesWithReason) {
  EXPECT_NE(pickle_error("").find("ends without STOP"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02}").find("ends without STOP"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02X\xff\xff\xff\x7f" "abc.").find("runs past the end"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02i.").find("unsupported pickle opcode 0x69"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02" "cos\nsystem").find("not terminated by a newline"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02.").find("stack underflow"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02}(K\x01u.").find("odd number"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02h\x05.").find("memo entry 5"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02t.").find("no MARK"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02K\x01(\x85.").find("stack underflow"), std::string::npos) << "pops below a MARK";
  EXPECT_NE(pickle_error("\x80\x02K\x01K\x02" "a.").find("cannot add items to a int"), std::string::npos);
  EXPECT_NE(pickle_error(std::string("\x80\x02\x8a\x09", 4) + std::string(9, '\1') + ".").find("too large"),
            std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02K\x01Q.").find("not a torch storage"), std::string::npos);
  PickleWriter no_storage;  // _rebuild_tensor_v2 given an int where the storage belongs
  no_storage.global("torch._utils", "_rebuild_tensor_v2").op('(').int1(1).int1(0).ints({1}).ints({1}).op('t').op('R');
  EXPECT_NE(pickle_error(no_storage.done()).find("not a storage"), std::string::npos);
  PickleWriter dims;
  dims.global("torch._utils", "_rebuild_tensor_v2").op('(');
  dims.op('(').text("storage").global("torch", "FloatStorage").text("0").text("cpu").int1(4).op('t').op('Q');
  dims.int1(0).ints({2, 2}).ints({1}).op('t').op('R');
  EXPECT_NE(pickle_error(dims.done()).find("size has 2 dims but stride 1"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02.").find("data.pkl: pickle byte 2"), std::string::npos) << "names file and offset";
}
