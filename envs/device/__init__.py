"""The Device env: a phone simulated in headless Chromium, the AitW action space, an adb backend."""
