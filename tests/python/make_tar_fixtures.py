"""Writes the tar fixtures of the tar reader's tests (tests/fixtures/wds/) and its fuzz seeds (fuzz/corpus/tar/).

Run: python3 tests/python/make_tar_fixtures.py   (the standard library only; deterministic: mtime 0)

Files (each member's content is its own name as bytes, unless said):
  ustar.tar       USTAR: a.txt, dir/ (directory), dir/b.bin (513 bytes of i % 251), a symlink link -> a.txt,
                  and a name of 130 bytes split into ustar prefix/name ("p" * 60 + "/" + "n" * 69)
  gnu.tar         GNU: a 150-byte name (GNU long name 'L' record) and a 9-byte file "short.txt"
  pax.tar         PAX: a 200-byte name and a non-ASCII name "ü/ß.txt" (pax path records)
  samples.tar     webdataset layout: 000.cls "3", 000.json {"label": 5}, 000.txt, 001.json {"label": 7},
                  a member without extension "README", 002.cls "1"
"""
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "wds")
CORPUS = os.path.join(HERE, "..", "..", "fuzz", "corpus", "tar")


def add(tar, name, data=None, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.type = kind
    info.linkname = link
    if data is None:
        data = name.encode()
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def write(name, fmt, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m in members:
            add(tar, *m)
    data = buf.getvalue()
    for folder in (FIXTURES, CORPUS):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def main():
    write("ustar.tar", tarfile.USTAR_FORMAT, [
        ("a.txt",),
        ("dir", None, tarfile.DIRTYPE),
        ("dir/b.bin", bytes(i % 251 for i in range(513))),
        ("link", None, tarfile.SYMTYPE, "a.txt"),
        ("p" * 60 + "/" + "n" * 69,),
    ])
    write("gnu.tar", tarfile.GNU_FORMAT, [("g" * 146 + ".txt",), ("short.txt",)])
    write("pax.tar", tarfile.PAX_FORMAT, [("x" * 196 + ".txt",), ("ü/ß.txt",)])
    write("samples.tar", tarfile.USTAR_FORMAT, [
        ("000.cls", b"3"), ("000.json", b'{"label": 5}'), ("000.txt", b"hello"),
        ("001.json", b'{"label": 7}'), ("README", b"not a sample"), ("002.cls", b"1\n"),
    ])


if __name__ == "__main__":
    main()
