#!/usr/bin/env python3
"""Reference for bench/bench_data.cpp: the official MAE pretraining input pipeline in torchvision + PIL
(ImageFolder's loader, RandomResizedCrop(224, scale=(0.2, 1.0), bicubic), RandomHorizontalFlip,
ToTensor, Normalize), timed on one thread; prints CSV rows in bench_data's format (per core =
images / CPU seconds).

  data_reference.py make-images --out DIR [--count N] [--photos DIR ...]
      ImageNet-like JPEGs (about 500x375, quality 90) cut from larger photos, or synthetic ones.
  data_reference.py run --images DIR [--count N]
"""
import argparse
import glob
import os
import platform
import random
import sys
import time


def photo_paths(folders):
    paths = []
    for folder in folders:
        for ext in ("jpg", "jpeg", "JPG", "JPEG"):  # photos; PNG wallpapers are mostly flat graphics
            paths += glob.glob(os.path.join(folder, "**", "*." + ext), recursive=True)
    from PIL import Image
    big = []
    for p in sorted(set(paths)):
        try:
            with Image.open(p) as im:
                if min(im.size) >= 900:
                    big.append(p)
        except OSError:
            pass
    return big


def synthetic_photo(rng, width, height):
    """A natural-looking picture: smooth colour fields, soft shapes and fine-grained texture."""
    import numpy as np
    from PIL import Image, ImageFilter
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        img[..., c] = 128 + 60 * np.sin(x / rng.uniform(40, 200) + rng.uniform(0, 6)) * np.cos(y / rng.uniform(40, 200))
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 150)
        mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        img[mask] = img[mask] * 0.4 + np.array([rng.uniform(0, 255) for _ in range(3)], np.float32) * 0.6
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 12, (height, width, 3)).astype(np.float32)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    return Image.fromarray(np.clip(np.asarray(pil, np.float32) + noise, 0, 255).astype(np.uint8))


def make_images(args):
    from PIL import Image
    rng = random.Random(0)
    os.makedirs(args.out, exist_ok=True)
    photos = photo_paths(args.photos)
    opened = [Image.open(p).convert("RGB") for p in photos]
    sizes = [(500, 375), (375, 500), (500, 333), (500, 400), (450, 450)]
    for i in range(args.count):
        w, h = sizes[i % len(sizes)]
        if opened:
            im = opened[i % len(opened)]
            # A random window of the photo, 1.2x to 3x the target, resized down like ImageNet's.
            s = rng.uniform(1.2, min(3.0, im.width / w, im.height / h))
            cw, ch = int(w * s), int(h * s)
            left, top = rng.randrange(im.width - cw + 1), rng.randrange(im.height - ch + 1)
            out = im.crop((left, top, left + cw, top + ch)).resize((w, h), Image.LANCZOS)
        else:
            out = synthetic_photo(rng, w, h)
        out.save(os.path.join(args.out, f"img_{i:04d}.jpg"), quality=90)
    print(f"{args.count} JPEGs in {args.out} from {len(photos) or 'no'} photos"
          + ("" if photos else " (synthetic images)"), file=sys.stderr)


def run(args):
    import torch
    import torchvision
    from PIL import Image
    from torchvision import transforms
    torch.set_num_threads(1)
    files = sorted(glob.glob(os.path.join(args.images, "*.jpg")))
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.size, scale=(0.2, 1.0), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

    def pil_loader(path):  # torchvision.datasets.folder.pil_loader
        with open(path, "rb") as f:
            img = Image.open(f)
            return img.convert("RGB")

    def draft_loader(path):
        with open(path, "rb") as f:
            img = Image.open(f)
            img.draft("RGB", (args.size, args.size))
            return img.convert("RGB")

    def timed(fn):  # wall and CPU seconds (CPU time is robust to other work on a shared machine)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(args.count):
            fn(files[i % len(files)])
        return time.perf_counter() - wall, time.process_time() - cpu

    class Photos(torch.utils.data.Dataset):  # ImageFolder's __getitem__ without the labels
        def __len__(self):
            return args.count

        def __getitem__(self, i):
            return transform(pil_loader(files[i % len(files)])), 0

    def timed_dataloader():
        """torch's DataLoader, one worker process per core, batches of 64: CPU seconds of the main
        process and of the workers (counted once they have exited)."""
        import resource
        children = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
        wall, cpu, child = time.perf_counter(), time.process_time(), children()
        loader = torch.utils.data.DataLoader(Photos(), batch_size=64, shuffle=True, num_workers=args.workers)
        for _ in loader:
            pass
        del loader
        return time.perf_counter() - wall, time.process_time() - cpu + children() - child

    for f in files[:200]:  # warm-up: page cache, PIL plug-ins
        transform(pil_loader(f))
    rows = [("torchvision", timed(lambda p: transform(pil_loader(p)))),
            ("pil_decode_only", timed(pil_loader)),
            ("pil_decode_draft", timed(draft_loader)),
            ("torchvision_dataloader", timed_dataloader())]
    if args.header:
        print(f"# reference: Python {platform.python_version()}, torch {torch.__version__}, torchvision "
              f"{torchvision.__version__}, Pillow {Image.__version__}, 1 thread")
        print("pipeline,crop_decode,threads,images,wall_s,cpu_s,images_per_s_per_core,ratio_vs_torchvision")
    reference = args.count / rows[0][1][1]
    for name, (wall, cpu) in rows:
        ips = args.count / cpu
        threads = args.workers if name.endswith("dataloader") else 1
        print(f"{name},off,{threads},{args.count},{wall:.3f},{cpu:.3f},{ips:.1f},{ips / reference:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-images")
    make.add_argument("--out", required=True)
    make.add_argument("--count", type=int, default=240)
    make.add_argument("--photos", nargs="*", default=["/usr/share/backgrounds", "/usr/share/wallpapers",
                                                      "/usr/share/images/desktop-base"])
    bench = sub.add_parser("run")
    bench.add_argument("--images", required=True)
    bench.add_argument("--count", type=int, default=2000)
    bench.add_argument("--size", type=int, default=224)
    bench.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader worker processes")
    bench.add_argument("--no-header", dest="header", action="store_false")
    args = parser.parse_args()
    make_images(args) if args.command == "make-images" else run(args)


if __name__ == "__main__":
    main()
