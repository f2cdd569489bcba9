"""Which configuration a replay uses: the one given, or the example that fits the export's format.

A replay of an NYC 311 export with the default configuration would route every request to the
consumer-finance departments; airline tweets would group improvement records per reason across all
airlines. So when neither ``--config`` nor ``CLOSELOOP_CONFIG`` names one, the format picks
(:data:`BY_FORMAT`), and the CLI's first output line says which configuration was used and why.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from closeloop.config import DEFAULT_CONFIG_NAME, Config, load_config, parse_config
from integrations.exports import detect_profile

ROOT = Path(__file__).resolve().parents[1]
# format -> (example configuration file, or None for the default; TOML appended to the default)
BY_FORMAT: dict[str, tuple[Path | None, str]] = {
    "nyc311": (ROOT / "examples" / "nyc311.toml", ""),
    # one record per airline x reason: the complaint's company (the airline) and category (the reason)
    "airline-tweets": (None, '\n[improvement]\nmatch_on = ["company", "category"]\n'),
}


@dataclass(frozen=True)
class Chosen:
    """The configuration of a replay and the sentence saying where it came from."""

    config: Config
    why: str


def detect_format(path: Path, fmt: str, encoding: str = "utf-8") -> str:
    """The export format of ``path``: ``fmt`` unless it is ``auto``, else told from the header decoded as
    ``encoding`` (``jsonl`` for ``.jsonl``/``.ndjson``); ``auto`` when it cannot be told (reading reports that)."""

    if fmt != "auto":
        return fmt
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        with open(path, newline="", encoding="utf-8-sig" if codecs.lookup(encoding).name == "utf-8"
                  else encoding) as fh:
            header = [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeError, LookupError):
        return "auto"
    profile = detect_profile(header)
    return profile.name if profile else "auto"


def _shown(path: Path) -> Path:
    """``path`` as the CLI shows it: relative to the checkout when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def import_hint(path: Path, fmt: str, encoding: str = "utf-8") -> str | None:
    """For ``closeloop import`` run without a configuration (no ``--config``, no ``CLOSELOOP_CONFIG``): a note
    when ``path``'s format is one a replay would not route with the bundled default (:data:`BY_FORMAT`),
    saying what the replay picks instead; None for other formats. Import never switches configuration by
    itself: its departments are written into the database the installation keeps. The format is told from the
    file's header: a ``fmt`` the file does not have gets no note (the import refuses the file, naming what it
    lacks)."""
    name = detect_format(path, "auto", encoding)
    if fmt not in ("auto", name):
        return None
    picked = BY_FORMAT.get(name)
    if picked is None:
        return None
    example, extra = picked
    if example is not None:
        rel = _shown(example)
        return (f"{path.name} is a {name} export, routed with the bundled default configuration (its departments "
                f"are not this export's); `closeloop replay` would use {rel}: pass --config {rel} to import with it")
    return (f"{path.name} is a {name} export; `closeloop replay` adds to the default configuration: "
            f"{extra.strip().replace(chr(10), ' ')} (put it in your configuration file to import the same way)")


def choose(paths: list[Path], fmt: str, explicit: str | Path | None, encoding: str = "utf-8") -> Chosen:
    """The configuration for replaying ``paths`` (decoded as ``encoding``): ``explicit`` when given
    (``--config`` or ``CLOSELOOP_CONFIG``), else the example of the files' format, else the bundled default.

    Raises :class:`closeloop.config.ConfigError` for an unreadable or invalid file.
    """
    if explicit:
        return Chosen(load_config(explicit), f"configuration: {explicit} (given)")
    formats = {detect_format(Path(p), fmt, encoding) for p in paths}
    picked = BY_FORMAT.get(formats.pop()) if len(formats) == 1 else None
    fmt_name = detect_format(Path(paths[0]), fmt, encoding)
    if picked is None:
        return Chosen(load_config(None), f"configuration: closeloop/config/{DEFAULT_CONFIG_NAME} (the default; "
                                         "--config to choose another)")
    path, extra = picked
    if path is not None:
        rel = _shown(path)
        return Chosen(load_config(path), f"configuration: {rel} (picked for format {fmt_name}; "
                                         "--config to choose another)")

    text = resources.files("closeloop.config").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8") + extra
    source = f"closeloop/config/{DEFAULT_CONFIG_NAME} + {extra.strip().replace(chr(10), ' ')}"
    return Chosen(parse_config(text, source), f"configuration: {source} (picked for format {fmt_name}; "
                                              "--config to choose another)")
