"""The main window's panels, one per view-model: devices, voices, sound, live, virtual microphone."""
