"""torch.save / torch.load of a state of the same tensors as one of our checkpoints, for
bench/run_checkpoint_bench.sh. Reads only the safetensors headers of <stem>.safetensors and
<stem>.state.safetensors (names, dtypes, shapes), fills random tensors of those shapes, and prints
one CSV row in the columns of bench_checkpoint.cpp (code=torch.save). The save is followed by
fsync, as our atomic write does; the peak extra RSS is read as bench_checkpoint.cpp reads it."""
import argparse
import datetime
import json
import os
import struct
import threading
import time

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
MIB = 1024.0 * 1024.0


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return h


def tensors_like(path):
    out = {}
    for name, info in header(path).items():
        dtype = DTYPES[info["dtype"]]
        if dtype.is_floating_point:
            out[name] = torch.randn(info["shape"], dtype=torch.float32).to(dtype)
        else:
            out[name] = torch.zeros(info["shape"], dtype=dtype)
    return out


def status_bytes(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


class PeakRss:
    """Peak RSS above the start: VmHWM after clear_refs where permitted, else VmRSS sampled."""

    def __enter__(self):
        self.baseline = status_bytes("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.hwm = True
        except OSError:
            self.hwm, self.sampled, self.running = False, self.baseline, True
            self.thread = threading.Thread(target=self._sample)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.sampled = max(self.sampled, status_bytes("VmRSS"))
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.hwm:
            self.extra = status_bytes("VmHWM") - self.baseline
        else:
            self.running = False
            self.thread.join()
            self.extra = self.sampled - self.baseline


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stem", required=True, help="checkpoint written by mae_bench_checkpoint --keep")
    ap.add_argument("--model", required=True)
    ap.add_argument("--disk-mb-s", default="", help="the disk figure of the same run, copied into the row")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    state = {"model": tensors_like(args.stem + ".safetensors"), "optimizer": tensors_like(args.stem + ".state.safetensors")}
    path = args.stem + ".pth"
    with PeakRss() as save_peak:
        t = time.perf_counter()
        with open(path, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        save_s = time.perf_counter() - t
    size = os.path.getsize(path)
    del state
    with PeakRss() as load_peak:
        t = time.perf_counter()
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        load_s = time.perf_counter() - t
    del loaded
    os.remove(path)
    machine = f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores"
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d},\"{machine}\",{args.model},{size},{save_s:.3f},"
          f"{load_s:.3f},{save_peak.extra / MIB:.1f},{100 * save_peak.extra / size:.2f},{load_peak.extra / MIB:.1f},"
          f"{100 * load_peak.extra / size:.2f},{args.disk_mb_s},torch.save")


if __name__ == "__main__":
    main()
