#include "mae/distributed/process_group.h"

#include <algorithm>
#include <atomic>
#include <sstream>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#if defined(USE_C10D_GLOO) && !defined(MAE_WITHOUT_GLOO)
#define MAE_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>  // needs gloo's headers: Debian's libgloo-dev
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/core/impl/VirtualGuardImpl.h>

#include "mae/core/error.h"
#include "mae/core/log.h"

namespace mae::distributed {
namespace {

using Millis = std::chrono::milliseconds;

struct Group {
  Environment env;
  GroupOptions options;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  torch::Device device = torch::kCPU;  // where the backend's tensors live
  std::string name = "none";
  std::atomic<int64_t> step{0};
  std::atomic<bool> stop{false};
  std::thread heartbeat;
};
// Never destroyed: a failed job must be able to exit without joining c10d's threads.
Group* g_group = nullptr;

// A collective over one process is the identity: a world of one (`mae launch --nproc 1`) skips them.
bool has_peers() { return g_group != nullptr && g_group->env.world_size > 1; }

int64_t now_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::string heartbeat_key(int rank) { return "heartbeat/" + std::to_string(rank); }
std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

void heartbeat_loop(c10::intrusive_ptr<c10d::Store> store, Group* group) {
  while (!group->stop.load()) {
    try {
      store->set(heartbeat_key(group->env.rank), bytes(std::to_string(group->step.load()) + " " + std::to_string(now_ms())));
    } catch (...) {
      return;  // the store is gone (rank 0 ended); the next collective reports it
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// Which ranks look dead or stuck, from their heartbeats: a rank whose heartbeat does not change
// over 1.5 s (it is written every 0.5 s) is dead or frozen; no clocks of different machines are
// compared.
std::string diagnose() {
  const Group& g = *g_group;
  const std::string store_gone = "rank 0 (it hosts the rendezvous store at " + g.env.master_addr + ":" +
                                 std::to_string(g.env.master_port) + ") is unreachable: it has exited or its machine is down";
  // This thread's own connection to the store (a new one would retry for the whole timeout when
  // rank 0, the store's host, is gone).
  const c10::intrusive_ptr<c10d::Store>& store = g.store;
  auto read_all = [&](std::vector<std::string>* values) {
    values->assign(static_cast<size_t>(g.env.world_size), "");
    for (int r = 0; r < g.env.world_size; ++r) {
      if (r == g.env.rank || !store->check({heartbeat_key(r)})) continue;
      const auto v = store->get(heartbeat_key(r));
      (*values)[static_cast<size_t>(r)] = std::string(v.begin(), v.end());
    }
  };
  std::vector<std::string> before, after;
  try {
    store->setTimeout(Millis(3000));
    read_all(&before);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    read_all(&after);
  } catch (const std::exception&) {
    return g.env.rank == 0 ? "" : store_gone;
  }
  std::vector<std::string> silent, behind;
  for (int r = 0; r < g.env.world_size; ++r) {
    if (r == g.env.rank) continue;
    const auto& now = after[static_cast<size_t>(r)];
    int64_t step = 0;
    std::istringstream(now) >> step;
    if (now.empty()) {
      silent.push_back(str("rank ", r, " (never started)"));
    } else if (now == before[static_cast<size_t>(r)]) {
      silent.push_back(str("rank ", r, " (silent for 1.5 s, last at step ", step, ")"));
    } else if (step != g.step.load()) {
      behind.push_back(str("rank ", r, " (alive, at step ", step, ")"));
    }
  }
  std::ostringstream out;
  if (!silent.empty()) {
    for (size_t i = 0; i < silent.size(); ++i) out << (i ? ", " : "") << silent[i];
    out << (silent.size() == 1 ? " has died or hangs" : " have died or hang");
  } else if (!behind.empty()) {
    for (size_t i = 0; i < behind.size(); ++i) out << (i ? ", " : "") << behind[i];
    out << "; this rank is at step " << g.step.load() << " (a rank is stuck outside the collective)";
  } else {
    out << "every rank is alive at step " << g.step.load() << ": one spent longer than --dist-timeout outside the collectives "
        << "(e.g. rank 0's k-NN monitor or pictures at an epoch end); raise --dist-timeout";
  }
  return out.str();
}

[[noreturn]] void fail(const std::string& what, const std::string& cause) {
  const std::string who = diagnose();
  throw Error(str("distributed ", what, " failed on rank ", g_group->env.rank, " of ", g_group->env.world_size,
                  who.empty() ? "" : ": " + who, " (", cause, "). The last checkpoint written by rank 0 is intact; restart the job ",
                  "with --resume auto (any number of processes)"));
}

void wait_work(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  try {
    work->wait(g_group->options.timeout);
  } catch (const c10::Error& e) {
    fail(what, e.what_without_backtrace());
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
}

// The backend's view of `tensor`: the tensor itself when it lives on the backend's device and is
// contiguous, else a copy.
torch::Tensor on_backend(const torch::Tensor& tensor) {
  if (tensor.device() == g_group->device && tensor.is_contiguous()) return tensor;
  return tensor.to(g_group->device).contiguous();
}

}  // namespace

struct PendingAllReduce::Impl {
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;
};

void PendingAllReduce::wait() {
  if (impl_ && impl_->work) wait_work(impl_->work, impl_->what);
}

namespace {

// The rendezvous: rank 0 hosts the TCP store, every rank connects to it. A `client` connection is
// a second one for another thread (the heartbeat): it neither hosts nor counts as a worker.
c10::intrusive_ptr<c10d::Store> connect_store(const Environment& env, const GroupOptions& options, bool client = false) {
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(env.master_port);
  store_options.isServer = !client && env.rank == 0;
  if (!client) store_options.numWorkers = env.world_size;
  store_options.waitWorkers = !client;
  store_options.timeout = options.timeout;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    return c10::make_intrusive<c10d::PrefixStore>("mae", tcp);
  } catch (const std::exception& e) {
    throw Error(str("rank ", env.rank, " of ", env.world_size, ": rendezvous at ", env.master_addr, ":", env.master_port,
                    " failed (", e.what(), "). Check that MASTER_ADDR/MASTER_PORT name rank 0's machine and a free port, and that ",
                    "all ", env.world_size, " processes were started"));
  }
}

c10::intrusive_ptr<c10d::Backend> make_backend(Backend backend, const Environment& env, const GroupOptions& options,
                                               const c10::intrusive_ptr<c10d::Store>& store) {
  if (backend == Backend::kGloo) {
#ifndef MAE_HAVE_GLOO
    throw UsageError("this build of mae has no Gloo (LibTorch without it, or gloo's headers missing at build time: ",
                     "apt install libgloo-dev and rebuild): distributed CPU training is not available");
#else
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != '\0') {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo_options);
#endif
  }
#ifdef USE_C10D_NCCL
  auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
  nccl_options->timeout = options.timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, nccl_options);
#else
  throw UsageError("this LibTorch was built without NCCL; use the gloo backend");
#endif
}

}  // namespace

torch::Device init(const Environment& env, torch::Device device, const GroupOptions& options) {
  if (device.is_cuda() && env.distributed()) device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  if (!env.distributed()) return device;
  MAE_CHECK(g_group == nullptr, "the process group is already initialised");
  const Backend backend = options.backend != Backend::kAuto ? options.backend : device.is_cuda() ? Backend::kNccl : Backend::kGloo;
  MAE_CHECK_USAGE(backend == Backend::kGloo || device.is_cuda(), "the NCCL backend needs a CUDA device; use --device cuda or the gloo backend");
  MAE_CHECK_USAGE(backend == Backend::kNccl || !device.is_cuda(), "the gloo backend with a CUDA device would copy every gradient to the CPU; ",
                  "use --dist-backend nccl (or auto) for GPUs");
  if (device.is_cuda()) {
    MAE_CHECK_USAGE(env.local_rank < static_cast<int>(torch::cuda::device_count()), "LOCAL_RANK ", env.local_rank, " but only ",
                    torch::cuda::device_count(), " CUDA device(s) are visible; start one process per GPU");
    // The current device, so that pinned buffers, NCCL and every implicit allocation use this
    // rank's GPU rather than GPU 0.
    c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).setDevice(device);
  }
  auto group = std::make_unique<Group>();
  group->env = env;
  group->options = options;
  group->store = connect_store(env, options);
  group->backend = make_backend(backend, env, options, group->store);
  group->device = backend == Backend::kNccl ? device : torch::Device(torch::kCPU);
  group->name = core::choice_name(kBackendNames, backend);
  g_group = group.release();
  core::set_log_rank(env.rank, env.world_size);
  g_group->heartbeat = std::thread(heartbeat_loop, connect_store(env, options, /*client=*/true), g_group);
  core::log_info(str("distributed: ", env.world_size, " processes (", g_group->name, ", from ", core::choice_name(kEnvSourceNames, env.source),
                     " variables), rendezvous at ", env.master_addr, ":", env.master_port, ", timeout ",
                     options.timeout.count() / 1000, " s"));
  barrier("start-up");
  return device;
}

bool initialized() { return g_group != nullptr; }
int rank() { return g_group ? g_group->env.rank : 0; }
int world_size() { return g_group ? g_group->env.world_size : 1; }
int local_rank() { return g_group ? g_group->env.local_rank : 0; }
std::string backend_name() { return g_group ? g_group->name : "none"; }

PendingAllReduce all_reduce_sum_async(torch::Tensor tensor, const std::string& what) {
  auto impl = std::make_shared<PendingAllReduce::Impl>();
  impl->what = what;
  if (!has_peers()) return PendingAllReduce(impl);
  MAE_CHECK(tensor.device() == g_group->device && tensor.is_contiguous(), "all_reduce_sum_async needs a contiguous tensor on ",
            g_group->device.str());
  std::vector<torch::Tensor> tensors{std::move(tensor)};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  try {
    impl->work = g_group->backend->allreduce(tensors, opts);
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
  return PendingAllReduce(impl);
}

void all_reduce_sum(torch::Tensor& tensor, const std::string& what) {
  if (!has_peers()) return;
  torch::Tensor t = on_backend(tensor);
  all_reduce_sum_async(t, what).wait();
  if (!t.is_same(tensor)) tensor.copy_(t);
}

void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  if (!has_peers()) return;
  for (auto& tensor : tensors) {
    torch::Tensor t = on_backend(tensor);
    std::vector<torch::Tensor> one{t};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = g_group->backend->broadcast(one, opts);
    } catch (const std::exception& e) {
      fail(what, e.what());
    }
    wait_work(work, what);
    if (!t.is_same(tensor)) tensor.copy_(t);
  }
}

void barrier(const std::string& what) {
  if (!has_peers()) return;
  auto flag = torch::ones({1}, torch::TensorOptions().device(g_group->device));
  all_reduce_sum(flag, "barrier (" + what + ")");
}

void broadcast_module(torch::nn::Module& module) {
  if (!has_peers()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (auto& p : module.parameters()) tensors.push_back(p.detach());
  for (auto& b : module.buffers()) tensors.push_back(b.detach());
  broadcast(tensors, 0, "broadcast of rank 0's initial weights");
}

void broadcast_buffers(torch::nn::Module& module) {
  if (!has_peers()) return;
  std::vector<torch::Tensor> tensors;
  for (auto& b : module.buffers()) tensors.push_back(b.detach());
  if (!tensors.empty()) broadcast(tensors, 0, "broadcast of rank 0's buffers");
}

void set_progress(int64_t step) {
  if (g_group) g_group->step.store(step);
}

void finish() {
  if (!g_group) return;
  barrier("end of the job");
  g_group->stop.store(true);
  if (g_group->heartbeat.joinable()) g_group->heartbeat.join();
}

}  // namespace mae::distributed
