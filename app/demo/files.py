"""The stand-in's files, kept on disk between demo runs.

The stand-in keeps uploaded files in memory, as Telegram keeps them on its servers. The
demo's database remembers their `file_id`s (avatars, application photos, proof photos), so
a second run must find the same ids again: `FileVault` writes every file of the bot's
world to the demo folder (an index and one blob per file) and puts them back at start.

Restored files get paths of their own (`kept/<unique id>.<ext>`): the stand-in numbers the
paths of new uploads from 1 again in every run, and the two must not collide.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from bots.telegram.standin.world import BotWorld, StoredFile

log = logging.getLogger(__name__)

INDEX = "index.json"


class FileVault:
    """A folder holding one bot's files: `index.json` plus `<file_unique_id>.bin` each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._saved: set[str] = set()

    def restore(self, world: BotWorld) -> int:
        """Put the kept files back into `world`; returns how many."""
        index = self._read_index()
        restored = 0
        for file_id, entry in index.items():
            blob = self.folder / f"{entry['file_unique_id']}.bin"
            try:
                data = blob.read_bytes()
            except FileNotFoundError:
                log.warning("demo file %s is missing its data; skipped", file_id)
                continue
            extension = str(entry["file_path"]).rsplit(".", 1)[-1]
            stored = StoredFile(
                file_id=file_id,
                file_unique_id=entry["file_unique_id"],
                kind=entry["kind"],
                data=data,
                file_path=f"kept/{entry['file_unique_id']}.{extension}",
                mime_type=entry["mime_type"],
                file_name=entry.get("file_name"),
            )
            world.files[file_id] = stored
            world.files_by_path[stored.file_path] = stored
            self._saved.add(file_id)
            restored += 1
        return restored

    def save(self, world: BotWorld) -> int:
        """Write the files not written yet; returns how many were new."""
        new = [f for f in list(world.files.values()) if f.file_id not in self._saved]
        if not new:
            return 0
        self.folder.mkdir(parents=True, exist_ok=True)
        index = self._read_index()
        for stored in new:
            (self.folder / f"{stored.file_unique_id}.bin").write_bytes(stored.data)
            index[stored.file_id] = {
                "file_unique_id": stored.file_unique_id,
                "kind": stored.kind,
                "file_path": stored.file_path,
                "mime_type": stored.mime_type,
                "file_name": stored.file_name,
            }
        # Write the index last and atomically: a run killed halfway leaves the old index,
        # which names only blobs that exist.
        partial = self.folder / f"{INDEX}.partial"
        partial.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.folder / INDEX)
        self._saved.update(f.file_id for f in new)
        return len(new)

    def _read_index(self) -> dict[str, Any]:
        try:
            loaded = json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("demo file index %s is damaged; starting without kept files",
                        self.folder / INDEX)
            return {}
        return loaded if isinstance(loaded, dict) else {}
