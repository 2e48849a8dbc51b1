"""The ClickTime API emulator: the embedded sandbox backend and the test double for the others."""
