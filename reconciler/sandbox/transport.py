"""The sandbox transport: in-process calls into the emulator, no network."""

from __future__ import annotations

from reconciler.clicktime.transport import Request, Response
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.styles import DEFAULT_STYLE, ResponseStyle, handle, styled

# What absolute links start with in-process: the real API root, as ClickTime would write it.
SANDBOX_BASE_URL = "https://api.clicktime.com/v2"


class SandboxTransport:
    """In-process calls into the emulator: no network, same requests and responses, answered in
    `style` (reconciler.sandbox.styles) when one is given."""

    def __init__(self, emulator: Emulator, style: ResponseStyle = DEFAULT_STYLE,
                 base_url: str = SANDBOX_BASE_URL) -> None:
        self.emulator = emulator
        self.style = style
        self.base_url = base_url
        self._styled = not style.is_default

    def send(self, request: Request) -> Response:
        if not self._styled:
            return self.emulator.handle(request)
        return styled(self.style, lambda r: handle(self.style, self.emulator, r), request, self.base_url)

    def close(self) -> None:
        self.emulator.close()
