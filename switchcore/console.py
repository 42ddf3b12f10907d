"""The foreground console: a prompt that runs any API command, with history (FreeSWITCH's `freeswitch -c`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

if TYPE_CHECKING:
    from .core import Switch


class Console:
    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        history = Path(switch.data_dir) / ".console_history"
        self.prompt: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)),
            completer=WordCompleter(lambda: sorted(switch.registry.apis), sentence=True),
        )

    async def run(self, done: asyncio.Event) -> None:
        with patch_stdout(raw=True):
            while not done.is_set():
                try:
                    line = await self.prompt.prompt_async("switchcore@127.0.0.1> ")
                except (EOFError, KeyboardInterrupt):
                    done.set()
                    return
                line = line.strip()
                if not line:
                    continue
                if line in ("/exit", "/quit", "/bye", "...", "shutdown"):
                    done.set()
                    return
                print(await self.switch.api(line), end="", flush=True)
