"""Where model files come from: a local file or folder, an https URL, or a Hugging Face repo id."""

from __future__ import annotations

import hashlib
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from runners.store import StoreError, store_home

HF_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_PATTERNS = ["*.onnx", "*.safetensors", "*.pth", "*.bin", "*.json", "*.py"]
CHUNK = 1 << 20


class SourceError(StoreError):
    """A model source that cannot be read or fetched, with a message meant for the operator."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(source: str, expected_sha256: str | None = None) -> Path:
    """Turn SOURCE into a local file or folder, downloading it when it is a URL or a repo id."""
    local = Path(source).expanduser()
    if local.exists():
        path = local.resolve()
    elif source.startswith("https://"):
        path = download(source)
    elif source.startswith("http://"):
        raise SourceError("plain http:// is refused for model downloads; use https://")
    elif HF_REPO_ID.match(source):
        path = snapshot(source)
    else:
        raise SourceError(f"{source!r} is not an existing file or folder, an https:// URL, or a Hugging Face repo id")
    if expected_sha256 and path.is_file() and sha256_of(path) != expected_sha256.lower():
        raise SourceError(f"checksum mismatch for {source}: expected sha256 {expected_sha256}")
    return path


def download(url: str, timeout_s: float = 30.0) -> Path:
    """Download URL into the store's download cache with a progress bar; the file appears only when complete."""
    target_dir = store_home() / "cutout" / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:16]
    name = Path(urllib.request.urlparse(url).path).name or "model.onnx"
    target = target_dir / name
    if target.exists():
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                tempfile.NamedTemporaryFile(dir=target_dir, delete=False) as partial,
                tqdm(total=total, unit="B", unit_scale=True, desc=name) as progress,
            ):
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    partial.write(chunk)
                    progress.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SourceError(
            f"cannot download {url}: {exc}. Without network access, download the file elsewhere "
            "and run `cutout models import /path/to/file`."
        ) from exc
    Path(partial.name).rename(target)
    return target


def snapshot(repo_id: str) -> Path:
    """Fetch the weight files of a Hugging Face repo (or use the local HF cache when offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=WEIGHT_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise SourceError(
            f"cannot fetch Hugging Face repo {repo_id!r}: {exc}. Without network access, copy a snapshot "
            "folder (or the .onnx/.pth file) here and import that path."
        ) from exc
