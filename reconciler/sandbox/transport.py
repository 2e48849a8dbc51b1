"""The sandbox transport: in-process calls into the emulator, no network."""

from __future__ import annotations

from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.emulator import Emulator


class SandboxTransport:
    """In-process calls into the emulator: no network, same requests and responses."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def send(self, request: Request) -> Response:
        return self.emulator.handle(request)

    def close(self) -> None:
        self.emulator.close()
