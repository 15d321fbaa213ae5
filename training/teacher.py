"""The training-time teacher: IS-Net (DIS) as ONNX, for photos that have no human mask.

The teacher file is given by the operator (README: Training the bundled model says where it comes from and under
which licence). It is used here only, to write pseudo-label masks into a dataset folder before training; the service
never loads it and nothing fetches it. Its preprocessing is the one it was exported with: RGB resized to
1024 x 1024 (bilinear, aspect not kept), each channel (v - 128) / 256, input `input`; output `output` is already a
probability.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from postprocess.confidence import has_subject, undecided_share
from training.dataset import DatasetIndex, read_index, write_index
from training.images import load_image, load_mask, save_mask

TEACHER_SIZE = 1024
MAX_UNDECIDED = 0.04  # teacher masks with more of their subject undecided are not taught
INPUT, OUTPUT = "input", "output"


class Teacher:
    """An IS-Net ONNX session on the CPU."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        if not Path(path).is_file():
            raise FileNotFoundError(f"no teacher model at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        if INPUT not in {node.name for node in self.session.get_inputs()}:
            raise ValueError(f"{path} has no input named {INPUT!r}: not the IS-Net export this expects")

    def alpha(self, rgb: np.ndarray) -> np.ndarray:
        """The teacher's soft mask (float32, 0-1) at the image's own size."""
        height, width = rgb.shape[:2]
        square = cv2.resize(rgb, (TEACHER_SIZE, TEACHER_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        batch = ((square - 128.0) / 256.0).transpose(2, 0, 1)[None]
        (output,) = self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(batch)})
        return np.clip(cv2.resize(output[0, 0], (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def clear_subject(mask: np.ndarray) -> bool:
    """Whether a teacher mask shows a clear subject: one of some size, at most MAX_UNDECIDED of it undecided."""
    return has_subject(mask) and undecided_share(mask) <= MAX_UNDECIDED


def keep_clear_subjects(root: Path) -> int:
    """Drop the items whose teacher mask shows no clear subject (a shelf of fruit, a blurred aisle) from the dataset
    folder's index, recording them as rejected with their undecided share: taught as they are, such labels would train the
    model to cut out nothing. Returns how many are kept."""
    index = read_index(root)
    kept, rejected = [], list(index.rejected)
    for item in index.items:
        mask = load_mask(root / item.mask)
        if clear_subject(mask):
            kept.append(item)
        else:
            rejected.append({"id": item.id, "reason": f"teacher mask undecided share {undecided_share(mask):.3f}"})
    write_index(root, DatasetIndex(kept, index.source, rejected))
    return len(kept)


def label_missing(root: Path, teacher: Teacher) -> int:
    """Write the teacher's mask for every item of the dataset folder that has none yet; returns how many."""
    missing = [item for item in read_index(root).items if not (root / item.mask).is_file()]
    for item in tqdm(missing, desc=f"teacher -> {root.name}", unit="photo"):
        save_mask(root / item.mask, teacher.alpha(load_image(root / item.image).rgb))
    return len(missing)
