"""Entry point frozen by PyInstaller: the desktop app, nothing else."""

from app.main import main

raise SystemExit(main())
