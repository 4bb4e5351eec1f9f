"""A small ext4 filesystem in a loop-mounted file, for fault tests: fill it, turn it read-only,
or cut its power (root only; CI runs as root)."""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.utils import need

# ext4's "going down" ioctl (the one xfstests' godown uses): _IOR('X', 125, __u32). With
# NOLOGFLUSH the filesystem stops at once, flushing neither its journal nor dirty pages: what
# was not fsynced is gone, as after a power cut.
EXT4_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 0x2


@dataclass
class LoopFs:
    image: Path
    mnt: Path

    def mount(self) -> None:
        # A loop device of its own every time: `mount -o loop` would reuse the device of a failed
        # mount that is still held open, and with it the failed (read-only) filesystem.
        device = subprocess.run(
            ["losetup", "-f", "--show", str(self.image)], capture_output=True, text=True, check=True
        ).stdout.strip()
        subprocess.run(["mount", "-o", "errors=remount-ro", device, str(self.mnt)], check=True)

    @property
    def device(self) -> str:
        out = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.mnt)], capture_output=True, text=True)
        return out.stdout.strip().splitlines()[-1]

    def fill(self) -> Path:
        """Write a file until the filesystem is full."""
        filler = self.mnt / "filler"
        with filler.open("wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError:
                pass
        return filler

    def fail_read_only(self) -> None:
        """An ext4 error with errors=remount-ro: the kernel turns the filesystem read-only at once,
        as it would after a failing disk or a corrupt block."""
        name = Path(self.device).name
        Path(f"/sys/fs/ext4/{name}/trigger_fs_error").write_text("1")

    def cut_power(self) -> None:
        """Stop the filesystem without flushing anything (its users see EIO from now on)."""
        fd = os.open(self.mnt, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)

    def power_on(self) -> None:
        """After a power cut: detach the dead filesystem, mount the image again (the journal is
        replayed, as at boot)."""
        subprocess.run(["umount", str(self.mnt)], check=True)
        self.mount()

    def remount_repaired(self) -> None:
        """What an operator does: detach the failed filesystem, check it, mount it again."""
        subprocess.run(["umount", "-l", str(self.mnt)], check=True)
        fsck = subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True, text=True)
        assert fsck.returncode < 4, fsck.stdout + fsck.stderr  # 0-3: clean or corrected
        self.mount()


@contextmanager
def loop_filesystem(image: Path, mnt: Path, size: str) -> Iterator[LoopFs]:
    """A fresh ext4 of `size` (sparse) mounted at `mnt`; unmounted and detached on the way out."""
    need(os.geteuid() == 0, "mounting a loop filesystem needs root")
    need(all(shutil.which(t) for t in ("mkfs.ext4", "losetup", "e2fsck", "findmnt")), "needs e2fsprogs, util-linux")
    fs = LoopFs(image, mnt)
    fs.mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["truncate", "-s", size, str(fs.image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(fs.image)], check=True)
    fs.mount()
    try:
        yield fs
    finally:
        while subprocess.run(["umount", "-l", str(fs.mnt)], capture_output=True).returncode == 0:
            pass  # every stacked mount
        loops = subprocess.run(["losetup", "-j", str(fs.image)], capture_output=True, text=True).stdout
        for line in loops.splitlines():
            subprocess.run(["losetup", "-d", line.split(":")[0]], check=False)
