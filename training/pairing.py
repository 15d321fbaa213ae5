"""Match studio originals to their processed versions: by drifted file names first, by image content second.

Names are reduced to a key (lower case, separators and edit suffixes dropped); equal keys match outright and
near keys by string similarity, unless their SKU-like tokens disagree. Files whose names match nothing are
matched by the object's perceptual fingerprint when the best candidate is clearly better than the next one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.fingerprint import Fingerprint, fingerprint_file, similarity_matrix
from training.images import list_images

NOISE_TOKENS = frozenset({
    "edit", "edited", "final", "photoroom", "processed", "cutout", "copy", "web", "retouched", "retouch", "output",
    "result", "clean", "nobg", "removebg", "bg", "white", "export", "hires", "lowres", "done", "new", "proc",
})
VERSION = re.compile(r"v\d{1,2}")
SKU = re.compile(r"(?=.*[a-z])(?=.*\d)[a-z\d]{2,}|\d{4,}")
COUNTER = re.compile(r"\d{1,2}")
TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
SAME_BASE_SCORE = 0.95
SKU_CONFLICT = 0.5
NAME_WEIGHT = 0.6


@dataclass(frozen=True)
class NameKey:
    """A file name reduced for matching: all tokens joined, the same without a trailing counter, SKU tokens."""

    key: str
    base: str
    skus: frozenset[str]


@dataclass
class Pair:
    """One original and its processed version (paths relative to their roots) with the evidence."""

    original: str
    processed: str
    method: str
    name_score: float
    content_score: float | None
    confidence: float
    product: str
    category: str


@dataclass
class Manifest:
    """The result of pairing two folders; written as JSON for `cutout train prepare`."""

    originals_root: str
    processed_root: str
    pairs: list[Pair] = field(default_factory=list)
    unmatched_originals: list[str] = field(default_factory=list)
    unmatched_processed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def name_key(path: Path) -> NameKey:
    """Tokens of the file stem with edit/version suffixes removed."""
    tokens = [t for t in TOKEN_SPLIT.split(path.stem.lower()) if t and t not in NOISE_TOKENS and not VERSION.fullmatch(t)]
    base_tokens = tokens[:-1] if len(tokens) > 1 and COUNTER.fullmatch(tokens[-1]) else tokens
    return NameKey("".join(tokens), "".join(base_tokens), frozenset(t for t in tokens if SKU.fullmatch(t)))


def name_score(a: NameKey, b: NameKey) -> float:
    """1 for equal keys, 0.95 for equal keys up to a counter, else string similarity (halved on SKU conflict)."""
    if a.key == b.key:
        return 1.0
    if a.base == b.base and a.base:
        return SAME_BASE_SCORE
    score = SequenceMatcher(None, a.key, b.key).ratio()
    if a.skus and b.skus and not a.skus & b.skus:
        score *= SKU_CONFLICT
    return score


def _candidates(originals: list[NameKey], processed: list[NameKey], min_score: float) -> list[tuple[float, int, int]]:
    """(score, i, j) for name pairs worth considering; only pairs sharing a token-trigram are scored."""
    index: dict[str, set[int]] = {}
    for j, key in enumerate(processed):
        for gram in {key.key[k : k + 3] for k in range(max(1, len(key.key) - 2))}:
            index.setdefault(gram, set()).add(j)
    found = []
    for i, key in enumerate(originals):
        grams = {key.key[k : k + 3] for k in range(max(1, len(key.key) - 2))}
        for j in set().union(*(index.get(g, set()) for g in grams)):
            score = name_score(key, processed[j])
            if score >= min_score:
                found.append((score, i, j))
    return found


def _category(path: Path) -> str:
    """The first folder below the originals root, if any (e.g. originals/lenses/x.jpg -> 'lenses')."""
    return path.parts[0] if len(path.parts) > 1 else ""


def _fingerprints(paths: list[Path], desc: str, unreadable: list[str]) -> list[Fingerprint | None]:
    """Fingerprint every file, noting the unreadable ones."""
    prints: list[Fingerprint | None] = []
    for path in tqdm(paths, desc=desc, unit="img", leave=False):
        try:
            prints.append(fingerprint_file(path))
        except (ValueError, OSError):
            prints.append(None)
            unreadable.append(str(path))
    return prints


def _content_scores(rows: list[Fingerprint | None], cols: list[Fingerprint | None]) -> np.ndarray:
    """Similarity matrix with unreadable files scoring zero."""
    scores = np.zeros((len(rows), len(cols)), np.float32)
    ri = [i for i, f in enumerate(rows) if f is not None]
    ci = [j for j, f in enumerate(cols) if f is not None]
    if ri and ci:
        scores[np.ix_(ri, ci)] = similarity_matrix([rows[i] for i in ri], [cols[j] for j in ci])
    return scores


def pair_folders(
    originals_root: Path,
    processed_root: Path,
    use_content: bool = True,
    min_name_score: float = 0.75,
    min_content_score: float = 0.8,
    content_margin: float = 0.05,
) -> Manifest:
    """Pair the images below two folders one-to-one and list what stays unmatched."""
    originals, processed = list_images(originals_root), list_images(processed_root)
    manifest = Manifest(str(originals_root.resolve()), str(processed_root.resolve()))
    okeys, pkeys = [name_key(p) for p in originals], [name_key(p) for p in processed]
    content = None
    if use_content:
        oprints = _fingerprints(originals, "fingerprint originals", manifest.unreadable)
        pprints = _fingerprints(processed, "fingerprint processed", manifest.unreadable)
        content = _content_scores(oprints, pprints)
    taken_o: set[int] = set()
    taken_p: set[int] = set()

    def add(i: int, j: int, method: str, name: float, confidence: float) -> None:
        taken_o.add(i)
        taken_p.add(j)
        orel, prel = originals[i].relative_to(originals_root), processed[j].relative_to(processed_root)
        manifest.pairs.append(Pair(
            str(orel), str(prel), method, round(float(name), 4),
            None if content is None else round(float(content[i, j]), 4), round(float(confidence), 4),
            okeys[i].base or okeys[i].key, _category(orel),
        ))

    for score, i, j in sorted(_candidates(okeys, pkeys, min_name_score), key=lambda c: (-c[0], c[1], c[2])):
        if i in taken_o or j in taken_p:
            continue
        confidence = score if content is None else NAME_WEIGHT * score + (1 - NAME_WEIGHT) * float(content[i, j])
        add(i, j, "name", score, confidence)
    if content is not None:
        _pair_by_content(content, taken_o, taken_p, min_content_score, content_margin, add)
    manifest.unmatched_originals = [str(originals[i].relative_to(originals_root))
                                    for i in range(len(originals)) if i not in taken_o]
    manifest.unmatched_processed = [str(processed[j].relative_to(processed_root))
                                    for j in range(len(processed)) if j not in taken_p]
    manifest.pairs.sort(key=lambda p: p.original)
    return manifest


def _pair_by_content(content: np.ndarray, taken_o: set[int], taken_p: set[int], min_score: float, margin: float,
                     add) -> None:
    """Greedily pair leftovers whose fingerprints agree best with each other, by a margin over the runner-up."""
    rows = [i for i in range(content.shape[0]) if i not in taken_o]
    cols = [j for j in range(content.shape[1]) if j not in taken_p]
    if not rows or not cols:
        return
    scores = content[np.ix_(rows, cols)].copy()
    while scores.size and scores.max() >= min_score:
        r, c = np.unravel_index(int(np.argmax(scores)), scores.shape)
        best = float(scores[r, c])
        runner_up = float(max(np.partition(scores[r], -2)[-2] if scores.shape[1] > 1 else 0.0,
                              np.partition(scores[:, c], -2)[-2] if scores.shape[0] > 1 else 0.0))
        if best - runner_up >= margin:
            add(rows[r], cols[c], "content", 0.0, best * min(1.0, (best - runner_up) / (2 * margin)))
        scores[r, :] = -1.0
        scores[:, c] = -1.0


def write_manifest(manifest: Manifest, path: Path) -> Path:
    """Write the manifest as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(manifest), indent=2))
    return path


def read_manifest(path: Path) -> Manifest:
    """Read a manifest written by write_manifest."""
    data = json.loads(path.read_text())
    data["pairs"] = [Pair(**pair) for pair in data["pairs"]]
    return Manifest(**data)
