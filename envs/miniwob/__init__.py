"""MiniWoB++'s bundled HTML tasks in headless Chromium with the AitW action space."""
